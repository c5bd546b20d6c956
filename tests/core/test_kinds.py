"""One vocabulary of where events come from: kinds, route sources and the path an input took."""

from __future__ import annotations

import ast
from pathlib import Path

from opsfn.events import detect
from opsfn.events.kinds import HTTP_KINDS, KINDS, SOURCE_OF, SOURCES, VIAS
from opsfn.testing import (
    custom_resource_event,
    eventbridge_event,
    http_v1_event,
    http_v2_event,
    invoke_event,
    s3_event,
    schedule_event,
    sns_event,
    sqs_event,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "opsfn"


def test_every_kind_reaches_a_route_source() -> None:
    assert set(SOURCE_OF) == set(KINDS)
    assert set(SOURCE_OF.values()) == set(SOURCES)
    assert set(KINDS) >= HTTP_KINDS and set(KINDS) < set(VIAS)


def test_detection_answers_in_the_vocabulary() -> None:
    events = [http_v1_event("GET", "/x"), http_v2_event("GET", "/x"), invoke_event("health"),
              s3_event("b", "k"), sqs_event(["m"]), sns_event("m"), schedule_event("s"),
              eventbridge_event("aws.glue", "Glue Job State Change", {}),
              custom_resource_event("Create", "Custom::X", {}, response_url="http://127.0.0.1:9/")]
    assert {detect(e).kind for e in events} == {
        "http_v1", "http_v2", "invoke", "s3", "sqs", "sns", "schedule", "eventbridge",
        "custom_resource"}


def test_the_names_are_written_once() -> None:
    """No module but kinds.py spells the kinds or the sources out as a tuple or a Literal."""
    kinds, sources = set(KINDS), set(SOURCES)
    for path in SRC.rglob("*.py"):
        if path.name == "kinds.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple | ast.Subscript):
                names = {n.value for n in ast.walk(node)
                         if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                assert not (names >= kinds or names >= sources), f"{path}:{node.lineno}"
