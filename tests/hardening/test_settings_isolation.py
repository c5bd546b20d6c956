"""One bad setting fails only the routes that read it.

Every route runs as in ``test_duplicates`` (the same arrangements, a real delivery through the
handler's app against moto). First as configured, recording every setting the delivery reads
(dispatch included). Then in a fresh world with every setting it did not read set to an invalid
value: the outcome must not change. Then once per setting it read, with only that one invalid:
the delivery must fail, and where the failure carries text, name the variable.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from opsfn.core import settings as settings_module
from opsfn.core.settings import EnvField, SettingsSection, setting_fields
from opsfn.services import aws
from opsfn.testing import http_v2_event, invoke_event
from tests.hardening._duplicates_ledger import Ledger, ledger
from tests.hardening.test_duplicates import (
    CASES,
    Case,
    Outcome,
    World,
    _backup,
    _database,
    _snapshots,
    deliver,
)
from tests.operator_fixtures import redis_server, subscribe_inbox
from tests.tables import create_shared_tables

__all__ = ["ledger", "redis_server"]  # fixtures used by this module


# -- the routes without side effects, arranged the same way -----------------------------------
def _health_action(w: World) -> dict[str, Any]:
    return invoke_event("health")


def _health_http(w: World) -> dict[str, Any]:
    return http_v2_event("GET", "/health")


def _status_http(w: World) -> dict[str, Any]:
    _database(w)
    return http_v2_event("GET", "/database/status", auth="iam")


def _status_action(w: World) -> dict[str, Any]:
    _database(w)
    return invoke_event("database_status")


def _empty_event(w: World) -> dict[str, Any]:
    """The dashboard's ``Payload=json.dumps({})``, run as OPSFN_EMPTY_EVENT_ACTION names."""
    _database(w)
    w.env(OPSFN_EMPTY_EVENT_ACTION="database_status")
    return {}


def _upload_request(w: World) -> dict[str, Any]:
    from tests.imaging.conftest import BUCKET, TABLE, make_resources

    w.env(UPLOAD_BUCKET=BUCKET, TABLE_NAME=TABLE)
    make_resources()
    return http_v2_event("POST", "/request-upload",
                         body={"fileName": "scan.png", "fileType": "image/png"})


def _results_http(w: World) -> dict[str, Any]:
    from opsfn.routes.imaging import jobs

    _upload_request(w)
    job_id = str(uuid.uuid4())
    jobs.create(job_id, file_type="image/png", file_name="scan.png",
                s3_key=f"uploads/{job_id}/original")
    return http_v2_event("GET", "/get-results", query={"jobId": job_id})


def _export_status(w: World) -> dict[str, Any]:
    _snapshots(w)
    started = deliver(invoke_event("export_rds_snapshot"), "req-export-first")
    assert started.error is None, started.describe()
    return invoke_event("export_status",
                        export_task_identifier=started.value["export_task_identifier"])


def _describe_backup_job(params: dict[str, Any], **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    parsed = {"BackupJobId": "job-1", "State": "COMPLETED", "PercentDone": "100.0",
              "ResponseMetadata": {"HTTPStatusCode": 200}}
    return AWSResponse("https://backup.us-east-1.amazonaws.com", 200, {}, None), parsed


def _backup_status(w: World) -> dict[str, Any]:
    _backup(w)
    aws.client("backup").meta.events.register_first("before-call.backup.DescribeBackupJob",
                                                     _describe_backup_job)
    return invoke_event("backup_job_status", backup_job_id="job-1")


def _sync_status(w: World) -> dict[str, Any]:
    from tests.hardening.test_duplicates import _tree

    _tree(w)
    return invoke_event("sync_status")


READ_ONLY_CASES = [
    Case("health-action", "action:health", _health_action, {}),
    Case("health-http", "GET /health", _health_http, {}),
    Case("status-http", "GET /database/status", _status_http, {}),
    Case("status-action", "action:database_status", _status_action, {}),
    Case("empty-event", "{} -> action:database_status", _empty_event, {}),
    Case("request-upload", "POST /request-upload", _upload_request, {}),
    Case("get-results", "GET /get-results", _results_http, {}),
    Case("export-status", "action:export_status", _export_status, {}),
    Case("backup-status", "action:backup_job_status", _backup_status, {}),
    Case("sync-status", "action:sync_status", _sync_status, {}),
]


def _one_per_route() -> list[Case]:
    seen: set[str] = set()
    chosen = []
    for case in [*CASES, *READ_ONLY_CASES]:
        if case.route not in seen:
            seen.add(case.route)
            chosen.append(case)
    return chosen


ROUTE_CASES = _one_per_route()


# -- invalid values ----------------------------------------------------------------------------
def invalid_value(field: EnvField) -> str | None:
    """A value the field cannot parse or that breaks its limits; None when every string fits."""
    kinds = [k for k in typing.get_args(field.annotation) if k is not type(None)] or \
        [field.annotation]
    kind = kinds[0]
    if kind in (int, float):
        return "not-a-number"
    if kind is bool:
        return "perhaps"
    if typing.get_origin(kind) is typing.Literal:
        return "not-one-of-the-choices"
    if field.min_length:
        return ""
    if field.max_length is not None:
        return "x" * (field.max_length + 1)
    return None


def _fields() -> dict[str, EnvField]:
    fields = setting_fields()
    for field in fields.values():  # resolve annotations
        if field.annotation is None:
            for section in settings_module.all_sections():
                section.fields()
    return fields


# Settings whose values are checked against the registry, not by their type: every string parses,
# and these are values no registry holds.
REGISTRY_CHECKED = {"OPSFN_EMPTY_EVENT_ACTION": "no-such-action"}

BREAKABLE = {name: value for name, field in _fields().items()
             if (value := REGISTRY_CHECKED.get(name) or invalid_value(field)) is not None}


def test_most_settings_can_be_broken() -> None:
    """The matrix below proves little if few settings can take an invalid value."""
    assert len(BREAKABLE) >= 30, sorted(BREAKABLE)


# -- the harness ---------------------------------------------------------------------------------
def _forget_cached_sections() -> None:
    """Every section read afresh: a field cached by an earlier test would hide a read."""
    SettingsSection._caches.clear()
    settings_module._CORE.snapshot = None


@contextmanager
def _reads() -> Iterator[set[str]]:
    """The variables read through any settings section while the block runs."""
    seen: set[str] = set()
    original = EnvField.__get__

    def recording(self: EnvField, instance: Any, owner: Any = None) -> Any:
        if instance is not None:
            seen.add(self.env)
        return original(self, instance, owner)

    EnvField.__get__ = recording  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        EnvField.__get__ = original  # type: ignore[method-assign]


@contextmanager
def _fresh_world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, folder: Path,
                 book: Ledger) -> Iterator[World]:
    from moto import mock_aws

    folder.mkdir(parents=True, exist_ok=True)
    with mock_aws():
        aws.reset()
        create_shared_tables(monkeypatch)
        inbox = subscribe_inbox(monkeypatch)
        yield World(request, monkeypatch, folder, book, inbox)
    aws.reset()


