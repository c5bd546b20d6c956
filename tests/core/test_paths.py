"""The path index: static over parameter over greedy, and the loop that skips recursion agrees
with the backtracking walk on every template set."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsfn.core.paths import PathIndex

SEGMENTS = st.sampled_from(["a", "b", "items", "x"])
TEMPLATE_SEGMENTS = st.sampled_from(["a", "b", "items", "x", "{id}", "{id}", "{rest+}"])


def _templates(draw: st.DrawFn) -> list[str]:
    found = []
    for drawn in draw(st.lists(st.lists(TEMPLATE_SEGMENTS, min_size=1, max_size=4),
                               min_size=1, max_size=8)):
        greedy = [i for i, part in enumerate(drawn) if part.endswith("+}")]
        parts = drawn[: greedy[0] + 1] if greedy else drawn
        found.append("/" + "/".join(parts))
    return found


@st.composite
def indexes_and_paths(draw: st.DrawFn) -> tuple[PathIndex, list[str]]:
    index = PathIndex()
    for template in _templates(draw):
        try:
            index.add(template, "GET", template)
        except ValueError:
            pass  # a duplicate or a conflicting parameter name: refused at registration
    paths = ["/" + "/".join(p) for p in draw(st.lists(st.lists(SEGMENTS, max_size=5),
                                                        min_size=1, max_size=10))]
    return index, paths


@settings(max_examples=300, deadline=None, derandomize=True)
@given(indexes_and_paths())
def test_lookup_agrees_with_the_backtracking_walk(case: tuple[PathIndex, list[str]]) -> None:
    index, paths = case
    for path in paths:
        segments = [s for s in path.split("/") if s]
        expected = index._walk(index._root, segments, 0, {})
        if index._static.get("/" + "/".join(segments)) is not None:
            continue  # static paths never reach the walk
        assert index.lookup(path) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/items/new", ("/items/new", {})),
    ("/items/42", ("/items/{id}", {"id": "42"})),
    ("/items/42/parts", ("/items/{id}/parts", {"id": "42"})),
    ("/items/new/parts", ("/items/{id}/parts", {"id": "new"})),  # found by backtracking
    ("/files/a/b/c", ("/files/{rest+}", {"rest": "a/b/c"})),
    ("/nothing", None),
])
def test_priorities_and_backtracking(path: str, expected: tuple[str, dict[str, str]] | None) -> None:
    index = PathIndex()
    for template in ("/items/new", "/items/{id}", "/items/{id}/parts", "/files/{rest+}"):
        index.add(template, "GET", template)
    found: Any = index.lookup(path)
    assert (None if found is None else (found[0]["GET"], found[1])) == expected
