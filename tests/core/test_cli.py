"""The opsfn command: routes, explain, invoke (in process and remote), schema, openapi, settings."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from opsfn import testing as t
from opsfn.handler import app
from opsfn.services import aws
from opsfn.tooling.cli import main, parse_payload


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_routes_table_lists_every_route(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "routes", "--json")
    rows = json.loads(out)
    assert code == 0
    assert len(rows) == len(app.registry.routes)
    assert {"source": "action", "key": "action:health", "auth": "-",
            "handler": "opsfn.routes.health.health_action", "input": "-"} in rows
    code, out, _ = run_cli(capsys, "routes")
    assert code == 0 and "SOURCE" in out.splitlines()[0] and "GET /health" in out
    assert "AUTH" in out.splitlines()[0]


@pytest.mark.parametrize(("event", "expected"), [
    (t.http_v2_event("GET", "/health"), ["kind: http_v2", "route: GET /health"]),
    ({"action": "health"}, ["kind: invoke", "route: action:health"]),
    ({"action": "nope"}, ["kind: invoke", "route: none (unknown action 'nope'"]),
    (t.schedule_event("no-such-schedule"), ["kind: schedule", "route: none"]),
    ({"Records": [{"eventSource": "aws:dynamodb"}]}, ["kind: none (unsupported event"]),
    (t.sqs_event([{"action": "health"}], queue="q"), ["kind: sqs", "not reachable from queues"]),
    (t.ses_event(["m1", "m2"]), ["kind: ses", "messages: 2",
                                 "route: ses:receipt -> opsfn.routes.ses.relay.relay_inbound_mail"]),
])
def test_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], event: dict[str, Any],
                 expected: list[str]) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    _, out, _ = run_cli(capsys, "explain", str(path))
    for fragment in expected:
        assert fragment in out


def test_explain_an_empty_event_follows_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.json"
    path.write_text("{}")
    monkeypatch.delenv("OPSFN_EMPTY_EVENT_ACTION", raising=False)
    code, out, _ = run_cli(capsys, "explain", str(path))
    assert code == 1 and "kind: none (unsupported event: empty event" in out
    monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", "database_status")
    code, out, _ = run_cli(capsys, "explain", str(path))
    assert code == 0 and "kind: invoke" in out and "route: action:database_status" in out
    monkeypatch.setenv("OPSFN_EMPTY_EVENT_ACTION", "nope")
    code, out, _ = run_cli(capsys, "explain", str(path))
    assert code == 1 and "OPSFN_EMPTY_EVENT_ACTION" in out


def test_explain_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, junk = tmp_path / "g.json", tmp_path / "b.json", tmp_path / "j.json"
    good.write_text(json.dumps({"action": "health"}))
    bad.write_text(json.dumps({"hello": 1}))
    junk.write_text("not json")
    assert run_cli(capsys, "explain", str(good))[0] == 0
    assert run_cli(capsys, "explain", str(bad))[0] == 1
    assert run_cli(capsys, "explain", str(junk))[0] == 1


def test_invoke_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "invoke", "health")
    assert code == 0 and json.loads(out)["status"] == "ok"
    code, _, err = run_cli(capsys, "invoke", "no_such_action", "x=1")
    assert code == 1 and "NotFound" in err


def test_payload_parsing() -> None:
    assert parse_payload('{"a": 1}', ["b=2", "c=text", 'd={"x": [1]}', "e="]) == {
        "a": 1, "b": 2, "c": "text", "d": {"x": [1]}, "e": ""}
    with pytest.raises(SystemExit):
        parse_payload("[1]", [])
    with pytest.raises(SystemExit):
        parse_payload(None, ["novalue"])


def _stub_invoke(payload: dict[str, Any], function_error: str | None) -> Stubber:
    client = aws.client("lambda")
    stubber = Stubber(client)
    raw = json.dumps(payload).encode()
    reply: dict[str, Any] = {"StatusCode": 200,
                             "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    if function_error:
        reply["FunctionError"] = function_error
    stubber.add_response("invoke", reply, {
        "FunctionName": "opsfn-prod", "InvocationType": "RequestResponse",
        "Payload": json.dumps({"action": "health", "verbose": True}).encode()})
    stubber.activate()
    return stubber


def test_invoke_remote_function(capsys: pytest.CaptureFixture[str]) -> None:
    with _stub_invoke({"status": "ok"}, None) as stubber:
        code, out, _ = run_cli(capsys, "invoke", "health", "verbose=true", "--function",
                               "opsfn-prod")
        stubber.assert_no_pending_responses()
    assert code == 0 and json.loads(out) == {"status": "ok"}


def test_invoke_remote_typed_error(capsys: pytest.CaptureFixture[str]) -> None:
    error = {"errorType": "ValidationFailed", "errorMessage": "invalid payload"}
    with _stub_invoke(error, "Unhandled"):
        code, _, err = run_cli(capsys, "invoke", "health", "verbose=true", "--function",
                               "opsfn-prod")
    assert code == 1 and "ValidationFailed: invalid payload" in err


def test_schema_and_openapi(capsys: pytest.CaptureFixture[str]) -> None:
    from openapi_spec_validator import validate

    code, out, _ = run_cli(capsys, "schema")
    schemas = json.loads(out)
    assert code == 0 and set(schemas) == set(app.registry.actions)
    code, out, _ = run_cli(capsys, "schema", "health")
    assert code == 0 and json.loads(out) == {"type": "object"}
    assert run_cli(capsys, "schema", "nope")[0] == 1
    code, out, _ = run_cli(capsys, "openapi")
    document = json.loads(out)
    validate(document)
    assert "/health" in document["paths"]
    # Each operation names its security: none for the public page routes, a scheme otherwise.
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/request-upload"]["post"]["security"] == []
    assert document["paths"]["/database/start"]["post"]["security"] == [{"sigv4": []}, {"jwt": []}]
    assert set(document["components"]["securitySchemes"]) == {"sigv4", "jwt"}


def test_openapi_follows_the_default_authorizer(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_DEFAULT_AUTH", "jwt")
    document = json.loads(run_cli(capsys, "openapi")[1])
    assert document["paths"]["/database/status"]["get"]["security"] == [{"jwt": []}]
    assert "401" in document["paths"]["/database/status"]["get"]["responses"]


def test_openapi_states_what_the_routes_enforce(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(run_cli(capsys, "openapi")[1])
    results = document["paths"]["/get-results"]["get"]
    [job_id] = results["parameters"]
    assert job_id["required"] and job_id["schema"]["format"] == "uuid"
    assert job_id["schema"]["minLength"] == job_id["schema"]["maxLength"] == 36
    # Every error status a route can answer, with the body opsfn.errors gives it.
    assert set(results["responses"]) == {"200", "400", "404", "405", "409", "413", "422", "500",
                                         "502", "504"}
    assert "Allow" in results["responses"]["405"]["headers"]
    assert results["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    status = document["paths"]["/database/status"]["get"]["responses"]
    assert "401" in status and "401" not in results["responses"]
    assert "2XX" in document["paths"]["/database/start"]["post"]["responses"]  # a Response
    upload = document["paths"]["/request-upload"]["post"]["responses"]["200"]
    assert upload["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadReply"}
    assert "jobId" in document["components"]["schemas"]["UploadReply"]["properties"]


def test_the_upload_schema_agrees_with_the_model() -> None:
    """The request schema's patterns and its cross-field rule accept what UploadRequest does."""
    import jsonschema
    from pydantic import ValidationError

    from opsfn.routes.imaging.uploads import UploadRequest

    schema = UploadRequest.model_json_schema()
    bodies = [
        {"fileName": "scan.dcm", "fileType": ""}, {"fileName": "x.DICOM"},
        {"fileName": "a.png", "fileType": " IMAGE/PNG\u2003"},
        {"fileName": "x.dcm", "fileType": "application/octet-stream", "fileSize": 3},
        {"fileName": "0", "fileType": ""}, {"fileName": "0"}, {"fileName": "a.exe", "fileType": "image/gif"},
        {"fileName": "a..png", "fileType": "image/png"}, {"fileName": "a/b.png", "fileType": "image/png"},
        {"fileName": "a\x85.png", "fileType": "image/png"}, {"fileName": " \u3000", "fileType": "image/png"},
        {"fileName": "\u00e9" * 127, "fileType": "image/png"},
        {"fileName": "a" * 255, "fileType": "image/png"},
        {"fileName": "a" * 256, "fileType": "image/png"}, {"fileName": "a.png", "fileType": "image/png",
                                                          "fileSize": 0},
    ]
    for body in bodies:
        try:
            UploadRequest.model_validate(body)
            accepted = True
        except ValidationError:
            accepted = False
        valid = jsonschema.Draft202012Validator(schema).is_valid(body)
        assert valid == accepted, body


def test_routes_show_the_auth_column(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {row["key"]: row for row in json.loads(run_cli(capsys, "routes", "--json")[1])}
    assert rows["GET /health"]["auth"] == "public"
    assert rows["POST /database/start"]["auth"] == "default"
    assert rows["action:health"]["auth"] == "-"


def test_settings_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "settings", "--markdown")
    assert code == 0 and "| `OPSFN_ACTION_QUEUE` |" in out


def test_every_kind_can_be_explained() -> None:
    from opsfn.events import KINDS
    from opsfn.tooling import introspect

    assert set(introspect._EXPLAINERS) == set(KINDS)
