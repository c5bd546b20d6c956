"""The active SES receipt rule set: ``Custom::ActiveReceiptRuleSet`` and ``activate_receipt_rule_set``.

SES keeps one active rule set per region and has no tags on rule sets, so the custom resource
remembers the set that was active before it in its physical id:
``ses-active-rule-set:<name>:<previous>`` (``<previous>`` empty when none was active; equal to
``<name>`` when the set was already active, which makes a Delete leave it active). The id is all a
Delete needs. With a lock table the previous set a request saw first is also kept for two days
under the request's id, so a copy of the request delivered again answers the same id. Delete
deactivates only while the active set is still ours, and reactivates the previous set when
``RestorePreviousOnDelete`` is true.

SES allows about one control-plane call per second; throttled calls are retried with a backoff that
starts at one second.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from opsfn import Context, Router
from opsfn.access import ANY, allow
from opsfn.aws_errors import kind_of
from opsfn.errors import NotFound, UpstreamError
from opsfn.events import CustomResourceRequest, CustomResourceResult
from opsfn.routes.ses.settings import SesSettings
from opsfn.services import aws, locks
from opsfn.services.settings import SharedSettings
from opsfn.settings import core_settings

if TYPE_CHECKING:  # the stubs are a development dependency: types only
    from mypy_boto3_ses import SESClient

router = Router()

PREFIX = "ses-active-rule-set"
FIRST_ANSWER_TTL_S = 2 * 86400  # longer than CloudFormation waits and Lambda retries an event
_RULE_SET = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9]$|^[A-Za-z0-9]$"
_sleep: Callable[[float], None] = time.sleep  # replaced in tests to keep them fast
_T = TypeVar("_T")


class RuleSetProps(BaseModel):
    """Properties of ``Custom::ActiveReceiptRuleSet``."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="forbid",
                              defer_build=True)

    rule_set_name: str = Field(pattern=_RULE_SET)
    restore_previous_on_delete: bool = False


