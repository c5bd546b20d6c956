"""Custom::ActiveReceiptRuleSet and activate_receipt_rule_set against moto, with throttling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from opsfn.errors import NotFound, UpstreamError, ValidationFailed
from opsfn.routes.ses import receipt_rules
from opsfn.services import aws
from opsfn.testing import Client
from tests.stubs import stubbed

CR = "Custom::ActiveReceiptRuleSet"


@pytest.fixture
def ses(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SES client the routes use, with rule sets ``alpha``, ``beta`` and ``legacy``."""
    client = aws.client("ses")
    for name in ("alpha", "beta", "legacy"):
        client.create_receipt_rule_set(RuleSetName=name)
    yield client


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff pauses, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(receipt_rules, "_sleep", recorded.append)
    return recorded


def _active(ses: Any) -> str | None:
    return (ses.describe_active_receipt_rule_set().get("Metadata") or {}).get("Name")


def _throttle(ses: Any, operation: str, times: int) -> list[int]:
    """Answer the next ``times`` calls of ``operation`` with SES's Throttling error."""
    calls: list[int] = []

    def hook(**_: Any) -> Any:
        calls.append(1)
        if len(calls) > times:
            return None
        error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded", "Type": "Sender"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://email.us-east-1.amazonaws.com", 400, {}, None), error

    ses.meta.events.register(f"before-call.ses.{operation}", hook)
    return calls