def summary(outcome: Outcome) -> str:
    """What kind of answer the source got, without ids or times that differ between runs."""
    if outcome.error is not None:
        return f"raised {type(outcome.error).__name__}"
    status = outcome.http_status
    if status is not None:
        return f"HTTP {status}"
    value = outcome.value
    if isinstance(value, dict) and "batchItemFailures" in value:
        return f"{len(value['batchItemFailures'])} failed messages"
    if isinstance(value, dict) and "Status" in value:
        return f"answered {value['Status']}"
    return "ok"


def failure_text(outcome: Outcome, answers: list[dict[str, Any]]) -> str | None:
    """The text a failed outcome carries (None when it has none, e.g. a failed SQS item)."""
    if outcome.error is not None:
        return outcome.error.message
    if outcome.http_status is not None and outcome.http_status >= 400:
        return str(outcome.value.get("body"))
    if answers and answers[-1].get("Status") == "FAILED":
        return str(answers[-1].get("Reason"))
    return None


def _failed(outcome: Outcome) -> bool:
    if outcome.error is not None or outcome.failed_messages:
        return True
    status = outcome.http_status
    if status is not None:
        return status >= 500
    return isinstance(outcome.value, dict) and outcome.value.get("Status") == "FAILED"


Run = Callable[[dict[str, str]], tuple[Outcome, set[str], list[dict[str, Any]]]]


@pytest.fixture
def run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        ledger: Ledger, redis_server: Any) -> Run:
    """Deliver the case's event in a world of its own, with ``broken`` variables set."""
    case: Case = request.node.callspec.params["case"]
    runs = {"n": 0}

    def go(broken: dict[str, str]) -> tuple[Outcome, set[str], list[dict[str, Any]]]:
        runs["n"] += 1
        with monkeypatch.context() as patch, \
                _fresh_world(request, patch, tmp_path / f"run{runs['n']}", ledger) as world:
            event = case.arrange(world)
            for name, value in broken.items():
                patch.setenv(name, value)
            _forget_cached_sections()
            with _reads() as seen:
                outcome = deliver(event, f"req-{case.id}-{runs['n']}")
            answers = [r["body"] for r in world.server.received] if world.server else []
        _forget_cached_sections()
        return outcome, seen, answers

    return go


@pytest.mark.parametrize("case", ROUTE_CASES, ids=[c.id for c in ROUTE_CASES])
def test_a_bad_setting_fails_only_the_routes_that_read_it(case: Case, run: Run,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    baseline, read, _ = run({})
    assert not _failed(baseline), baseline.describe()
    others = {name: value for name, value in BREAKABLE.items() if name not in read}
    assert others, "every breakable setting was read: the check below would prove nothing"
    isolated, _, _ = run(others)
    assert summary(isolated) == summary(baseline), (
        f"{case.route} changed when settings it never read were invalid: {isolated.describe()}")
    for name in sorted(read & set(BREAKABLE)):
        caplog.clear()
        broken, _, answers = run({name: BREAKABLE[name]})
        assert _failed(broken), f"{case.route} ignored an invalid {name}: {broken.describe()}"
        # The caller or the log names the variable (a batch's summary carries only codes).
        text = failure_text(broken, answers) or ""
        logged = [getattr(r, "settings", None) or [] for r in caplog.records]
        assert name in text or any(name in found for found in logged), (
            f"{case.route} failed on {name} without naming it: {text}")


def test_every_route_is_in_the_matrix() -> None:
    from opsfn.handler import app

    labels = {route.label for route in app.registry.routes}
    assert labels - {case.route for case in ROUTE_CASES} == set()