class ActivateInput(BaseModel):
    """Payload of ``activate_receipt_rule_set``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    rule_set_name: str = Field(pattern=_RULE_SET)


class ActivateResult(BaseModel):
    """Which set is active now, which one was before, and whether anything changed."""

    model_config = ConfigDict(defer_build=True)

    active: str
    previous: str | None
    changed: bool


@dataclass(frozen=True, slots=True)
class Activation:
    """What a physical id remembers."""

    name: str
    previous: str | None

    def physical_id(self) -> str:
        return f"{PREFIX}:{self.name}:{self.previous or ''}"

    @property
    def was_already_active(self) -> bool:
        return self.previous == self.name


def parse_physical_id(value: str | None) -> Activation | None:
    """The activation a physical id describes, or None for ids this module did not issue."""
    if not value:
        return None
    parts = value.split(":")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1]:
        return None
    return Activation(parts[1], parts[2] or None)


# -- SES calls with throttling retries -----------------------------------------------------------
def ses_call(operation: str, call: Callable[[SESClient], _T], context: Context | None = None) -> _T:
    """Run ``call`` on the SES client, retrying throttling with 1, 2, 4, 8 s pauses in the time left.

    ``call`` makes the one SES ``operation`` (named in errors) on the typed client it is given.
    """
    from botocore.exceptions import ClientError

    attempts = SesSettings.current().ses_throttle_attempts
    ses = aws.client("ses")
    for attempt in range(attempts):
        try:
            return call(ses)
        except ClientError as exc:
            if kind_of(exc) != "throttled":
                raise
            pause = min(2.0**attempt, 8.0)
            time_left = context.remaining_ms() / 1000 if context is not None else float("inf")
            if attempt + 1 >= attempts or time_left < pause + 2:
                raise UpstreamError(f"SES {operation} throttled; gave up after {attempt + 1} "
                                    "attempt(s)") from None
            _sleep(pause)
    raise UpstreamError(f"SES {operation} throttled")  # pragma: no cover - loop always returns


def active_rule_set(context: Context | None = None) -> str | None:
    """The name of the active receipt rule set, or None."""
    reply = ses_call("describe_active_receipt_rule_set",
                     lambda ses: ses.describe_active_receipt_rule_set(), context)
    metadata = reply.get("Metadata") or {}
    name = metadata.get("Name")
    return str(name) if name else None


def _missing(name: str) -> NotFound:
    region = core_settings().region or "this region"
    return NotFound(f"receipt rule set {name} does not exist in {region}")


def activate(name: str, context: Context | None = None) -> None:
    """Make ``name`` the active set; NotFound with a clear reason when it does not exist."""
    from botocore.exceptions import ClientError

    try:  # SetActiveReceiptRuleSet itself reports a missing set: no extra call against 1/s
        ses_call("set_active_receipt_rule_set",
                 lambda ses: ses.set_active_receipt_rule_set(RuleSetName=name), context)
    except ClientError as exc:
        if kind_of(exc) == "not_found":  # RuleSetDoesNotExist
            raise _missing(name) from None
        raise


def deactivate_all(context: Context | None = None) -> None:
    """Leave no rule set active (SetActiveReceiptRuleSet without a name)."""
    ses_call("set_active_receipt_rule_set", lambda ses: ses.set_active_receipt_rule_set(), context)


def converge(name: str, previous_activation: Activation | None, context: Context | None = None,
             first_answer: str | None = None) -> tuple[Activation, bool]:
    """Make ``name`` active and say what was active before it (carried over from a prior id).

    ``first_answer`` names a record keeping the previous set this request saw first: a copy of
    the request delivered again (or at once) finds its own set active already, and without the
    record it would answer a different physical id.
    """
    current = active_rule_set(context)
    ours = previous_activation
    # Same set again, or replacing our own set: what to restore is what was there first.
    previous = ours.previous if ours is not None and ours.name in (name, current) else current
    if first_answer is not None:  # stored before activating, so a late copy reads the truth
        previous = locks.remember(first_answer, previous or "", FIRST_ANSWER_TTL_S) or None
    changed = current != name
    if changed:
        activate(name, context)
    return Activation(name, previous), changed


def release(activation: Activation, restore: bool, context: Context | None = None) -> str:
    """Undo an activation if it is still in effect; returns what was done (for the log)."""
    current = active_rule_set(context)
    if current != activation.name:
        return "left alone: another rule set is active now"
    if activation.was_already_active:
        return "left alone: it was active before this resource"
    if restore and activation.previous:
        try:
            activate(activation.previous, context)
            return "restored the previous rule set"
        except NotFound:
            deactivate_all(context)
            return "previous rule set is gone; deactivated"
    deactivate_all(context)
    return "deactivated"


def _first_answer_record(request: CustomResourceRequest) -> str | None:
    """The record id for this request's first answer (None without a lock table)."""
    if not SharedSettings.current().lock_table:
        return None
    digest = hashlib.sha256(
        f"{request.stack_id}|{request.logical_resource_id}|{request.request_id}".encode(
            "utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{PREFIX}:first-answer:{digest}"


# -- routes ---------------------------------------------------------------------------------------
RULE_SETS = [*locks.ACCESS, allow(
    "ses:DescribeActiveReceiptRuleSet", "ses:DescribeReceiptRuleSet", "ses:SetActiveReceiptRuleSet",
    on=ANY, why="SES receipt rule sets have no resource-level permission",
    name="SesReceiptRuleSetsHaveNoResourceLevelPermissions", if_set="SES_RECEIPT_RULE_SET")]


@router.custom_resource("Custom::ActiveReceiptRuleSet", access=RULE_SETS)
def active_receipt_rule_set_resource(props: RuleSetProps, request: CustomResourceRequest,
                                     context: Context) -> CustomResourceResult:
    """Activate on Create/Update (remembering the previous set); undo on Delete while still ours."""
    known = parse_physical_id(request.physical_resource_id)
    if request.request_type == "Delete":
        outcome = release(known, props.restore_previous_on_delete, context) if known else \
            "nothing was activated"
        context.logger.info("receipt rule set released", extra={"outcome": outcome})
        return CustomResourceResult()
    activation, changed = converge(props.rule_set_name,
                                   known if request.request_type == "Update" else None, context,
                                   _first_answer_record(request))
    context.logger.info("receipt rule set active", extra={"changed": changed})
    return CustomResourceResult(
        physical_resource_id=activation.physical_id(),
        data={"RuleSetName": activation.name, "PreviousRuleSetName": activation.previous or ""},
    )


@router.action("activate_receipt_rule_set", access=RULE_SETS,
               description="Make a receipt rule set the active one; replies with the previous one.")
def activate_receipt_rule_set(payload: ActivateInput, context: Context) -> ActivateResult:
    """Direct invoke: activate ``rule_set_name`` (a no-op when it is already active)."""
    activation, changed = converge(payload.rule_set_name, None, context)
    return ActivateResult(active=activation.name, previous=activation.previous, changed=changed)
