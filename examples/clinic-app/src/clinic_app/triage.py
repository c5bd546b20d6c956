"""Which queue a referral joins and by when it must be seen (pure: no AWS)."""

from __future__ import annotations

from typing import Literal

Urgency = Literal["routine", "soon", "urgent"]
DEPARTMENTS = ("cardiology", "dermatology", "radiology")
_ROUTINE_DAYS = 42
_SOON_DAYS = 14


def due_within_days(urgency: Urgency, urgent_days: int) -> int:
    """Days within which a referral of ``urgency`` must be seen."""
    return {"urgent": urgent_days, "soon": _SOON_DAYS, "routine": _ROUTINE_DAYS}[urgency]


def queue_name(department: str, urgency: Urgency) -> str:
    """The work queue of a department: urgent referrals have a queue of their own."""
    return f"{department}-{'urgent' if urgency == 'urgent' else 'standard'}"
