"""Rotation of a user-variant credential that never fails a delivery: staging labels, a grace period.

A rotation is three steps; each run does the ones that are due, so a crash or a timeout anywhere
is finished by the next run (another rotation request or the hourly ``finish-smtp-rotation``):

1. **Pending.** A new IAM key; its SMTP password becomes the secret's ``AWSPENDING`` version.
   Readers (ECS injecting the secret into a task it starts) still get ``AWSCURRENT``: the old key.
2. **Current.** Once the new key is ``SES_SMTP_KEY_PROPAGATION_SECONDS`` old (IAM is eventually
   consistent), ``AWSCURRENT`` moves to it and the old version becomes ``AWSPREVIOUS``. Every
   container started from then on gets the new password; those already running keep the old one,
   and the old key keeps working.
3. **Retired.** ``SES_SMTP_ROTATION_GRACE_SECONDS`` after step 2 the old key is deleted (in the
   same run when the grace period is 0). The secret's tags record which key retires and when.

So no password is ever handed out before its key works, and no key is deleted while a password
handed out for it may still be in use within the grace period. IAM allows two keys per user, so a
new rotation starts only once the previous one's old key is gone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsfn import Context
from opsfn.errors import Conflict, NotFound, ValidationFailed
from opsfn.routes.ses.settings import SesSettings
from opsfn.routes.ses.smtp.iam import create_key, delete_key, key_ages
from opsfn.routes.ses.smtp.models import RotateInput, RotateResult
from opsfn.routes.ses.smtp.ownership import (
    TAG_REGION,
    TAG_RETIRE_AFTER,
    TAG_RETIRING,
    TAG_ROTATION,
    TAG_USER,
    request_token,
    secret_tags,
)
from opsfn.routes.ses.smtp.provision import credential
from opsfn.routes.ses.smtp.secrets import (
    CURRENT,
    PENDING,
    PREVIOUS,
    SecretState,
    describe_secret,
    discard_pending,
    labelled,
    promote,
    put_pending,
    read_version,
    version_stages,
)
from opsfn.routes.ses.smtp_password import smtp_host
from opsfn.services import aws, locks
from opsfn.services.settings import SharedSettings

# A key the secret does not know and younger than this belongs to a rotation still under way.
IN_FLIGHT_SECONDS = 120.0
ROTATION_LOCK_S = 300  # a rotation is a few IAM and Secrets Manager calls; a crashed one expires
_clock: Callable[[], float] = time.time  # replaced in tests to pass a grace period
_sleep: Callable[[float], None] = time.sleep


@dataclass
class View:
    """The secret's rotation state, read at the start of a run and kept up to date by it."""

    state: SecretState
    user: str
    region: str
    port: int
    current_id: str
    current_key: str
    pending_id: str | None
    pending_key: str | None
    retiring_key: str | None
    retire_after: float | None

    def result(self, *, rotated: bool, deleted: bool, orphans: int) -> RotateResult:
        retires = None
        if self.retiring_key and self.retire_after is not None:
            retires = dt.datetime.fromtimestamp(self.retire_after, dt.UTC).isoformat()
        return RotateResult(
            secret_arn=self.state.arn, user_name=self.user, rotated=rotated,
            pending=self.pending_id is not None, old_key_deleted=deleted,
            old_key_retires_at=retires, orphan_keys_deleted=orphans, host=smtp_host(self.region),
            port=self.port)


def _tag(view: View, tags: dict[str, str]) -> None:
    aws.client("secretsmanager").tag_resource(SecretId=view.state.arn, Tags=secret_tags(tags))
    view.state.tags.update(tags)


