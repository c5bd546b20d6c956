"""cdk-nag's AwsSolutions and HIPAA.Security packs on the example app: every finding on the opsfn
construct is fixed or acknowledged with a reason, with the options off and with the strict ones on.

The app runs as an operator would run it with ``-c nag=true`` (the packs as CDK policy-validation
plugins). Its stand-ins for the OpenEMR stack (network, database, secrets, SMTP user) are that
stack's to answer, so only findings under the construct's path count here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import APP, STACK, cdk_missing, node_environment

CONSTRUCT = f"{STACK}/Ops/"


def _findings(report: dict[str, Any]) -> list[str]:
    """``rule at path`` for every violation the packs reported (errors and warnings alike)."""
    return sorted(f"{violation['ruleName']} ({violation['severity']}) at {found['constructPath']}"
                  for plugin in report["pluginReports"] for violation in plugin["violations"]
                  for found in violation["violatingConstructs"])


def _synth_with_packs(out: Path, lambda_tree: Path, **context: str) -> list[str]:
    reason = cdk_missing()
    if reason:
        pytest.skip(reason)
    if importlib.util.find_spec("cdk_nag") is None:
        pytest.skip("cdk-nag is not installed (pip install -e '.[dev]')")
    env = {**node_environment(), "CDK_OUTDIR": str(out), "OPSFN_CDK_CODE": str(lambda_tree),
           "CDK_CONTEXT_JSON": json.dumps({"nag": "true", **context})}
    env.pop("CDK_CONTEXT_JSON_PATH", None)
    result = subprocess.run([sys.executable, str(APP)], cwd=APP.parent, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    report = out / "validation-report.json"
    if result.returncode != 0 and not report.is_file():
        pytest.fail(result.stderr[-4000:])  # a failure of the app, not of the packs
    if not report.is_file():
        return []  # no finding anywhere: the packs wrote no report
    return _findings(json.loads(report.read_text()))


def _acknowledged(out: Path) -> dict[str, set[str]]:
    """The rules acknowledged on each construct path, from the assembly's metadata."""
    metadata = json.loads((out / f"{STACK}.metadata.json").read_text())
    return {path: {rule for entry in entries if entry["type"] == "aws:cdk:acknowledged-rules"
                   for rule in entry["data"]} for path, entries in metadata.items()}


@pytest.mark.parametrize("strict", ["false", "true"], ids=["defaults", "strict"])
def test_rule_packs_find_nothing_unanswered_on_the_construct(
        strict: str, lambda_tree: Path, tmp_path: Path) -> None:
    findings = _synth_with_packs(tmp_path / "cdk.out", lambda_tree, strict=strict)
    assert [f for f in findings if CONSTRUCT in f] == []
    # the packs did run: the stand-ins' findings (a VPC without flow logs) are reported
    assert any(f.startswith("AwsSolutions-VPC7") for f in findings), findings
    # a reason is given only where it is true: the recoverable tables are not called short-lived
    acknowledged = _acknowledged(tmp_path / "cdk.out")
    for table in ("JobsTable", "AuditTable"):
        assert not any("DDB3" in rule for rule in acknowledged.get(f"/{CONSTRUCT}{table}/Resource",
                                                                   set()))
    assert any("DDB3" in rule for rule in acknowledged[f"/{CONSTRUCT}LocksTable/Resource"])


def test_every_acknowledgement_has_a_reason() -> None:
    from opsfn.cdk import nag, nag_iam

    reasons = [nag_iam.INLINE, nag.UNVERSIONED, nag.KMS_OPTION, nag.DLQ_REASON, nag.RUNTIME_REASON,
               *nag_iam.MANAGED_POLICIES.values(), *(reason for _, reason in nag_iam.RESOURCE_KINDS)]
    assert all(len(r.split()) >= 8 for r in reasons), reasons


def test_only_explained_wildcards_are_acknowledged() -> None:
    """A wildcard of a kind the module does not explain stays a finding for someone to review."""
    from opsfn.cdk.nag_iam import wildcard_reasons

    prefix = {"Fn::Join": ["", [{"Fn::GetAtt": ["ArchiveBucket1234", "Arn"]}, "/efs/*"]]}
    document = {"Statement": [
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": prefix},
        {"Effect": "Allow", "Action": ["s3:GetObject", "rekognition:DetectLabels"], "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other-*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ]}
    found = dict(wildcard_reasons(document))
    # one statement on * has an action with a resource type: nag's one Resource::* stays open
    assert set(found) == {"Resource::<ArchiveBucket1234.Arn>/efs/*"}
    alone = dict(wildcard_reasons({"Statement": document["Statement"][:2]}))
    assert set(alone) == {"Resource::*", "Resource::<ArchiveBucket1234.Arn>/efs/*"}
    assert "xray:PutTraceSegments" in alone["Resource::*"]


def test_account_wide_wildcards_only_for_reads() -> None:
    from opsfn.cdk.nag_iam import wildcard_reasons

    snapshots = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":rds:", {"Ref": "AWS::Region"},
                                   ":", {"Ref": "AWS::AccountId"}, ":cluster-snapshot:*"]]}
    finding = "Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:cluster-snapshot:*"
    reads = {"Effect": "Allow", "Action": ["rds:DescribeDBClusterSnapshots"], "Resource": snapshots}
    assert set(dict(wildcard_reasons({"Statement": [reads]}))) == {finding}
    deletes = {"Effect": "Allow", "Action": "rds:DeleteDBClusterSnapshot", "Resource": snapshots}
    assert dict(wildcard_reasons({"Statement": [reads, deletes]})) == {}
