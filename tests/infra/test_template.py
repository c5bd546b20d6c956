"""The SAM template: cfn-lint clean, transformable by SAM, the operations rules held, scoped IAM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from opsfn.handler import app
from opsfn.tooling.infra_check import check
from opsfn.tooling.template_reader import declared_triggers, key_filter

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
README = ROOT / "infra" / "README.md"


def test_cfn_lint_reports_nothing() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_sam_transform_produces_every_trigger(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    by_type: dict[str, list[str]] = {}
    for name, res in resources.items():
        by_type.setdefault(res["Type"], []).append(name)
    functions = [resources[n] for n in by_type["AWS::Lambda::Function"]]
    assert len(functions) == 1
    props = functions[0]["Properties"]
    assert props["Handler"] == "opsfn.handler.lambda_handler"
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    schedules = {resources[n]["Properties"]["Name"] for n in by_type["AWS::Scheduler::Schedule"]}
    assert schedules == set(app.registry.schedules)
    assert {"rotate-ssl-materials", "database-auto-stop", "export-rds-snapshot", "sync-efs-to-s3",
            "etl-scheduled-run"} <= schedules
    mapping = resources[by_type["AWS::Lambda::EventSourceMapping"][0]]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    invoke_config = resources[by_type["AWS::Lambda::EventInvokeConfig"][0]]["Properties"]
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    routes = {resources[n]["Properties"]["RouteKey"] for n in by_type["AWS::ApiGatewayV2::Route"]} \
        if "AWS::ApiGatewayV2::Route" in by_type else set()
    api_body = json.dumps(resources["HttpApi"]["Properties"].get("Body", {}))
    for route in app.registry.routes:
        if route.source == "http":
            method, path = route.label.split(" ", 1)
            assert f"{method} {path}" in routes or f'"{path}"' in api_body
    custom = {res["Type"] for res in resources.values() if res["Type"].startswith("Custom::")}
    assert custom == {"Custom::SslMaterials", "Custom::SmtpCredential",
                      "Custom::ActiveReceiptRuleSet"}
    for res in resources.values():  # the published alias (SnapStart snapshots versions)
        if res["Type"].startswith("Custom::"):
            assert res["Properties"]["ServiceToken"] == {"Ref": "OpsFunctionAliaslive"}


def test_tables_buckets_and_queue_shapes(template: dict[str, Any]) -> None:
    res = template["Resources"]
    keys = {name: (r["Properties"]["KeySchema"][0]["AttributeName"],
                   (r["Properties"].get("TimeToLiveSpecification") or {}).get("AttributeName"))
            for name, r in res.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert keys == {"JobsTable": ("jobId", "ttl"), "IdempotencyTable": ("id", "expiration"),
                    "LocksTable": ("lockId", "expiresAt"), "AuditTable": ("auditId", None)}
    for name, r in res.items():
        if r["Type"] == "AWS::S3::Bucket":
            props = r["Properties"]
            assert props["BucketEncryption"], name
            assert all(props["PublicAccessBlockConfiguration"].values()), name
    upload = res["UploadBucket"]["Properties"]
    assert upload["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"] == ["GET", "POST", "PUT"]
    rules = upload["LifecycleConfiguration"]["Rules"]
    assert any(r["Prefix"] == "uploads/" and r["ExpirationInDays"] for r in rules)
    from opsfn.routes.etl.settings import EtlSettings

    quarantine = EtlSettings.fields()["quarantine_prefix"].default
    landing_rules = res["LandingBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("Prefix") == quarantine and r.get("ExpirationInDays") == {
        "Ref": "QuarantineExpiryDays"} for r in landing_rules)  # quarantined files may hold PHI
    assert res["ActionQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ActionDeadLetterQueue", "Arn"]}


def test_environment_uses_only_setting_names(template: dict[str, Any]) -> None:
    from opsfn.core.settings import setting_variables

    known = {name for name, _, _ in setting_variables()}
    env = declared_triggers(template).env
    assert {name for name in env if not name.startswith("POWERTOOLS_")} <= known
    assert {"UPLOAD_BUCKET", "TABLE_NAME", "LOCK_TABLE", "AUDIT_TABLE", "IDEMPOTENCY_TABLE",
            "OPSFN_ACTION_QUEUE", "ALERT_TOPIC_ARN"} <= set(env)


def test_the_template_follows_the_operations_rules() -> None:
    """Its events, environment and route IAM are generated (tests/infra/test_generate.py); the
    rest follows the rules no route can say."""
    assert check(app, TEMPLATE) == []


def test_key_filter_round_trips() -> None:
    assert key_filter("uploads/", "") == [{"prefix": "uploads/"}]
    assert key_filter("", ".json") == [{"suffix": ".json"}]
    assert key_filter("a*b/", ".json") == [{"wildcard": "a\\*b/*.json"}]
    assert key_filter("", "") is None


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Effect" in value and "Action" in value:
                found.append(value)
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(template["Resources"]["OpsFunctionRole"]["Properties"]["Policies"])
    walk(template["Resources"]["RoutesRole"]["Properties"]["Policies"])
    return found


def test_wildcard_resources_are_the_documented_ones(template: dict[str, Any]) -> None:
    wildcard = {s["Sid"]: s["Action"] for s in _statements(template) if s["Resource"] == "*"}
    assert set(wildcard) == {"RekognitionHasNoResourceLevelPermissions",
                             "SesReceiptRuleSetsHaveNoResourceLevelPermissions",
                             "ExportTasksHaveNoResourceLevelPermissions",
                             "BackupJobStatusHasNoResourceLevelPermissions",
                             "DataSyncCreateAndListHaveNoResourceLevelPermissions",
                             "ConnectionsMetricHasNoResourceLevelPermissions",
                             "XRayHasNoResourceLevelPermissions"}
    docs = README.read_text()
    for actions in wildcard.values():
        for action in [actions] if isinstance(actions, str) else actions:
            assert f"`{action}`" in docs, f"{action} is granted on * but not listed in the README"
    for statement in _statements(template):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        assert not any(a.endswith(":*") or a == "*" for a in actions), statement


def test_memory_and_timeout_are_explained(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["FunctionMemory"]["Default"] >= 1024
    assert re.search(r"DICOM", params["FunctionMemory"]["Description"])
    assert params["FunctionTimeout"]["Default"] == 900


def test_sam_build_target_matches_the_function(template: dict[str, Any]) -> None:
    function = declared_triggers(template).function
    assert template["Resources"][function]["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "infra" / "Makefile").read_text()
    assert f"build-{function}:" in makefile
    assert "opsfn.tooling.packaging --arch arm64" in makefile
