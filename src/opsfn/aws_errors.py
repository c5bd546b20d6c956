"""AWS failures as opsfn errors: the one place that reads a botocore error.

Only the service's error code is kept: its message may echo request values (names, keys). Every
route asks here what a code means (:func:`kind_of`), and every AWS failure a route lets escape
becomes its typed error through :func:`from_aws_error`, ``permanent`` by the same table. The SQS
and asynchronous paths act on ``permanent``: a permanent failure goes to the failed-events queue
once instead of being retried (``opsfn.core.dead_letters``).
"""

from __future__ import annotations

from typing import Literal

from opsfn.errors import OpsfnError, UpstreamError

Kind = Literal["throttled", "not_found", "denied", "invalid", "conflict", "condition_failed",
               "other"]

# What each error code means, whichever service answered. Codes not listed are "other":
# retryable (the service's trouble, or one we cannot judge).
CODES: dict[str, Kind] = {
    **dict.fromkeys(("Throttling", "ThrottlingException", "TooManyRequestsException",
                     "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException",
                     "RequestThrottled", "RequestThrottledException", "PriorRequestNotComplete",
                     "LimitExceededException"), "throttled"),
    **dict.fromkeys(("NoSuchKey", "NotFound", "404", "NoSuchEntity",
                     "ResourceNotFoundException", "ResourceNotFound", "NoSuchEntityException",
                     "DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault",
                     "DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault",
                     "ExportTaskNotFoundFault", "EntityNotFoundException",
                     "RuleSetDoesNotExist", "ReplicationGroupNotFoundFault",
                     "ServiceNotFoundException", "ClusterNotFoundException",
                     "InvalidInstanceID.NotFound", "ParameterNotFound"), "not_found"),
    **dict.fromkeys(("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                     "InvalidAccessKeyId", "SignatureDoesNotMatch", "KMSAccessDeniedException",
                     "AuthorizationError", "InvalidClientTokenId"), "denied"),
    **dict.fromkeys(("ValidationException", "ValidationError", "InvalidParameterValue",
                     "InvalidParameterValueException", "InvalidParameterException",
                     "InvalidParameterCombination", "InvalidRequest", "InvalidArgument",
                     "MalformedPolicyDocument", "InvalidS3ObjectException",
                     # a bucket a setting or payload names that does not exist: not the world's
                     # passing trouble, and the same event names it again on a retry
                     "NoSuchBucket",
                     "InvalidImageFormatException", "ImageTooLargeException",
                     "MessageRejected", "InvalidInput"), "invalid"),
    **dict.fromkeys(("ConditionalCheckFailedException", "PreconditionFailed",
                     "TransactionCanceledException"), "condition_failed"),
    **dict.fromkeys(("InvalidDBInstanceState", "InvalidDBInstanceStateFault",
                     "InvalidDBClusterStateFault", "InvalidReplicationGroupState",
                     "ResourceInUseException", "ConflictException", "OperationAborted",
                     "ResourceExistsException", "EntityAlreadyExists",
                     "EntityAlreadyExistsException", "AlreadyExistsException"), "conflict"),
}

# Kinds that describe the request itself: the same event cannot succeed on a retry.
PERMANENT_KINDS = frozenset({"denied", "invalid"})


def error_code(exc: BaseException | None) -> str | None:
    """``Error.Code`` of a ClientError (at most 64 characters), None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code", "Unknown"))[:64]


def kind_of(exc: BaseException | None) -> Kind | None:
    """What an AWS failure means (None when ``exc`` is not one)."""
    code = error_code(exc)
    if code is None:
        return None
    return CODES.get(code, "other")


def is_permanent(code: str) -> bool:
    """Whether an error code describes the request rather than the world."""
    return CODES.get(code, "other") in PERMANENT_KINDS


def from_aws_error(exc: BaseException) -> OpsfnError | None:
    """The typed error for a botocore failure, or None when ``exc`` is not one."""
    code = error_code(exc)
    if code is not None:
        operation = getattr(exc, "operation_name", None)
        error = UpstreamError(f"AWS {operation if isinstance(operation, str) else 'call'} "
                              f"failed: {code}")
        error.permanent = is_permanent(code)
        return error
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return UpstreamError(f"AWS call failed: {type(exc).__name__}")
    return None
