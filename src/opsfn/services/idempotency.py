"""Run an incident action at most once per ``(incidentId, action)`` with Powertools idempotency.

The incident backend invokes asynchronously, so Lambda retries and duplicated deliveries are normal.
The first completed result is stored in IDEMPOTENCY_TABLE (key ``id``, TTL ``expiration``) and
replayed; a duplicate that arrives while the first is still running finds the INPROGRESS record
and gets :class:`Conflict` (retryable: the async retry later receives the stored result). A failed
action leaves no record, so its retry acts again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsfn.core.invocation import Invocation
from opsfn.errors import Conflict, UpstreamError, ValidationFailed
from opsfn.services import aws
from opsfn.services.aws_errors import error_code
from opsfn.services.settings import SharedSettings

KEY_PREFIX = "opsfn.incident"


class _Remaining:
    """The one method Powertools needs from a Lambda context, backed by opsfn's Context."""

    def __init__(self, context: Invocation) -> None:
        self._context = context

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._context.remaining_ms())


def _store_error(exc: BaseException) -> UpstreamError:
    cause = exc.__cause__ or (exc.args[1] if len(exc.args) > 1 else None)
    code = error_code(cause) or type(cause).__name__
    return UpstreamError(f"idempotency store failed: {code}")


def run_once(action: str, incident_id: str, target: str, context: Invocation,
             work: Callable[[], dict[str, Any]], *, expires_after_s: int) -> dict[str, Any]:
    """``work()`` once per (incident, action); duplicates get the first result back."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    layer = DynamoDBPersistenceLayer(table_name=SharedSettings.current().required("IDEMPOTENCY_TABLE"),
                                     key_attr="id", expiry_attr="expiration",
                                     boto3_client=aws.client("dynamodb"))
    config = IdempotencyConfig(
        event_key_jmespath="[incidentId, action]",
        payload_validation_jmespath="target",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_s,
        lambda_context=_Remaining(context),  # type: ignore[arg-type]
    )

    def incident_action(request: dict[str, str]) -> dict[str, Any]:
        return work()

    once = idempotent_function(incident_action, data_keyword_argument="request",
                               persistence_store=layer, config=config, key_prefix=KEY_PREFIX)
    try:
        result = once(request={"incidentId": incident_id, "action": action, "target": target})
    except IdempotencyAlreadyInProgressError:
        raise Conflict(f"{action} for this incident is already in progress") from None
    except IdempotencyValidationError:
        raise ValidationFailed(
            f"{action} already ran for this incident on a different target",
            details=[{"loc": "payload.target", "msg": "differs from the first request of this "
                      "incident and action", "type": "idempotency_mismatch"}],
        ) from None
    except IdempotencyPersistenceLayerError as exc:
        raise _store_error(exc) from None
    return result  # type: ignore[no-any-return]
