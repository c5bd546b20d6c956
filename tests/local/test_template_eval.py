"""The local stack's template evaluation: conditions, intrinsics, rates, parameter overrides."""

from __future__ import annotations

from pathlib import Path

from opsfn.tooling.local.stack import LOCAL_PARAMETERS, local_name, rate_seconds
from opsfn.tooling.local.template_eval import NO_VALUE, Evaluator
from opsfn.tooling.template_reader import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


def test_conditions_follow_parameters() -> None:
    template = load_template(TEMPLATE)
    default = Evaluator(template, "us-east-1")
    assert default.condition("HasVpc") is False
    assert default.condition("HasEfs") is False
    assert default.active(template["Resources"]["SslMaterials"]) is False
    local = Evaluator(template, "us-east-1", dict(LOCAL_PARAMETERS))
    assert local.condition("HasEfs") is True
    assert local.condition("HasDatabase") is True
    assert local.active(template["Resources"]["SmtpCredential"]) is True


def test_intrinsics_resolve_against_created_resources() -> None:
    template = {"Parameters": {"Name": {"Type": "String", "Default": "x"},
                               "Ids": {"Type": "CommaDelimitedList", "Default": "a,b"}},
                "Conditions": {"Yes": {"Fn::Equals": [{"Ref": "Name"}, "x"]}},
                "Resources": {}}
    ev = Evaluator(template, "eu-west-1", refs={"Bucket": "b1"},
                   attrs={"Bucket": {"Arn": "arn:aws:s3:::b1"}})
    assert ev.value({"Ref": "Bucket"}) == "b1"
    assert ev.value({"Fn::Sub": "${Bucket.Arn}/uploads/*"}) == "arn:aws:s3:::b1/uploads/*"
    assert ev.value({"Fn::Sub": "opsfn/${AWS::StackName}/smtp"}) == "opsfn/opsfn-local/smtp"
    assert ev.value({"Fn::If": ["Yes", "on", "off"]}) == "on"
    assert ev.value({"Fn::If": ["Yes", {"Ref": "AWS::NoValue"}, 1]}) is NO_VALUE
    assert ev.value({"Fn::Join": ["", {"Ref": "Ids"}]}) == "ab"
    assert ev.value({"Fn::Sub": "${Missing}"}) is None
    assert ev.value({"Fn::GetAtt": ["Bucket", "Arn"]}) == "arn:aws:s3:::b1"


def test_rates_and_names() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("rate(2 days)") == 172800
    assert rate_seconds("cron(0 4 * * ? *)") is None
    assert local_name("UploadBucket") == "opsfn-local-uploadbucket"


def test_rate_schedules_fire_on_their_own(monkeypatch) -> None:
    import threading

    from opsfn.tooling.local import stack as stack_module

    fired: list[str] = []
    done = threading.Event()

    class Recording(stack_module.LocalStack):
        def fire(self, name: str) -> tuple[bool, object]:
            fired.append(name)
            done.set()
            return True, None

    monkeypatch.setattr(stack_module, "rate_seconds",
                        lambda expression: 1 if expression == "rate(5 minutes)" else None)
    local = Recording(TEMPLATE, "http://127.0.0.1:9", schedules=True)
    local.start_timers()
    try:
        assert done.wait(5)
    finally:
        local.stop()
    assert set(fired) == {"database-auto-stop"}
    quiet = Recording(TEMPLATE, "http://127.0.0.1:9", schedules=False)
    quiet.start_timers()
    assert quiet._threads == []