def read_view(state: SecretState) -> tuple[View, dict[str, float]]:
    """Where the rotation of ``state`` stands: its versions, and the user's keys by age."""
    settings = SesSettings.current()
    user, region = state.tags.get(TAG_USER), state.tags.get(TAG_REGION)
    if not state.managed or not user or not region:
        raise ValidationFailed("the secret is not an opsfn-managed SMTP credential with an IAM user",
                               details=[{"loc": "payload.secret_id", "msg": "not rotatable",
                                         "type": "value_error"}])
    keys = key_ages(user)
    stages = version_stages(state.arn)
    current_id = labelled(stages, CURRENT)
    if current_id is None:
        raise NotFound("the credential secret has no current version")
    current = read_version(state.arn, current_id)
    current_key = str(current.get("username") or "")
    pending_id = labelled(stages, PENDING)
    pending_key = None
    if pending_id is not None and pending_id != current_id:
        pending_key = str(read_version(state.arn, pending_id).get("username") or "") or None
    else:
        pending_id = None
    retiring = state.tags.get(TAG_RETIRING) or None
    try:
        retire_after: float | None = float(state.tags[TAG_RETIRE_AFTER]) if retiring else None
    except (KeyError, ValueError):
        retire_after = None
    if retiring is None:
        # A run that died between moving AWSCURRENT and tagging: the AWSPREVIOUS key still works.
        previous_id = labelled(stages, PREVIOUS)
        if previous_id is not None:
            previous_key = str(read_version(state.arn, previous_id).get("username") or "")
            if previous_key in keys and previous_key not in (current_key, pending_key):
                retiring = previous_key
    return View(state, user, region, int(current.get("port") or settings.smtp_port), current_id,
                current_key, pending_id, pending_key, retiring, retire_after), keys


def retire_due(view: View, keys: dict[str, float], now: float) -> bool:
    """Delete the replaced key once its grace period is over; True when it was deleted now."""
    key = view.retiring_key
    if key is None:
        return False
    if key not in keys or key in (view.current_key, view.pending_key):
        _tag(view, {TAG_RETIRING: "", TAG_RETIRE_AFTER: ""})  # gone already, or in use again
        view.retiring_key = view.retire_after = None
        return False
    if view.retire_after is None:  # found from AWSPREVIOUS: its grace starts now
        view.retire_after = now + SesSettings.current().smtp_rotation_grace_seconds
        _tag(view, {TAG_RETIRING: key, TAG_RETIRE_AFTER: str(int(view.retire_after))})
    if now < view.retire_after:
        return False
    deleted = delete_key(view.user, key)
    keys.pop(key, None)
    _tag(view, {TAG_RETIRING: "", TAG_RETIRE_AFTER: ""})
    view.retiring_key = view.retire_after = None
    return deleted


def start(view: View, keys: dict[str, float], rotation_id: str | None) -> int:
    """Step 1: a new key as the AWSPENDING version; returns how many orphan keys were deleted."""
    known = {view.current_key, view.retiring_key}
    if any(age < IN_FLIGHT_SECONDS for key, age in keys.items() if key not in known):
        raise Conflict("another rotation of this credential is under way; try again later")
    orphans = sum(delete_key(view.user, key) for key in list(keys) if key not in known)
    if view.retiring_key is not None:
        until = view.result(rotated=False, deleted=False, orphans=0).old_key_retires_at
        raise Conflict(f"the key replaced by the previous rotation keeps working until {until}; "
                       "rotate again after that")
    key_id, secret_key = create_key(view.user)
    fresh = version_stages(view.state.arn)
    if labelled(fresh, CURRENT) != view.current_id or labelled(fresh, PENDING) not in (
            None, view.current_id):
        # A copy of this request got there first (no lock table to take turns): undo ours.
        delete_key(view.user, key_id)
        raise Conflict("another rotation of this credential finished meanwhile; try again")
    value = credential(key_id, secret_key, view.region, view.port)
    view.pending_id = put_pending(view.state.arn, value, request_token(view.state.arn, key_id))
    view.pending_key = key_id
    if rotation_id:
        _tag(view, {TAG_ROTATION: rotation_id})
    return orphans


