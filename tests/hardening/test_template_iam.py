"""IAM in the template, before and after the SAM transform: no wildcard actions, scoped PassRole,
``Resource: "*"`` only for the actions infra/README.md documents.

Every rule is a plain function over policy statements, and each is also fed a deliberately bad
document, so a rule that silently stopped matching would fail here instead of passing vacuously.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
README = ROOT / "infra" / "README.md"

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
# An ARN whose resource part is nothing but "*" (``arn:aws:s3:::*``) grants as much as "*".
SERVICE_WIDE = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$")
ALLOWED_MANAGED = "service-role/AWSLambdaVPCAccessExecutionRole"
POLICY_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy",
                "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy",
                "AWS::Serverless::Function", "AWS::Lambda::Function", "AWS::KMS::Key",
                "AWS::SecretsManager::ResourcePolicy", "AWS::Events::EventBusPolicy"}

Statement = tuple[str, dict[str, Any]]


# -- reading the template ------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    """A policy field that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def branches(value: Any) -> Iterator[Any]:
    """Every value ``value`` can take: both sides of an ``Fn::If``, never ``AWS::NoValue``."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def statements(template: dict[str, Any]) -> list[Statement]:
    """Every policy statement of every resource, with where it was found.

    The whole of each resource's properties is searched (inline policies, trust policies,
    resource policies, SAM ``Policies``, both branches of every condition), so a policy added in
    a new place cannot hide from the rules.
    """
    found: list[Statement] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            if "Effect" in value and ("Action" in value or "NotAction" in value):
                found.append((where, value))
                return
            for key, inner in value.items():
                walk(inner, f"{where}.{key}")
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{where}[{index}]")

    for name, resource in template.get("Resources", {}).items():
        walk(resource.get("Properties", {}), name)
    return found


def text_of(value: Any) -> str | None:
    """The literal text of a resource value (a string or the template of an ``Fn::Sub``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else str(sub[0])
    return None


def documented_wildcard_actions(readme: str) -> set[str]:
    """The actions of the README table "where ``Resource: "*"`` remains"."""
    section = readme.split('### IAM: where `Resource: "*"` remains', 1)[1]
    section = section.split("\n#", 1)[0]
    actions: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and cells[1].strip().startswith("`"):
            actions |= set(re.findall(r"`([a-z0-9-]+:[A-Za-z0-9*]+)`", cells[1]))
    return actions


# -- the rules -----------------------------------------------------------------------------------
def action_problems(found: list[Statement]) -> list[str]:
    """Allow statements name each action exactly: no ``*``, ``svc:*``, ``svc:Get*`` or NotAction."""
    problems = []
    for where, statement in found:
        allow = statement.get("Effect") == "Allow"
        if allow and "NotAction" in statement:
            problems.append(f"{where}: Allow with NotAction")
        if allow and "NotResource" in statement:
            problems.append(f"{where}: Allow with NotResource")
        for action in as_list(statement.get("Action", [])):
            if not isinstance(action, str):
                problems.append(f"{where}: action is not a literal: {action!r}")
            elif allow and ("*" in action or "?" in action):
                problems.append(f"{where}: wildcard action {action}")
            elif allow and not ACTION.match(action):
                problems.append(f"{where}: malformed action {action}")
        if allow:
            for principal in branches(statement.get("Principal")):
                values = principal.values() if isinstance(principal, dict) else [principal]
                if any("*" in as_list(v) for v in values):
                    problems.append(f"{where}: Allow to any principal")
    return problems


def wildcard_resources(statement: dict[str, Any]) -> bool:
    """Whether the statement's resources include ``*`` (or a service-wide ``...:*`` ARN)."""
    for resource in as_list(statement.get("Resource", [])):
        for value in branches(resource):
            text = text_of(value)
            if text is not None:
                text = re.sub(r"\$\{[^}]*\}", "x", text)  # ${AWS::Partition} holds colons
            if text is not None and (text == "*" or SERVICE_WIDE.match(text)):
                return True
    return False


def wildcard_resource_problems(found: list[Statement], documented: set[str]) -> list[str]:
    """Allow statements on ``*`` grant only documented actions."""
    problems = []
    for where, statement in found:
        if statement.get("Effect") != "Allow" or not wildcard_resources(statement):
            continue
        for action in as_list(statement.get("Action", [])):
            if action not in documented:
                problems.append(f"{where}: {action} on Resource '*' is not in infra/README.md")
    return problems


def _named_role(value: Any, template: dict[str, Any]) -> str | None:
    """None when ``value`` names one role ARN of this template; otherwise why it does not."""
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in parameters and name.endswith("RoleArn"):
            return None
        if resources.get(name, {}).get("Type") == "AWS::IAM::Role":
            return f"Ref {name} is the role's name, not its ARN"
        return f"Ref {name} is no role ARN parameter"
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        logical, attribute = target.split(".", 1) if isinstance(target, str) else target
        if attribute == "Arn" and resources.get(logical, {}).get("Type") == "AWS::IAM::Role":
            return None
        return f"GetAtt {logical}.{attribute} is no role ARN"
    text = text_of(value)
    if text is not None:
        if "*" in text or "?" in text:
            return f"{text} is a wildcard"
        if ":role/" not in text:
            return f"{text} is no role ARN"
        return None
    return f"{value!r} is no role ARN"


def passrole_problems(found: list[Statement], template: dict[str, Any]) -> list[str]:
    """iam:PassRole only on named roles, and only to a named service."""
    problems = []
    for where, statement in found:
        actions = [a.lower() for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
        if statement.get("Effect") != "Allow" or "iam:passrole" not in actions:
            continue
        resources = [v for r in as_list(statement.get("Resource", [])) for v in branches(r)]
        if not resources:
            problems.append(f"{where}: iam:PassRole without a Resource")
        for resource in resources:
            why = _named_role(resource, template)
            if why is not None:
                problems.append(f"{where}: iam:PassRole on {why}")
        condition = statement.get("Condition") or {}
        services = (condition.get("StringEquals") or {}).get("iam:PassedToService")
        if not services or any("*" in str(s) for s in as_list(services)):
            problems.append(f"{where}: iam:PassRole without an iam:PassedToService condition")
    return problems


def managed_policy_problems(template: dict[str, Any]) -> list[str]:
    """Only the VPC execution policy is attached, and only when the function is in a VPC."""
    problems = []
    for name, resource in template.get("Resources", {}).items():
        arns = (resource.get("Properties") or {}).get("ManagedPolicyArns") or []
        for entry in as_list(arns):
            conditional = isinstance(entry, dict) and set(entry) == {"Fn::If"}
            for value in branches(entry):
                text = text_of(value) or repr(value)
                if not text.endswith(ALLOWED_MANAGED):
                    problems.append(f"{name}: managed policy {text}")
                elif not (conditional and entry["Fn::If"][0] == "HasVpc"):
                    problems.append(f"{name}: {ALLOWED_MANAGED} attached without HasVpc")
    return problems


def permission_problems(template: dict[str, Any]) -> list[str]:
    """Lambda permissions (SAM makes them from events): invoke only, by a service, from one ARN."""
    problems = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Permission":
            continue
        props = resource.get("Properties", {})
        if props.get("Action") != "lambda:InvokeFunction":
            problems.append(f"{name}: permission for {props.get('Action')!r}")
        principal = props.get("Principal")
        if not isinstance(principal, str) or not principal.endswith(".amazonaws.com"):
            problems.append(f"{name}: permission for principal {principal!r}")
        if not props.get("SourceArn"):
            problems.append(f"{name}: permission without SourceArn")
    return problems


def all_problems(template: dict[str, Any], documented: set[str]) -> list[str]:
    """Every rule over one template."""
    found = statements(template)
    return (action_problems(found) + wildcard_resource_problems(found, documented)
            + passrole_problems(found, template) + managed_policy_problems(template)
            + permission_problems(template))


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def documented() -> set[str]:
    return documented_wildcard_actions(README.read_text())


# -- the template holds ---------------------------------------------------------------------------
def test_the_readme_table_is_read(documented: set[str]) -> None:
    assert documented == {"rekognition:DetectLabels", "ses:DescribeActiveReceiptRuleSet",
                          "ses:DescribeReceiptRuleSet", "ses:SetActiveReceiptRuleSet",
                          "rds:StartExportTask", "rds:DescribeExportTasks",
                          "backup:DescribeBackupJob", "datasync:CreateLocationEfs",
                          "datasync:CreateLocationS3", "datasync:ListTasks",
                          "cloudwatch:GetMetricStatistics",
                          "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.mark.parametrize("which", ["template", "transformed"])
def test_every_policy_follows_every_rule(which: str, request: pytest.FixtureRequest,
                                         documented: set[str]) -> None:
    document: dict[str, Any] = request.getfixturevalue(which)
    found = statements(document)
    # The search really reaches every kind of policy the template has.
    places = {where.split(".", 1)[0] for where, _ in found}
    assert {"OpsFunctionRole", "RdsExportRole", "SchedulerRole", "UploadBucketTlsOnly",
            "FailedEventsQueuePolicy"} <= places
    assert len(found) >= 40
    assert all_problems(document, documented) == []


@pytest.mark.parametrize("which", ["template", "transformed"])
def test_wildcard_resources_grant_exactly_the_documented_actions(
        which: str, request: pytest.FixtureRequest, documented: set[str]) -> None:
    document: dict[str, Any] = request.getfixturevalue(which)
    granted = {action for _, statement in statements(document)
               if statement.get("Effect") == "Allow" and wildcard_resources(statement)
               for action in as_list(statement["Action"])}
    assert granted == documented  # nothing undocumented, and no stale line in the README


def test_every_pass_role_is_found_and_scoped(template: dict[str, Any]) -> None:
    passes = [s for _, s in statements(template) if "iam:PassRole" in as_list(s["Action"])]
    assert {s.get("Sid") for s in passes} == {"PassOnlyTheExportRole", "PassOnlyTheBackupRole",
                                              "PassOnlyTheDataSyncRole"}
    for statement in passes:
        assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert passrole_problems(statements(template), template) == []


def test_wildcard_actions_only_in_deny_statements(template: dict[str, Any]) -> None:
    """The TLS-only bucket and queue policies deny ``s3:*`` and ``sqs:*``: a wildcard that removes
    access is fine."""
    wild = [(w, s) for w, s in statements(template)
            if any("*" in a for a in as_list(s["Action"]))]
    assert {w.split(".", 1)[0] for w, _ in wild} == {
        "UploadBucketTlsOnly", "LandingBucketTlsOnly", "ArchiveBucketTlsOnly",
        "InboundMailBucketPolicy", "AccessLogBucketPolicy", "FailedEventsQueuePolicy",
        "ActionQueuePolicy", "ActionDeadLetterQueuePolicy", "ScheduleDeadLetterQueuePolicy"}
    assert all(s["Effect"] == "Deny" for _, s in wild)


# -- every rule can fail --------------------------------------------------------------------------
def _role(*statements_: dict[str, Any]) -> dict[str, Any]:
    return {"Parameters": {"BackupRoleArn": {"Type": "String"}, "Bucket": {"Type": "String"}},
            "Resources": {
                "Target": {"Type": "AWS::IAM::Role", "Properties": {}},
                "Bad": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{
                    "PolicyName": "bad", "PolicyDocument": {"Version": "2012-10-17",
                                                            "Statement": list(statements_)}}]}}}}


