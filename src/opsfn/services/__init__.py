"""What routes share: AWS clients, locks, audit records, idempotency, alerts, AWS error mapping."""
