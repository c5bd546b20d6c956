"""Hostile names, keys and paths through the real sources; oversize bodies on every HTTP route.

Every place a caller's text can reach an object key or a file path is aimed at with traversal
(``../``, ``..\\``, ``%2e%2e%2f``), absolute paths, NUL and control characters, Unicode look-alikes
(fullwidth solidus, division slash, right-to-left override, one-dot leader) and overlong names. Each
is either refused (a 4xx with the field path over HTTP, a typed error elsewhere) and writes nothing,
or, where the design never puts the caller's text into a key (uploads are keyed by jobId, quarantined
files by event id), the bucket, the job record, the replies and the log lines are inspected to show
that none of it got through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsfn import testing as t
from opsfn.core.app import App
from opsfn.core.router import HttpSpec, Route
from opsfn.errors import OpsfnError, RecordsFailed, ValidationFailed
from opsfn.handler import app as real_app
from opsfn.routes.imaging import router as imaging_router
from opsfn.routes.imaging.uploads import sanitise_name
from opsfn.services import aws
from opsfn.testing import Client
from tests.exports.conftest import aws_env, bucket_keys, tree  # noqa: F401 - fixtures
from tests.imaging.conftest import BUCKET, TABLE, make_resources, png_bytes
from tests.operator_fixtures import Inbox, inbox, tables  # noqa: F401 - fixtures

MARK = "QZXMRN"  # in every hostile name, so a leak anywhere is found by one substring
HTTP_SHAPES = ("http_v1", "http_v2", "function_url", "alb")
UUID_KEY = re.compile(r"(uploads|converted)/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                      r"-[0-9a-f]{12}/(original|image\.png|labels\.jpg)")
SAFE_DISPLAY = re.compile(r"[\w.\- ()\[\]+,]+")
LOOK_ALIKES = "\uff0f\u2215\u202e\u2024\u200b\ufeff\uff3c\u2044"

# name -> True when it must be refused outright (it is a path trick, not just an odd name).
HOSTILE: dict[str, tuple[str, bool]] = {
    "dotdot-slash": (f"../../etc/{MARK}.png", True),
    "dotdot-backslash": (f"..\\..\\windows\\{MARK}.png", True),
    "encoded-dotdot": (f"%2e%2e%2f%2e%2e%2f{MARK}.png", False),
    "absolute": (f"/etc/passwd{MARK}.png", True),
    "drive": (f"C:\\{MARK}.png", True),
    "nul": (f"a\x00{MARK}.png", True),
    "control": (f"a\x1b[2J\r\n{MARK}.png", True),
    "del": (f"a\x7f{MARK}.png", True),
    "c1-control": (f"a\x85{MARK}.png", True),
    "fullwidth-solidus": (f"\uff0e\uff0e\uff0f{MARK}.png", False),
    "division-slash": (f"etc\u2215{MARK}.png", False),
    "rtl-override": (f"{MARK}\u202egnp.exe", False),
    "one-dot-leader": (f"\u2024\u2024\u2215{MARK}.png", False),
    "zero-width": (f"\u200b\ufeff{MARK}.png", False),
    "overlong": ("a" * 250 + f"{MARK}.png", True),
    "overlong-multibyte": ("\u00e9" * 124 + f"{MARK}.png", True),
    "multi-kb": ("\U0001f600" * 2048 + f"{MARK}.png", True),
}


def _http_event(shape: str, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, binary: bool = False) -> dict[str, Any]:
    factories: dict[str, Callable[..., dict[str, Any]]] = {
        "http_v1": t.http_v1_event, "http_v2": t.http_v2_event,
        "function_url": t.function_url_event, "alb": t.alb_event}
    factory = factories[shape]
    return factory(method, path, body=body, query=query, binary=binary)


def _bucket_keys(bucket: str) -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


def _jobs() -> list[dict[str, Any]]:
    from opsfn.routes.imaging.jobs import from_item

    return [from_item(i) for i in aws.client("dynamodb").scan(TableName=TABLE)["Items"]]


@pytest.fixture
def opsfn_lines(log_lines: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
                ) -> Callable[[], list[str]]:
    """The log lines opsfn itself writes (botocore's debug lines echo requests by design)."""

    def lines() -> list[str]:
        ours = [r for r in caplog.records if r.name.split(".", 1)[0] == "opsfn"]
        assert len(ours) <= len(log_lines())
        from opsfn.core.observability import get_logger

        return [get_logger().registered_formatter.format(r) for r in ours]

    return lines


@pytest.fixture
def imaging(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Client:
    """The imaging routes with their bucket and jobs table in moto."""
    monkeypatch.setenv("UPLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    make_resources()
    return Client(App([imaging_router]))


# -- POST /request-upload: the file name -----------------------------------------------------------
@pytest.mark.parametrize("shape", [*HTTP_SHAPES, "http_v1_base64", "alb_base64"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_upload_names_are_refused_or_never_reach_a_key(
        imaging: Client, shape: str, case: str, opsfn_lines: Callable[[], list[str]]) -> None:
    name, must_refuse = HOSTILE[case]
    body = json.dumps({"fileName": name, "fileType": "image/png"}).encode()
    event = _http_event(shape.removesuffix("_base64"), "POST", "/request-upload", body=body,
                        binary=shape.endswith("_base64"))
    reply = t.parse_http_reply(imaging.handle(event))
    if reply.status != 200:
        assert reply.status == 400, reply.text
        assert [d["loc"] for d in reply.json()["details"]] == ["body.fileName"]
        assert _jobs() == [] and _bucket_keys(BUCKET) == []
    else:
        assert not must_refuse, f"{case} was accepted"
        job_id = reply.json()["jobId"]
        # The upload S3 would accept at the presigned key, then the whole pipeline runs.
        key = reply.json()["uploadPost"]["fields"]["key"]
        aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=png_bytes())
        imaging.s3_put(BUCKET, key)
        results = imaging.get("/get-results", query={"jobId": job_id})
        assert results.json()["status"] == "complete"
        for keyed in _bucket_keys(BUCKET):
            assert UUID_KEY.fullmatch(keyed) and job_id in keyed, keyed
        (job,) = _jobs()
        assert job["fileName"] == sanitise_name(name)
        assert SAFE_DISPLAY.fullmatch(job["fileName"])
        assert not set(job["fileName"]) & set(LOOK_ALIKES + "%\\/:")
        others = {k: v for k, v in job.items() if k != "fileName"}
        for text in (reply.text, results.text, json.dumps(others, default=str)):
            assert MARK not in text and name not in text
    assert not [line for line in opsfn_lines() if MARK in line]


def test_sanitised_names_keep_the_readable_part(imaging: Client) -> None:
    """The accepted look-alikes lose only the look-alike characters, so the check above is real."""
    for name, must_refuse in HOSTILE.values():
        if not must_refuse:
            assert MARK in sanitise_name(name)
            assert not set(sanitise_name(name)) & set(LOOK_ALIKES)


# -- GET /get-results: the jobId query -------------------------------------------------------------
def _job_id_attacks(job_id: str) -> list[str]:
    fullwidth = job_id.translate(str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14"
                                                             "\uff15\uff16\uff17\uff18\uff19"))
    return [
        f"../{job_id}", f"{job_id}/../../etc/passwd", f"..\\{job_id}", f"%2e%2e%2f{job_id}",
        f"/{job_id}", f"C:\\{job_id}", f"{job_id}\x00", f"{job_id}\n", f"\u202e{job_id}",
        job_id.replace("-", "\u2010"), job_id.replace("-", "\uff0f"), fullwidth,
        f"{{{job_id}}}", f"urn:uuid:{job_id}", job_id.replace("-", ""), job_id * 40,
        "\u2024" * 36, "",
    ]


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_hostile_job_ids_are_400_naming_the_query_field(imaging: Client, shape: str) -> None:
    reply = imaging.post("/request-upload", json_body={"fileName": "a.png", "fileType": "image/png"})
    job_id = reply.json()["jobId"]
    for attack in _job_id_attacks(job_id):
        event = _http_event(shape, "GET", "/get-results", query={"jobId": attack})
        answer = t.parse_http_reply(imaging.handle(event))
        assert answer.status == 400, (attack, answer.text)
        assert [d["loc"] for d in answer.json()["details"]] == ["query.jobId"]
        if len(attack) > 3:
            assert attack not in answer.text
    ok = t.parse_http_reply(imaging.handle(_http_event(shape, "GET", "/get-results",
                                                       query={"jobId": job_id})))
    assert ok.status == 200 and ok.json()["jobId"] == job_id


# -- S3 notifications to the upload processor: the object key --------------------------------------
def _key_attacks(job_id: str) -> list[str]:
    return [
        f"uploads/../uploads/{job_id}/original", f"uploads/{job_id}/../{job_id}/original",
        f"uploads/{job_id}/original/../../../etc/passwd", f"uploads/{job_id}/original/..",
        f"uploads/%2e%2e%2f{job_id}/original", f"uploads/{job_id}%2Foriginal%00",
        f"uploads/{job_id}\\original", f"uploads/{job_id}/original\x00",
        f"uploads/{job_id}/original\n", f"uploads/{job_id}\uff0foriginal",
        f"uploads/{job_id}\u2215original", f"uploads/\u202e{job_id}/original",
        f"uploads/{job_id}/original\u2024", f"uploads/{job_id.upper()}/original",
        f"uploads/{job_id}/ORIGINAL", f"uploads//{job_id}/original",
        "uploads/" + "a" * 4096 + f"/{job_id}/original", f"/uploads/{job_id}/original",
    ]


@pytest.mark.parametrize("via", ["direct", "eventbridge", "sqs", "sns", "sns_sqs"])
def test_hostile_upload_keys_never_touch_the_job(imaging: Client, via: str,
                                                 opsfn_lines: Callable[[], list[str]]) -> None:
    reply = imaging.post("/request-upload", json_body={"fileName": "a.png", "fileType": "image/png"})
    job_id = reply.json()["jobId"]
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/original", Body=png_bytes())
    before = _bucket_keys(BUCKET)
    for key in _key_attacks(job_id):
        try:
            outcome = imaging.s3_put(BUCKET, key, via=via)
        except OpsfnError as error:
            assert error.permanent, (key, error.code)
            assert isinstance(error, RecordsFailed | ValidationFailed)
            assert "validation_failed" in error.message or error.code == "validation_failed"
        else:
            if not key.startswith("uploads/"):
                # Outside the route's prefix the route never runs: acknowledged, nothing done.
                assert outcome == {"direct": {"processed": 0, "records": 1},
                                   "eventbridge": {"processed": 0, "records": 1},
                                   "sns": {"processed": 1}}.get(via, {"batchItemFailures": []})
            else:
                assert via in ("sqs", "sns_sqs"), key
                assert len(outcome["batchItemFailures"]) == 1, key
        (job,) = _jobs()
        assert job["status"] == "pending" and "attempts" not in job, key
        assert _bucket_keys(BUCKET) == before
    assert not [line for line in opsfn_lines() if job_id in line and "uploads/" in line]
    # The genuine key does process: the refusals above were about the keys.
    imaging.s3_put(BUCKET, f"uploads/{job_id}/original", via=via)
    assert _jobs()[0]["status"] == "complete"


# -- S3 notifications to the ETL landing route: quarantine keys ------------------------------------
LANDING = "fhir-landing-hostile"


@pytest.mark.parametrize("key", [
    f"landing/../../etc/{MARK}.json", f"landing/..%2f..%2f{MARK}.json",
    f"landing/..\\..\\{MARK}.json", f"landing/{MARK}\u202enosj.exe.json",
    f"landing/\uff0e\uff0e\uff0f{MARK}.json", f"landing/a\u2215\u2024\u2024{MARK}.json",
    "landing/" + "\u00e9" * 400 + f"{MARK}.json",
], ids=["dotdot", "encoded", "backslash", "rtl", "fullwidth", "division-slash", "long"])
def test_hostile_landing_keys_are_quarantined_under_an_event_id(
        tables: None, inbox: Inbox, key: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        opsfn_lines: Callable[[], list[str]]) -> None:
    aws.client("s3").create_bucket(Bucket=LANDING)
    monkeypatch.setenv("LANDING_BUCKET", LANDING)
    monkeypatch.setenv("LANDING_PREFIX", "landing/")
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", "fhir-etl")
    aws.client("s3").put_object(Bucket=LANDING, Key=key, Body=b"not json")
    client = Client(real_app)
    client.s3_put(LANDING, key)
    keys = _bucket_keys(LANDING)
    assert len(keys) == 1 and re.fullmatch(r"quarantine/[0-9a-f]{32}\.json", keys[0]), keys
    messages = inbox.messages()
    assert len(messages) == 1 and MARK not in json.dumps(messages[0])
    assert not [line for line in opsfn_lines() if MARK in line]


# -- sync_efs_to_s3: the key prefix and the shard directory ----------------------------------------
PREFIX_ATTACKS = {
    "dotdot": "../", "dotdot-inner": "efs/../../x/", "backslash": "..\\..\\x", "encoded":
    "%2e%2e%2f", "absolute": "/etc/passwd/", "drive": "C:\\x\\", "nul": "efs\x00/",
    "control": "efs\n/", "rtl": "efs\u202e/", "fullwidth-solidus": "efs\uff0f..\uff0f",
    "division-slash": "efs\u2215x/", "one-dot-leader": "\u2024\u2024/", "dot": "./efs/",
    "empty-segment": "efs//x/", "overlong": "p" * 513, "overlong-bytes": "\u00e9" * 300 + "/",
}


@pytest.mark.parametrize("case", sorted(PREFIX_ATTACKS))
def test_hostile_sync_prefixes_are_refused_and_write_nothing(
        case: str, tree: Path, aws_env: dict[str, str]) -> None:  # noqa: F811
    from opsfn.routes import exports

    client = Client(App([exports.router]), timeout_ms=600_000)
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("sync_efs_to_s3", prefix=PREFIX_ATTACKS[case])
    assert [d["loc"] for d in caught.value.details] == ["payload.prefix"]
    reply = client.sqs([{"action": "sync_efs_to_s3", "prefix": PREFIX_ATTACKS[case]}],
                       queue=aws_env["queue_url"].rsplit("/", 1)[1])
    assert len(reply["batchItemFailures"]) == 1
    assert _bucket_keys(aws_env["bucket"]) == []


def test_plain_sync_prefixes_are_still_accepted(tree: Path, aws_env: dict[str, str]) -> None:  # noqa: F811
    from opsfn.routes import exports

    client = Client(App([exports.router]), timeout_ms=600_000)
    for prefix in ("", "other", "backups/2026-01-01/", "caf\u00e9 (copy)/v1.2/"):
        assert client.invoke("sync_efs_to_s3", prefix=prefix)["failed"] == 0
    assert "backups/2026-01-01/a/y/z.bin" in _bucket_keys(aws_env["bucket"])
    assert "caf\u00e9 (copy)/v1.2/top.txt" in _bucket_keys(aws_env["bucket"])


@pytest.mark.parametrize("shard", ["..", "../outside", "a/../../outside", "/tmp", "outside\x00",
                                   "..\\outside", "\uff0e\uff0e", "\u2024\u2024",
                                   "..\u2215outside", "x" * 256])
def test_hostile_shards_never_read_outside_the_source_root(
        shard: str, tree: Path, aws_env: dict[str, str]) -> None:  # noqa: F811
    from opsfn.routes import exports

    outside = tree.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_bytes(b"outside the root " + MARK.encode())
    client = Client(App([exports.router]), timeout_ms=600_000)
    try:
        reply = client.invoke("sync_efs_to_s3", shard=shard)
    except ValidationFailed as error:
        assert [d["loc"] for d in error.details] == ["payload.shard"]
    except OpsfnError as error:
        assert error.permanent or error.code == "upstream_error", error.code
    else:
        assert reply["uploaded"] == 0
    for key, body in bucket_keys("").items():
        assert MARK.encode() not in body and "outside" not in key, key


# -- TLS materials: the files under SSL_DIR are fixed names -----------------------------------------
@pytest.mark.parametrize("payload", [
    {"path": "../../etc"}, {"SslDir": "/etc"}, {"key_path": "/tmp/x.pem"},
    {"KeyFile": "..\\..\\x"}, {"common_name": "a\x00b"}, {"common_name": "a\nb"},
    {"CommonName": "x" * 65}, {"organization": "\x1b[2J"},
    {"subject_alt_names": ["../../etc/passwd"]}, {"subject_alt_names": ["a\u2215b.example"]},
    {"subject_alt_names": ["\uff0e\uff0e"]}, {"subject_alt_names": "a.example,/etc/passwd"},
])
def test_tls_inputs_name_no_path_and_bad_ones_are_refused(payload: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ssl_dir = tmp_path / "efs" / "ssl"
    ssl_dir.mkdir(parents=True)
    monkeypatch.setenv("SSL_DIR", str(ssl_dir))
    monkeypatch.setenv("SSL_LOCK_WAIT_SECONDS", "0")
    client = Client(real_app)
    with pytest.raises(ValidationFailed) as caught:
        client.invoke("generate_ssl_materials", **payload)
    assert caught.value.details and all(d["loc"].startswith("payload.") for d in caught.value.details)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["efs", "ssl"]
    with t.ResponseURLServer() as server:
        props = {k[:1].upper() + k[1:] if "_" not in k else "".join(
            w.title() for w in k.split("_")): v for k, v in payload.items()}
        client.handle(t.custom_resource_event("Create", "Custom::SslMaterials", props,
                                              response_url=server.url))
        assert [r["body"]["Status"] for r in server.received] == ["FAILED"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["efs", "ssl"]


def test_tls_files_stay_in_the_fixed_layout_whatever_the_names(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Printable but path-like subject text is only certificate text: it names no file."""
    ssl_dir = tmp_path / "efs" / "ssl"
    ssl_dir.mkdir(parents=True)
    monkeypatch.setenv("SSL_DIR", str(ssl_dir))
    reply = Client(real_app).invoke(
        "generate_ssl_materials", common_name="../../../etc/passwd", organization="..\\..\\x",
        organizational_unit="\u202e\uff0f\u2215", key_type="ecdsa-p256")
    assert reply["regenerated"] is True
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["efs/ssl/certs/selfsigned.cert.pem", "efs/ssl/certs/webserver.cert.pem",
                       "efs/ssl/docker-selfsigned-configured", "efs/ssl/private/selfsigned.key.pem",
                       "efs/ssl/private/webserver.key.pem"]
    assert set(reply["paths"].values()) == {str(tmp_path / p) for p in written}


# -- oversize bodies on every HTTP route and every HTTP shape --------------------------------------
LIMIT = 1000


def _recording() -> tuple[App, list[str]]:
    calls: list[str] = []
    app = App()
    for route in real_app.registry.routes:
        if isinstance(route.spec, HttpSpec):
            def recorder(label: str = route.label) -> None:
                calls.append(label)

            app._add(Route(route.source, route.spec, recorder))
    return app, calls


def _bodies() -> dict[str, tuple[Any, bool]]:
    """Bodies just over the limit: plain, base64 and multi-byte (few characters, many bytes)."""
    over = {"fileName": "a.png", "fileType": "image/png", "pad": "x" * LIMIT}
    return {"json": (json.dumps(over), False), "base64": (json.dumps(over).encode(), True),
            "multibyte": (json.dumps({"pad": "\u20ac" * (LIMIT // 3 + 1)}, ensure_ascii=False),
                          False),
            "huge": ("{" + " " * (LIMIT * 1024) + "}", False),
            "just-over": (" " * (LIMIT + 1), False)}


@pytest.mark.parametrize("shape", HTTP_SHAPES)
@pytest.mark.parametrize("body", sorted(_bodies()))
def test_oversize_bodies_are_413_on_every_route_and_run_nothing(
        shape: str, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", str(LIMIT))
    app, calls = _recording()
    data, binary = _bodies()[body]
    for route in app.registry.routes:
        assert isinstance(route.spec, HttpSpec)
        event = _http_event(shape, route.spec.method, route.spec.path, body=data, binary=binary)
        reply = t.parse_http_reply(app(event, t.FakeLambdaContext()))
        assert reply.status == 413, (route.label, reply.status)
        assert reply.json()["error"] == "payload_too_large"
    assert calls == []


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_a_body_at_the_limit_is_not_refused_for_its_size(shape: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The boundary is the limit itself, so the 413s above are about size."""
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", str(LIMIT))
    app, calls = _recording()
    head = json.dumps({"pad": ""})
    at_limit = json.dumps({"pad": "x" * (LIMIT - len(head))})
    assert len(at_limit.encode()) == LIMIT
    for binary in (False, True):
        event = _http_event(shape, "POST", "/request-upload",
                            body=at_limit.encode() if binary else at_limit, binary=binary)
        assert t.parse_http_reply(app(event, t.FakeLambdaContext())).status == 204
    assert calls == ["POST /request-upload", "POST /request-upload"]


@pytest.mark.parametrize("shape", HTTP_SHAPES)
def test_oversize_upload_request_writes_nothing(imaging: Client, shape: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSFN_MAX_BODY_BYTES", str(LIMIT))
    body = {"fileName": "a.png", "fileType": "image/png", "pad": "x" * LIMIT}
    reply = imaging.post("/request-upload", json_body=body, shape=shape)
    assert reply.status == 413
    assert _jobs() == [] and _bucket_keys(BUCKET) == []
    event = _http_event(shape, "POST", "/request-upload", body=json.dumps(body).encode(),
                        binary=True)
    assert t.parse_http_reply(imaging.handle(event)).status == 413
    assert _jobs() == [] and _bucket_keys(BUCKET) == []


def test_hostile_name_cases_cover_the_brief() -> None:
    """Each class of trick named in the hardening brief has a case, so none is dropped silently."""
    names = "".join(name for name, _ in HOSTILE.values())
    for needle in ("../", "..\\", "%2e%2e%2f", "/etc/passwd", "C:\\", "\x00", "\uff0f", "\u2215",
                   "\u202e", "\u2024", "\x1b"):
        assert needle in names, repr(needle)
    assert max(len(n.encode()) for n, _ in HOSTILE.values()) > 4096
    assert any(255 < len(n.encode()) < 300 for n, _ in HOSTILE.values())