def test_create_activates_and_remembers_the_previous_set(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"] == "ses-active-rule-set:alpha:legacy"
    assert created["Data"] == {"RuleSetName": "alpha", "PreviousRuleSetName": "legacy"}
    assert _active(ses) == "alpha"


def test_delete_restores_the_previous_set_when_asked(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    props = {"RuleSetName": "alpha", "RestorePreviousOnDelete": "true"}
    created = client.custom_resource("Create", CR, props)
    deleted = client.custom_resource("Delete", CR, props, physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS" and _active(ses) == "legacy"


def test_delete_deactivates_without_restore(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    client.custom_resource("Delete", CR, {"RuleSetName": "alpha"},
                           physical_id=created["PhysicalResourceId"])
    assert _active(ses) is None


def test_delete_leaves_a_set_that_is_no_longer_ours(client: Client, ses: Any) -> None:
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha",
                                                    "RestorePreviousOnDelete": True})
    ses.set_active_receipt_rule_set(RuleSetName="beta")  # someone else switched meanwhile
    client.custom_resource("Delete", CR, {"RuleSetName": "alpha"},
                           physical_id=created["PhysicalResourceId"])
    assert _active(ses) == "beta"


def test_a_set_active_before_the_stack_stays_active(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="alpha")
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    assert created["PhysicalResourceId"] == "ses-active-rule-set:alpha:alpha"
    client.custom_resource("Delete", CR, {"RuleSetName": "alpha"},
                           physical_id=created["PhysicalResourceId"])
    assert _active(ses) == "alpha"


def test_restore_when_the_previous_set_is_gone(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    props = {"RuleSetName": "alpha", "RestorePreviousOnDelete": True}
    created = client.custom_resource("Create", CR, props)
    ses.delete_receipt_rule_set(RuleSetName="legacy")
    deleted = client.custom_resource("Delete", CR, props, physical_id=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS" and _active(ses) is None


def test_update_to_another_set_keeps_the_original_previous(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    props = {"RuleSetName": "alpha", "RestorePreviousOnDelete": True}
    created = client.custom_resource("Create", CR, props)
    new_props = {"RuleSetName": "beta", "RestorePreviousOnDelete": True}
    updated = client.custom_resource("Update", CR, new_props, old_properties=props,
                                     physical_id=created["PhysicalResourceId"])
    assert updated["PhysicalResourceId"] == "ses-active-rule-set:beta:legacy"
    assert _active(ses) == "beta"
    old_delete = client.custom_resource("Delete", CR, props,
                                        physical_id=created["PhysicalResourceId"])
    assert old_delete["Status"] == "SUCCESS" and _active(ses) == "beta"
    client.custom_resource("Delete", CR, new_props, physical_id=updated["PhysicalResourceId"])
    assert _active(ses) == "legacy"


def test_update_of_the_same_set_reactivates_it(client: Client, ses: Any) -> None:
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    ses.set_active_receipt_rule_set()
    updated = client.custom_resource("Update", CR, {"RuleSetName": "alpha",
                                                    "RestorePreviousOnDelete": True},
                                     old_properties={"RuleSetName": "alpha"},
                                     physical_id=created["PhysicalResourceId"])
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert _active(ses) == "alpha"


def test_missing_rule_set_fails_with_a_reason(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    failed = client.custom_resource("Create", CR, {"RuleSetName": "nope"})
    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == "receipt rule set nope does not exist in us-east-1"
    assert _active(ses) == "legacy"
    cleanup = client.custom_resource("Delete", CR, {"RuleSetName": "nope"},
                                     physical_id=failed["PhysicalResourceId"])
    assert cleanup["Status"] == "SUCCESS" and _active(ses) == "legacy"
    invalid = client.custom_resource("Create", CR, {"RuleSetName": "bad name"})
    assert invalid["Status"] == "FAILED" and "RuleSetName" in invalid["Reason"]


def test_throttled_calls_are_retried(client: Client, ses: Any, pauses: list[float]) -> None:
    calls = _throttle(ses, "SetActiveReceiptRuleSet", times=2)
    created = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert len(calls) == 3 and pauses == [1.0, 2.0]
    assert _active(ses) == "alpha"


def test_throttling_that_never_ends_fails_clearly(client: Client, ses: Any, pauses: list[float],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SES_THROTTLE_ATTEMPTS", "3")
    _throttle(ses, "DescribeActiveReceiptRuleSet", times=100)
    failed = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == ("SES describe_active_receipt_rule_set throttled; gave up after 3 "
                                "attempt(s)")
    assert pauses == [1.0, 2.0]
    with pytest.raises(UpstreamError, match="throttled"):
        client.invoke("activate_receipt_rule_set", rule_set_name="alpha")


def test_access_denied_is_a_clear_error(client: Client, ses: Any) -> None:
    def deny(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "User is not authorized"},
                 "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://email.us-east-1.amazonaws.com", 403, {}, None), error

    ses.meta.events.register("before-call.ses.SetActiveReceiptRuleSet", deny)
    failed = client.custom_resource("Create", CR, {"RuleSetName": "alpha"})
    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == "AWS SetActiveReceiptRuleSet failed: AccessDenied"


def test_action_activates_and_reports(client: Client, ses: Any) -> None:
    ses.set_active_receipt_rule_set(RuleSetName="legacy")
    first = client.invoke("activate_receipt_rule_set", rule_set_name="beta")
    assert first == {"active": "beta", "previous": "legacy", "changed": True}
    again = client.invoke("activate_receipt_rule_set", rule_set_name="beta")
    assert again == {"active": "beta", "previous": "beta", "changed": False}
    with pytest.raises(NotFound, match="receipt rule set gone does not exist"):
        client.invoke("activate_receipt_rule_set", rule_set_name="gone")
    with pytest.raises(ValidationFailed):
        client.invoke("activate_receipt_rule_set", rule_set_name="")
    assert _active(ses) == "beta"


def test_requests_match_the_ses_model(pauses: list[float]) -> None:
    """Stubber checks every request against the real SES model, throttled attempt included."""
    with stubbed("ses") as stub:
        stub.add_response("describe_active_receipt_rule_set", {})
        stub.add_client_error("set_active_receipt_rule_set", "Throttling", "Rate exceeded", 400,
                              expected_params={"RuleSetName": "alpha"})
        stub.add_response("set_active_receipt_rule_set", {}, {"RuleSetName": "alpha"})
        activation, changed = receipt_rules.converge("alpha", None)
        stub.assert_no_pending_responses()
    assert (activation.physical_id(), changed, pauses) == ("ses-active-rule-set:alpha:", True, [1.0])
