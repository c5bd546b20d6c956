"""JSON encoding does not depend on what was imported before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from opsfn.events.jsonable import dumps, dumps_bytes

SAMPLES = [
    {(1, 2): "x"},
    {None: 1, "a": [1, 2.5, None, True]},
    {"nested": {"k": [{"x": 1}]}, 3: "int key"},
    {"surrogate": "\ud800", "text": "é"},
    [1e-7, 1e16, "</script>"],
]

_PROBE = """
import json, sys
from opsfn.events.jsonable import dumps, dumps_bytes, to_jsonable
samples = {samples}
before = [(dumps(s), dumps_bytes(s).decode(), json.dumps(to_jsonable(s))) for s in samples]
import pydantic  # what any route with a model loads
after = [(dumps(s), dumps_bytes(s).decode(), json.dumps(to_jsonable(s))) for s in samples]
print(json.dumps({{"before": before, "after": after, "loaded": "pydantic_core" in sys.modules}}))
"""


def test_the_encoding_is_the_same_before_and_after_pydantic_is_imported() -> None:
    code = _PROBE.format(samples=repr(SAMPLES))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["loaded"]
    assert result["before"] == result["after"]


@pytest.mark.parametrize("value", SAMPLES)
def test_every_sample_is_valid_utf8_json_with_string_keys(value: object) -> None:
    text = dumps(value)
    text.encode("utf-8")
    decoded = json.loads(text)
    assert decoded == json.loads(dumps_bytes(value))
    if isinstance(decoded, dict):
        assert all(isinstance(key, str) for key in decoded)


def test_tuple_keys_are_joined_like_pydantic_does() -> None:
    assert json.loads(dumps({(1, 2): "x"})) == {"1,2": "x"}
