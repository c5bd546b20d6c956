"""checkov on the SAM templates (opsfn's and the clinic-app example's): no failed check, and each
skip in a resource's Metadata is a check that applies there, with its reason.

checkov leaves out the resources whose Condition is false with the parameters' defaults, so
opsfn's template is checked a second time with the strict options on (a customer-managed key,
S3 server access logs, the backup plan, API access logs). checkov runs once per session
(``--framework cloudformation`` only), from its own environment (tests/checkov_env.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opsfn.tooling.template_reader import load_template
from tests import checkov_env

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [ROOT / "infra" / "template.yaml", ROOT / "examples" / "clinic-app" / "template.yaml"]


STRICT = {"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
          "ServerAccessLogs": "On", "TableBackups": "On", "ApiAccessLogs": "On"}


def _strict_copy(directory: Path) -> Path:
    """opsfn's template with the strict options as the parameters' defaults (JSON, as checkov
    reads it too)."""
    template = load_template(TEMPLATES[0])
    for name, value in STRICT.items():
        template["Parameters"][name]["Default"] = value
    path = directory / "strict-template.json"
    path.write_text(json.dumps(template))
    return path


def _which(file_path: str) -> str:
    return "example" if "clinic-app" in file_path else "opsfn"


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    found = checkov_env.checkov()
    if found is None:
        pytest.skip(checkov_env.MISSING)
    templates = [*TEMPLATES, _strict_copy(tmp_path_factory.mktemp("checkov"))]
    args = [arg for template in templates for arg in ("-f", str(template))]
    result = subprocess.run([str(found), *args, "--framework", "cloudformation", "--output", "json",
                             "--compact", "--skip-download"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.stdout.strip(), result.stderr[-4000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


def _declared_skips() -> set[tuple[str, str, str]]:
    """(template, check, resource) of every checkov skip the templates declare."""
    skips: set[tuple[str, str, str]] = set()
    for template in TEMPLATES:
        for name, resource in load_template(template)["Resources"].items():
            for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
                assert len(str(skip.get("comment", "")).split()) >= 8, (name, skip)
                skips.add((_which(str(template)), skip["id"], f"{resource['Type']}.{name}"))
    return skips


def test_checkov_fails_no_check(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for c in results["failed_checks"]]
    assert failed == []
    assert checkov_report["summary"]["parsing_errors"] == 0


def test_every_skip_is_a_check_that_applies_with_a_reason(checkov_report: dict[str, Any]) -> None:
    skipped = {(_which(c["file_path"]), c["check_id"], c["resource"])
               for c in checkov_report["results"]["skipped_checks"]}
    assert skipped == _declared_skips()
