"""``opsfn incident-targets``: the targets document is checked with the actions' own model."""

from __future__ import annotations

import io
import json

import pytest

from opsfn.tooling.cli import main


def run(document: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(document))
    return main(["incident-targets", "-"])


def test_valid_document_lists_targets(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    document = {"api": {"kind": "ecs", "cluster": "prod", "service": "api-svc", "maxCount": 4},
                "cache": {"kind": "elasticache", "replicationGroupId": "rg", "ladder": ["a", "b"],
                          "clearStrategy": "reboot"}}
    assert run(json.dumps(document), monkeypatch) == 0
    assert capsys.readouterr().out.splitlines() == [
        "api\tecs\tprod/api-svc (max 4)", "cache\telasticache\trg (scale node_type, clear reboot)"]


@pytest.mark.parametrize(("document", "message"), [
    ('{"api": {"kind": "ecs", "cluster": "prod"}}', "error: api.ecs.service: Field required"),
    ('{"c": {"kind": "elasticache", "replicationGroupId": "rg", "ladder": ["a"]}}',
     "clearStrategy flush needs a redis endpoint"),
    ("not json", "error: (document): not valid JSON"),
])
def test_invalid_document_names_the_field(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], document: str,
                                          message: str) -> None:
    assert run(document, monkeypatch) == 2
    assert message in capsys.readouterr().err
