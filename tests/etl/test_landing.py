"""The ETL project's landing files, written the way its generator writes them, plus bad ones.

The generator (MetricCare ``ingestion/script``) builds resources with ``fhir.resources`` and puts
each category as ONE indented JSON array at ``fhir_data/json/<category>/<category>_<timestamp>.json``
(``json.dumps(data, indent=2)`` of ``json.loads(resource.model_dump_json(exclude_none=True))``).
These tests make the files the same way with the same library, land them in moto, deliver the S3
events and check what starts, what is quarantined, and why (index or line, never content).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from opsfn.core.app import App
from opsfn.errors import DeadlineExceeded, RecordsFailed
from opsfn.routes.etl import fhir_types, validate
from opsfn.services import aws
from opsfn.testing import Client, FakeLambdaContext, s3_event
from tests.operator_fixtures import Inbox

from .test_glue import BUCKET, WORKFLOW, finish_runs, keys, pending, runs

STAMP = "20250101_120000"


@pytest.fixture
def lake(tables: None, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The landing bucket and workflow with the template's defaults (no prefix override)."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("glue").create_workflow(Name=WORKFLOW)
    monkeypatch.setenv("LANDING_BUCKET", BUCKET)
    monkeypatch.setenv("GLUE_WORKFLOW_NAME", WORKFLOW)


# -- the generator's files, made with fhir.resources ------------------------------------------------
def patient(index: int) -> Any:
    from fhir.resources.patient import Patient

    return Patient(id=f"pat-{index}", active=True, gender="female", birthDate="1970-01-01",
                   identifier=[{"use": "usual", "system": "MetricCare-MRN",
                                "value": f"MC-{100000 + index}"}],
                   address=[{"use": "home", "type": "both", "line": [f"{index} Main St"],
                             "city": "Springfield", "state": "NC", "country": "USA"}])


def encounter(index: int) -> Any:
    from fhir.resources.encounter import Encounter

    return Encounter(id=f"enc-{index}", status="completed",
                     subject={"reference": f"Patient/pat-{index}"},
                     actualPeriod={"start": "2025-01-01T08:00:00Z", "end": "2025-01-03T08:00:00Z"},
                     type=[{"text": "Inpatient"}])


def condition(index: int) -> Any:
    from fhir.resources.condition import Condition

    return Condition(id=f"con-{index}", subject={"reference": f"Patient/pat-{index}"},
                     encounter={"reference": f"Encounter/enc-{index}"},
                     clinicalStatus={"text": "active"},
                     code={"coding": [{"code": "233604007", "display": "Pneumonia"}],
                           "text": "Pneumonia"})


def as_json(resource: Any) -> dict[str, Any]:
    """What the generator stores per resource."""
    return dict(json.loads(resource.model_dump_json(exclude_none=True)))


def generator_files(count: int = 3) -> dict[str, bytes]:
    """``{key: body}`` as ``upload_to_S3.json_s3`` writes them: one indented array per category."""
    store = {"patients": [as_json(patient(i)) for i in range(count)],
             "encounters": [as_json(encounter(i)) for i in range(count)],
             "conditions": [as_json(condition(i)) for i in range(count)]}
    return {f"fhir_data/json/{category}/{category}_{STAMP}.json":
            json.dumps(records, indent=2).encode() for category, records in store.items()}


def land(key: str, body: bytes) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)


def quarantined() -> list[dict[str, Any]]:
    s3 = aws.client("s3")
    return [{"key": key, **s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]}
            for key in keys("quarantine/")]


# -- accepted layouts --------------------------------------------------------------------------
def test_the_generators_files_start_one_run_and_carry_their_keys(client: Client, lake: None,
                                                                 inbox: Inbox) -> None:
    files = generator_files()
    for key, body in files.items():
        land(key, body)
        assert validate.check_json([body], 1 << 20) == validate.Verdict("array", 3)
    for key in files:
        client.s3_put(BUCKET, key)
    (run,) = runs()
    assert run["WorkflowRunProperties"]["key"] == "fhir_data/json/patients/patients_20250101_120000.json"
    assert run["WorkflowRunProperties"]["bucket"] == BUCKET
    assert pending() == 2  # coalesced: one running, one pending run for the other two
    finish_runs()
    client.schedule("etl-scheduled-run")
    assert len(runs()) == 2 and pending() == 0
    assert sorted(keys("fhir_data/")) == sorted(files)  # nothing moved
    assert quarantined() == [] and inbox.messages() == []


@pytest.mark.parametrize("layout", ["resource", "bundle", "ndjson"])
def test_single_resources_bundles_and_ndjson_are_accepted(
        client: Client, lake: None, layout: str, log_lines: Callable[[], list[str]]) -> None:
    from fhir.resources.bundle import Bundle

    if layout == "resource":
        key, body = "fhir_data/json/patients/one.json", patient(1).model_dump_json().encode()
    elif layout == "bundle":
        bundle = Bundle(type="collection", entry=[{"resource": patient(1)},
                                                  {"resource": encounter(1)}])
        key, body = "fhir_data/json/bundles/b.json", bundle.model_dump_json(indent=2).encode()
    else:  # bulk data: one resource per line, and a trailing newline
        lines = [r.model_dump_json(exclude_none=True) for r in (patient(1), encounter(1),
                                                                condition(1))]
        key, body = "fhir_data/ndjson/Patient.ndjson", ("\n".join(lines) + "\n").encode()
    land(key, body)
    client.s3_put(BUCKET, key, via="eventbridge")
    assert runs()[0]["WorkflowRunProperties"]["key"] == key
    assert quarantined() == []
    accepted = [json.loads(line) for line in log_lines() if "landing file accepted" in line]
    assert [(a["layout"], a["resources"]) for a in accepted] == [
        (layout, {"resource": 1, "bundle": 3, "ndjson": 3}[layout])]


def test_r4_resources_are_accepted_too(client: Client, lake: None) -> None:
    from fhir.resources.R4B.patient import Patient

    body = json.dumps([json.loads(Patient(id="r4", gender="male").model_dump_json()),
                       {"resourceType": "MedicinalProduct", "id": "r4-only"}]).encode()
    land("fhir_data/json/r4/r4.json", body)
    client.s3_put(BUCKET, "fhir_data/json/r4/r4.json")
    assert len(runs()) == 1 and quarantined() == []


# -- rejected files ------------------------------------------------------------------------------
PHI = "Jane Doe 1970-01-01"  # in bodies and names: never in replies, logs, alerts or keys


def bad_files() -> Iterator[tuple[str, bytes, str, str | None]]:
    """(key, body, reason, first bad entry) for every way a landing file can be wrong."""
    good = as_json(patient(1))
    arr = "fhir_data/json/patients/patients_bad.json"
    nd = "fhir_data/ndjson/bad.ndjson"
    yield arr, json.dumps([good, good, {"id": PHI}, good], indent=2).encode(), \
        "missing_resource_type", "index 2"
    yield arr, json.dumps([good, {"resourceType": "Banana", "name": PHI}]).encode(), \
        "unknown_resource_type", "index 1"
    yield arr, json.dumps([good, 42]).encode(), "not_a_resource", "index 1"
    yield arr, (json.dumps([good]) [:-1] + ', {"name": "' + PHI + '"').encode(), \
        "invalid_json", "index 1"
    yield arr, b"[]", "no_resources", None
    yield "fhir_data/json/one.json", json.dumps({"resourceType": "Banana"}).encode(), \
        "unknown_resource_type", None
    yield "fhir_data/json/one.json", json.dumps({"resourceType": 7}).encode(), \
        "unknown_resource_type", None
    yield "fhir_data/json/one.json", json.dumps({"name": PHI}).encode(), \
        "missing_resource_type", None
    yield "fhir_data/json/one.json", b"\xff\xfe{}", "invalid_json", None
    yield "fhir_data/json/one.json", b"", "invalid_json", None
    yield "fhir_data/json/one.json", json.dumps(PHI).encode(), "not_a_resource", None
    yield "fhir_data/json/one.json", json.dumps({"resourceType": "Bundle", "entry": [
        {"resource": good}, {"resource": {"resourceType": "Banana"}}]}).encode(), \
        "unknown_resource_type", "index 1"
    yield "fhir_data/json/one.json", (json.dumps(good) + " trailing").encode(), \
        "invalid_json", None
    line = json.dumps(good)
    yield nd, f"{line}\n{line}\n{{\"name\": \"{PHI}\"}}\n{line}\n".encode(), \
        "missing_resource_type", "line 3"
    yield nd, f"{line}\n\n{line}\n{{not json {PHI}\n".encode(), "invalid_json", "line 4"
    yield nd, f"{line}\n[{line}]\n".encode(), "not_a_resource", "line 2"
    yield nd, b"\n\n", "no_resources", None
    yield nd, json.dumps([good, good]).encode(), "not_a_resource", "line 1"  # an array is no line


@pytest.mark.parametrize(("key", "body", "reason", "entry"), list(bad_files()),
                         ids=[f"{r}-{i}" for i, (_, _, r, _) in enumerate(bad_files())])
def test_bad_files_are_quarantined_with_reason_and_first_bad_entry(
        client: Client, lake: None, inbox: Inbox, secret: Callable[[str], str],
        log_lines: Callable[[], list[str]], key: str, body: bytes, reason: str,
        entry: str | None) -> None:
    secret(PHI)
    land(key, body)
    client.s3_put(BUCKET, key)
    (moved,) = quarantined()
    assert moved["quarantine-reason"] == reason and moved.get("quarantine-entry") == entry
    assert moved["key"].endswith(".ndjson" if key.endswith(".ndjson") else ".json")
    assert keys("fhir_data/") == [] and runs() == []
    (alert,) = inbox.messages()
    assert reason in alert["Subject"]
    assert (f"First bad entry: {entry}" in alert["Message"]) if entry else (
        "First bad entry" not in alert["Message"])
    assert PHI not in json.dumps([moved, alert, log_lines()])


def test_oversized_entries_and_files(client: Client, lake: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDING_MAX_BYTES", "200")
    big = {"resourceType": "Patient", "text": {"div": "x" * 300}}
    small = {"resourceType": "Patient"}
    land("fhir_data/json/a.json", json.dumps([small, big]).encode())
    land("fhir_data/ndjson/a.ndjson", (json.dumps(small) + "\n" + json.dumps(big) + "\n").encode())
    client.s3_put(BUCKET, "fhir_data/json/a.json")
    client.s3_put(BUCKET, "fhir_data/ndjson/a.ndjson")
    assert sorted((m["quarantine-reason"], m.get("quarantine-entry")) for m in quarantined()) == [
        ("too_large", "index 1"), ("too_large", "line 2")]
    monkeypatch.setenv("LANDING_MAX_FILE_BYTES", "10")
    land("fhir_data/json/b.json", json.dumps(small).encode())
    client.s3_put(BUCKET, "fhir_data/json/b.json")
    assert sorted((m["quarantine-reason"], m.get("quarantine-entry", "-")) for m in quarantined()
                  ) == [("too_large", "-"), ("too_large", "index 1"), ("too_large", "line 2")]
    assert runs() == []


# -- the Lambda deadline: stop checking before it, change nothing -----------------------------------
class NearDeadline(FakeLambdaContext):
    """A context whose remaining time the test sets (``left_ms``), for a deadline mid-stream."""

    def __init__(self) -> None:
        super().__init__(900_000)
        self.left_ms = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


def test_a_check_near_the_deadline_stops_and_changes_nothing(app: App, lake: None,
                                                             inbox: Inbox) -> None:
    """With less than CHECK_MARGIN_MS left, the guard stops the check at its first chunk: no run
    starts, a bad file is not quarantined, nothing is alerted or deleted; the retry (in full time)
    does the work, since the failure dropped the in-flight marker."""
    from opsfn.routes.etl.routes import CHECK_MARGIN_MS

    good, bad = "fhir_data/json/patients/patients_good.json", "fhir_data/json/one.json"
    land(good, json.dumps([as_json(patient(1))]).encode())
    land(bad, json.dumps({"resourceType": "Banana"}).encode())
    hurried = Client(app, timeout_ms=CHECK_MARGIN_MS - 1_000)
    for key in (good, bad):
        with pytest.raises(RecordsFailed) as failed:
            hurried.s3_put(BUCKET, key)
        assert failed.value.codes == [DeadlineExceeded.code] and not failed.value.permanent
    assert runs() == [] and pending() == 0
    assert quarantined() == [] and inbox.messages() == []
    assert sorted(keys()) == sorted([good, bad])  # both files stay where they landed
    client = Client(app)  # the source's retry, with the whole timeout ahead
    client.s3_put(BUCKET, good)
    client.s3_put(BUCKET, bad)
    assert [r["WorkflowRunProperties"]["key"] for r in runs()] == [good]
    assert [m["quarantine-reason"] for m in quarantined()] == ["unknown_resource_type"]


def test_the_deadline_guard_stops_a_check_mid_stream(app: App, lake: None, inbox: Inbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard runs per chunk read: time running out after the first chunk stops the check
    before the second is read, and the file is neither started nor quarantined."""
    from opsfn.routes.etl import landing
    from opsfn.routes.etl.routes import CHECK_MARGIN_MS

    key = "fhir_data/ndjson/Patient.ndjson"
    line = json.dumps(as_json(patient(1))).encode() + b"\n"
    land(key, line * 20)
    monkeypatch.setattr(landing, "CHUNK_BYTES", len(line))
    context = NearDeadline()
    checked: list[int] = []
    real = validate.check_ndjson

    def clock_runs_out(chunks: Iterator[bytes], limit: int) -> validate.Verdict:
        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                checked.append(len(chunk))
                context.left_ms = CHECK_MARGIN_MS - 1  # the deadline is near from now on
                yield chunk
        return real(counted(), limit)

    monkeypatch.setattr(validate, "check_ndjson", clock_runs_out)
    with pytest.raises(RecordsFailed) as failed:
        app(s3_event(BUCKET, key), context)
    assert failed.value.codes == [DeadlineExceeded.code]
    assert checked == [len(line)]  # one chunk checked, the second never handed on
    assert runs() == [] and quarantined() == [] and inbox.messages() == []
    assert keys() == [key]


