"""The relay in infra/template.yaml: the receipt rule stores then invokes, SES may do both,
the function may send only as the forwarding identity, and the drift check guards the wiring."""

from __future__ import annotations

import copy
from typing import Any

from opsfn.handler import app
from opsfn.tooling.ops_rules import Checker

RULE_ARN = ("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:receipt-rule-set/"
            "${ReceiptRuleSetName}:receipt-rule/${RelayRuleName}")


def _statement(template: dict[str, Any], sid: str, where: str = "RoutesRole") -> dict[str, Any]:
    """The statement ``sid`` of the resource ``where`` (the routes role holds the routes')."""
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("Sid") == sid:
                found.append(value)
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(template["Resources"][where])
    (statement,) = found
    return statement


def test_the_rule_stores_then_invokes_with_scanning(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    rule = resources["InboundRelayRule"]
    assert rule["Condition"] == "HasRelay"
    assert set(rule["DependsOn"]) == {"InboundMailBucketPolicy", "RelayInvokePermission"}
    props = rule["Properties"]["Rule"]
    assert props["ScanEnabled"] is True  # no spam/virus verdicts without it
    s3_action, lambda_action = props["Actions"]
    assert s3_action == {"S3Action": {"BucketName": {"Ref": "InboundMailBucket"},
                                      "ObjectKeyPrefix": "inbound/"}}
    assert lambda_action == {"LambdaAction": {"FunctionArn": {"Ref": "OpsFunction.Alias"},  # the alias
                                              "InvocationType": "Event"}}
    env = resources["OpsFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SES_INBOUND_PREFIX"] == "inbound/"
    assert env["SES_INBOUND_BUCKET"]["Fn::If"][1] == {"Ref": "InboundMailBucket"}
    assert env["SES_FORWARD_TO"]["Fn::If"][1] == {"Ref": "RelayForwardTo"}
    assert env["SES_FORWARD_FROM"]["Fn::If"][1] == {"Ref": "RelayForwardFrom"}


def test_ses_may_write_and_invoke_for_this_rule_only(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    write = _statement(template, "SesStoresMailOfTheRelayRule", "InboundMailBucketPolicy")
    assert write["Principal"] == {"Service": "ses.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {"Fn::Sub": "${InboundMailBucket.Arn}/inbound/*"}
    assert write["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"},
                                                  "aws:SourceArn": {"Fn::Sub": RULE_ARN}}
    invoke = resources["RelayInvokePermission"]["Properties"]
    assert invoke["Principal"] == "ses.amazonaws.com"
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["SourceArn"] == {"Fn::Sub": RULE_ARN}
    assert invoke["SourceAccount"] == {"Ref": "AWS::AccountId"}
    bucket = resources["InboundMailBucket"]["Properties"]
    assert bucket["BucketEncryption"] and all(bucket["PublicAccessBlockConfiguration"].values())
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Prefix"] == "inbound/"
    assert expiry["ExpirationInDays"] == {"Ref": "RelayMailExpiryDays"}


def test_the_function_sends_only_as_the_forwarding_identity(template: dict[str, Any]) -> None:
    send = _statement(template, "SendOnlyAsTheForwardingIdentity")
    assert send["Action"] == "ses:SendRawEmail"
    address, domain = send["Resource"]
    assert address == {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
                                  "identity/${RelayForwardFrom}"}
    assert domain["Fn::Sub"][1] == {"Domain": {"Fn::Select": [1, {"Fn::Split": [
        "@", {"Ref": "RelayForwardFrom"}]}]}}
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "RelayForwardFrom"}}}
    read = _statement(template, "ReadReceivedMail")
    assert read == {"Sid": "ReadReceivedMail", "Effect": "Allow", "Action": "s3:GetObject",
                    "Resource": {"Fn::Sub": "${InboundMailBucket.Arn}/inbound/*"}}
    # the ses routes' session policy, too large inline, says the same
    assert _statement(template, "SendOnlyAsTheForwardingIdentity", "SesSessionPolicy") == send


def test_the_sam_transform_keeps_the_relay(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    assert resources["InboundRelayRule"]["Type"] == "AWS::SES::ReceiptRule"
    assert resources["RelayInvokePermission"]["Type"] == "AWS::Lambda::Permission"


def test_the_check_guards_the_relay_wiring(template: dict[str, Any]) -> None:
    assert Checker(app, template).run() == []

    def broken(change: Any) -> list[str]:
        document = copy.deepcopy(template)
        change(document["Resources"])
        return Checker(app, document).run()

    def swap(resources: dict[str, Any]) -> None:
        actions = resources["InboundRelayRule"]["Properties"]["Rule"]["Actions"]
        actions.reverse()

    def other_prefix(resources: dict[str, Any]) -> None:
        rule = resources["InboundRelayRule"]["Properties"]["Rule"]
        rule["Actions"][0]["S3Action"]["ObjectKeyPrefix"] = "mail/"

    problems = broken(swap)
    assert problems == ["receipt rule InboundRelayRule: no S3Action before its LambdaAction "
                        "(the relay reads the stored message)"]
    assert "its S3Action writes InboundMailBucket/mail/" in broken(other_prefix)[0]
    no_rule = broken(lambda r: r.pop("InboundRelayRule"))
    assert len(no_rule) == 1 and "ses:receipt" in no_rule[0] and "ReceiptRule" in no_rule[0]
    no_permission = broken(lambda r: r.pop("RelayInvokePermission"))
    assert len(no_permission) == 1 and "ses.amazonaws.com" in no_permission[0]


def test_a_rule_without_a_route_is_refused(template: dict[str, Any]) -> None:
    from opsfn.core.app import App

    others = App([_router(r) for r in app.registry.routes if r.source != "ses"])
    assert any("no SES route serves them" in p for p in Checker(others, template).run())


def _router(route: Any) -> Any:
    from opsfn.core.router import Router

    router = Router()
    router.routes.append(route)
    return router