GOOD_PASS = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": {"Ref": "BackupRoleArn"},
             "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}}


@pytest.mark.parametrize(("statement", "expected"), [
    ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action *"),
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action s3:*"),
    ({"Effect": "Allow", "Action": ["s3:GetObject", "s3:Get*"], "Resource": "arn:aws:s3:::b/*"},
     "wildcard action s3:Get*"),
    ({"Effect": "Allow", "Action": "s3:?etObject", "Resource": "arn:aws:s3:::b/*"},
     "wildcard action s3:?etObject"),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b/*"}, "NotAction"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"},
     "NotResource"),
    ({"Effect": "Allow", "Action": "GetObject", "Resource": "arn:aws:s3:::b/*"}, "malformed"),
    ({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "arn:q"},
     "any principal"),
    ({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "sqs:SendMessage",
      "Resource": "arn:q"}, "any principal"),
    ({"Effect": "Allow", "Action": {"Ref": "Bucket"}, "Resource": "arn:q"}, "not a literal"),
])
def test_wildcard_actions_are_flagged(statement: dict[str, Any], expected: str) -> None:
    problems = action_problems(statements(_role(statement)))
    assert any(expected in p for p in problems), problems


def test_wildcard_actions_hidden_in_a_condition_branch_are_flagged() -> None:
    hidden = {"Fn::If": ["HasThing", {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:b"},
                         {"Ref": "AWS::NoValue"}]}
    problems = action_problems(statements(_role(hidden)))
    assert problems == ["Bad.Policies[0].PolicyDocument.Statement[0].Fn::If[1]: wildcard action s3:*"]


@pytest.mark.parametrize("resource", ["*", ["arn:aws:s3:::b/*", "*"], {"Fn::Sub": "*"},
                                      {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"},
                                      "arn:aws:sqs:us-east-1:123456789012:*",
                                      {"Fn::If": ["X", "*", {"Ref": "AWS::NoValue"}]}])
def test_undocumented_actions_on_star_are_flagged(resource: Any, documented: set[str]) -> None:
    bad = {"Effect": "Allow", "Action": ["rekognition:DetectLabels", "s3:GetObject"],
           "Resource": resource}
    problems = wildcard_resource_problems(statements(_role(bad)), documented)
    assert len(problems) == 1 and "s3:GetObject on Resource '*'" in problems[0], problems


def test_documented_actions_on_a_named_resource_are_not_wildcards(documented: set[str]) -> None:
    scoped = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/uploads/*"}
    assert wildcard_resource_problems(statements(_role(scoped)), documented) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"Resource": "*"}, "* is a wildcard"),
    ({"Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}}, "wildcard"),
    ({"Resource": "arn:aws:iam::123456789012:user/someone"}, "is no role ARN"),
    ({"Resource": {"Ref": "Bucket"}}, "Ref Bucket is no role ARN parameter"),
    ({"Resource": {"Ref": "Target"}}, "role's name, not its ARN"),
    ({"Resource": {"Fn::GetAtt": ["Target", "RoleId"]}}, "GetAtt Target.RoleId"),
    ({"Resource": [{"Ref": "BackupRoleArn"},
                   {"Fn::If": ["X", "*", {"Ref": "AWS::NoValue"}]}]}, "* is a wildcard"),
    ({"Resource": []}, "without a Resource"),
    ({"Condition": None}, "without an iam:PassedToService"),
    ({"Condition": {"StringLike": {"iam:PassedToService": "*"}}}, "without an iam:PassedToService"),
    ({"Condition": {"StringEquals": {"iam:PassedToService": "*.amazonaws.com"}}},
     "without an iam:PassedToService"),
])
def test_unscoped_pass_role_is_flagged(change: dict[str, Any], expected: str) -> None:
    statement = {**copy.deepcopy(GOOD_PASS), **change}
    document = _role(statement)
    problems = passrole_problems(statements(document), document)
    assert any(expected in p for p in problems), problems


def test_scoped_pass_role_passes() -> None:
    for resource in ({"Ref": "BackupRoleArn"}, {"Fn::GetAtt": ["Target", "Arn"]},
                     {"Fn::GetAtt": "Target.Arn"},
                     {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/exporter"}):
        document = _role({**GOOD_PASS, "Resource": resource})
        assert passrole_problems(statements(document), document) == [], resource


def test_extra_managed_policies_and_loose_permissions_are_flagged(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    role = broken["Resources"]["OpsFunctionRole"]["Properties"]
    role["ManagedPolicyArns"].append("arn:aws:iam::aws:policy/AdministratorAccess")
    role["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
    broken["Resources"]["LoosePermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:*", "FunctionName": {"Ref": "OpsFunction"}, "Principal": "*"}}
    problems = managed_policy_problems(broken) + permission_problems(broken)
    assert problems == [
        "OpsFunctionRole: managed policy arn:aws:iam::aws:policy/AdministratorAccess",
        f"OpsFunctionRole: {ALLOWED_MANAGED} attached without HasVpc",
        "LoosePermission: permission for 'lambda:*'",
        "LoosePermission: permission for principal '*'",
        "LoosePermission: permission without SourceArn",
    ]


def test_a_bad_statement_in_the_real_template_is_caught(template: dict[str, Any],
                                                       documented: set[str]) -> None:
    """The whole check, end to end, on the real template with one statement loosened."""
    broken = copy.deepcopy(template)
    policies = broken["Resources"]["RoutesRole"]["Properties"]["Policies"]
    imaging = next(p for p in policies if isinstance(p, dict) and p.get("PolicyName") == "imaging")
    listing = next(s for s in imaging["PolicyDocument"]["Statement"]
                   if s["Action"] == "s3:ListBucket")
    labels = next(s for s in imaging["PolicyDocument"]["Statement"]
                  if s.get("Sid") == "RekognitionHasNoResourceLevelPermissions")
    listing["Action"] = "s3:*"
    labels["Action"] = ["rekognition:DetectLabels", "rekognition:DeleteCollection"]
    problems = all_problems(broken, documented)
    assert len(problems) == 2, problems
    assert "wildcard action s3:*" in problems[0]
    assert "rekognition:DeleteCollection on Resource '*'" in problems[1]