# -- where files land: settings --------------------------------------------------------------------
def test_default_layout_ignores_other_keys(client: Client, lake: None) -> None:
    land("fhir_data/json/readme.txt", b"not FHIR")
    land("exports/patients.json", json.dumps([{"resourceType": "Patient"}]).encode())
    land("quarantine/abc.json", b"{}")
    for key in ("fhir_data/json/readme.txt", "exports/patients.json", "quarantine/abc.json"):
        client.s3_put(BUCKET, key)
    assert runs() == [] and len(keys()) == 3 and quarantined()[0]["key"] == "quarantine/abc.json"


def test_another_layout_is_mapped_by_settings(client: Client, lake: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDING_PREFIX", "bulk/")
    monkeypatch.setenv("LANDING_NDJSON_SUFFIXES", ".ndjson, .jsonl")
    monkeypatch.setenv("LANDING_JSON_SUFFIXES", ".fhir.json")
    line = json.dumps(as_json(patient(1)))
    land("bulk/2025/Patient.jsonl", f"{line}\n{line}\n".encode())
    land("bulk/2025/Patient.fhir.json", f"[{line}]".encode())
    land("bulk/2025/Patient.json", f"[{line}]".encode())  # no longer a landing suffix
    land("fhir_data/json/patients/p.json", f"[{line}]".encode())  # outside the prefix now
    client.s3_put(BUCKET, "bulk/2025/Patient.jsonl")
    assert [r["WorkflowRunProperties"]["key"] for r in runs()] == ["bulk/2025/Patient.jsonl"]
    client.s3_put(BUCKET, "bulk/2025/Patient.fhir.json")
    assert pending() == 1  # accepted, waiting behind the running run
    for key in ("bulk/2025/Patient.json", "fhir_data/json/patients/p.json"):
        client.s3_put(BUCKET, key)
    assert pending() == 1 and quarantined() == []


# -- the streaming check itself ----------------------------------------------------------------
def pieces(body: bytes, size: int) -> Iterator[bytes]:
    return (body[i:i + size] for i in range(0, len(body), size))


@pytest.mark.parametrize("size", [1, 2, 7, 64, 4096])
def test_chunk_boundaries_never_change_the_verdict(size: int) -> None:
    good = json.dumps([as_json(patient(i)) for i in range(4)], indent=2).encode()
    assert validate.check_json(pieces(good, size), 1 << 20) == validate.Verdict("array", 4)
    unicode_doc = json.dumps({"resourceType": "Patient", "name": [{"text": "Zoë Ñandú 山田"}]},
                             ensure_ascii=False).encode()
    assert validate.check_json(pieces(unicode_doc, size), 1 << 20).reason is None
    bom = b"\xef\xbb\xbf" + unicode_doc
    assert validate.check_json(pieces(bom, size), 1 << 20).reason is None
    numbers = b'[{"resourceType": "Observation", "valueQuantity": {"value": 12345.678e-2}}, 12345]'
    assert validate.check_json(pieces(numbers, size), 1 << 20) == validate.Verdict(
        "array", 1, "not_a_resource", index=1)
    lines = b"".join(json.dumps(as_json(patient(i))).encode() + b"\r\n" for i in range(5))
    assert validate.check_ndjson(pieces(lines, size), 1 << 20) == validate.Verdict("ndjson", 5)


def test_memory_stays_bounded_on_a_large_ndjson_stream() -> None:
    """An endless-looking stream is checked with memory for one chunk and one line only."""
    import tracemalloc

    line = json.dumps(as_json(patient(1))).encode() + b"\n"
    total = 64 * 1024 * 1024
    chunk = line * (1024 * 1024 // len(line))

    def stream() -> Iterator[bytes]:
        yield from itertools.repeat(chunk, total // len(chunk))

    tracemalloc.start()
    verdict = validate.check_ndjson(stream(), 1 << 20)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert verdict.reason is None and verdict.resources == (total // len(chunk)) * (
        len(chunk) // len(line))
    assert peak < 8 * 1024 * 1024  # 64 MiB checked in a few MiB


def test_resource_type_list_matches_the_fhir_library() -> None:
    """The list kept in code is R4 (4.0.1) and R5 (5.0.0); fhir.resources ships R5 and R4B."""
    import importlib
    import pkgutil

    def library_types(package: str) -> set[str]:
        base = importlib.import_module(package)
        resource = importlib.import_module(f"{package}.resource").Resource
        found = set()
        for module in pkgutil.iter_modules(base.__path__):
            if module.ispkg:
                continue
            loaded = importlib.import_module(f"{package}.{module.name}")
            for name, value in vars(loaded).items():
                if (isinstance(value, type) and issubclass(value, resource)
                        and name.lower() == module.name):
                    found.add(name)
        return found - {"Resource", "DomainResource", "CanonicalResource", "MetadataResource"}

    assert library_types("fhir.resources") == fhir_types.R5
    assert library_types("fhir.resources.R4B") <= fhir_types.RESOURCE_TYPES
    assert len(fhir_types.R4) == 146 and {"MedicinalProduct", "EffectEvidenceSynthesis"} <= (
        fhir_types.R4 - fhir_types.R5)


def test_the_longest_suffix_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsfn.routes.etl import landing
    from opsfn.routes.etl.settings import EtlSettings

    monkeypatch.setenv("LANDING_PREFIX", "in/")
    monkeypatch.setenv("LANDING_NDJSON_SUFFIXES", ".bulk.json")
    settings = EtlSettings.current()
    assert landing.file_format("in/a.bulk.json", settings) == ("ndjson", ".bulk.json")
    assert landing.file_format("in/a.JSON", settings) == ("json", ".json")
    assert landing.file_format("in/a.txt", settings) is None
    assert landing.file_format("out/a.json", settings) is None