def advance(view: View, context: Context | None, rotation_id: str | None) -> bool:
    """Step 2: make the pending key current once it is old enough; True when it moved now."""
    if view.pending_id is None:
        return False
    settings = SesSettings.current()
    ages = key_ages(view.user)
    if view.pending_key not in ages:
        # Its key was removed meanwhile (a stack update replaced the user's keys): never promote
        # a password nobody can log in with.
        discard_pending(view.state.arn, view.pending_id)
        view.pending_id = view.pending_key = None
        return False
    wait = settings.smtp_key_propagation_seconds - ages[str(view.pending_key)]
    if wait > 0:
        time_left = context.remaining_ms() / 1000 if context is not None else 0.0
        if time_left < wait + 5:
            return False  # the next run (or the hourly finish schedule) promotes it
        _sleep(wait)
    promote(view.state.arn, view.pending_id, view.current_id)
    retiring, retire_after = view.current_key, _clock() + settings.smtp_rotation_grace_seconds
    tags = {TAG_RETIRING: retiring, TAG_RETIRE_AFTER: str(int(retire_after))}
    if rotation_id:
        tags[TAG_ROTATION] = rotation_id
    _tag(view, tags)
    view.current_id, view.current_key = view.pending_id, str(view.pending_key)
    view.pending_id = view.pending_key = None
    view.retiring_key, view.retire_after = retiring, float(int(retire_after))
    return True


def _secret(secret_id: str | None) -> SecretState:
    state = describe_secret(secret_id or SesSettings.current().required("SES_SMTP_SECRET_ID"))
    if state is None or state.deleted:
        raise NotFound("the credential secret does not exist")
    return state


def _in_turn(state: SecretState, step: Callable[[SecretState], RotateResult]) -> RotateResult:
    """Run ``step`` while holding this secret's rotation turn (when there is a lock table).

    Copies delivered at once take turns (a copy that finds the lock held gets Conflict, and its
    retry finds the work done); without a lock table, :func:`start` notices a copy that got
    there first and undoes its own key.
    """
    if not SharedSettings.current().lock_table:
        return step(state)
    digest = hashlib.sha256(state.arn.encode()).hexdigest()[:40]
    try:
        lock = locks.acquire(f"smtp-rotation:{digest}", ROTATION_LOCK_S)
    except Conflict:
        raise Conflict("another rotation of this credential is under way; try again later"
                       ) from None
    try:
        fresh = describe_secret(state.arn)  # tags as they are now that the turn is ours
        if fresh is None or fresh.deleted:
            raise NotFound("the credential secret does not exist")
        return step(fresh)
    finally:
        locks.release(lock)


def rotate(payload: RotateInput, context: Context) -> RotateResult:
    """Rotate a credential made by ``Custom::SmtpCredential`` (the IAM user variant)."""

    def step(state: SecretState) -> RotateResult:
        view, keys = read_view(state)
        deleted = retire_due(view, keys, _clock())
        orphans = 0
        if view.pending_id is None:
            if payload.rotation_id and state.tags.get(TAG_ROTATION) == payload.rotation_id:
                return view.result(rotated=False, deleted=deleted, orphans=0)
            orphans = start(view, keys, payload.rotation_id)
        rotated = advance(view, context, payload.rotation_id)
        if rotated and SesSettings.current().smtp_rotation_grace_seconds == 0:
            deleted = retire_due(view, key_ages(view.user), _clock()) or deleted
        _log(context, view, rotated, deleted, orphans)
        return view.result(rotated=rotated, deleted=deleted, orphans=orphans)

    return _in_turn(_secret(payload.secret_id), step)


def finish(secret_id: str | None, context: Context) -> RotateResult:
    """Do what is due without starting a rotation: promote a pending key, retire an old one."""

    def step(state: SecretState) -> RotateResult:
        view, keys = read_view(state)
        deleted = retire_due(view, keys, _clock())
        rotated = advance(view, context, None)
        if rotated and SesSettings.current().smtp_rotation_grace_seconds == 0:
            deleted = retire_due(view, key_ages(view.user), _clock()) or deleted
        _log(context, view, rotated, deleted, 0)
        return view.result(rotated=rotated, deleted=deleted, orphans=0)

    return _in_turn(_secret(secret_id), step)


def _log(context: Context, view: View, rotated: bool, deleted: bool, orphans: int) -> None:
    extra: dict[str, Any] = {"rotated": rotated, "pending": view.pending_id is not None,
                             "old_key_deleted": deleted, "orphans_deleted": orphans}
    context.logger.info("smtp credential rotation", extra=extra)
