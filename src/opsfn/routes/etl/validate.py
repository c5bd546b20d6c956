"""Is a landed file FHIR the ETL can read? Checked by streaming, in bounded memory.

Accepted, as the ETL's Glue jobs and FHIR bulk data write them:

* a JSON document (``.json``): one resource, a ``Bundle`` (each entry's resource checked too), or
  an array of resources (the ETL project's generator writes one array per category);
* NDJSON (``.ndjson``): one resource per line, the FHIR bulk-data format; blank lines are skipped.

Every resource needs a ``resourceType`` from :data:`~opsfn.routes.etl.fhir_types.RESOURCE_TYPES`.
The check reads the file chunk by chunk: memory holds one chunk and one entry (at most
``max_entry`` characters), never the file. A rejection names the reason and, for arrays and
NDJSON, the index (from 0) or line (from 1) of the first bad entry, never its content.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from opsfn.routes.etl.fhir_types import RESOURCE_TYPES

INVALID_JSON = "invalid_json"
NOT_A_RESOURCE = "not_a_resource"
NO_RESOURCE_TYPE = "missing_resource_type"
UNKNOWN_RESOURCE_TYPE = "unknown_resource_type"
NO_RESOURCES = "no_resources"
TOO_LARGE = "too_large"

_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check found: ``reason`` None means the file may feed the ETL."""

    layout: str  # "resource", "bundle", "array" or "ndjson"
    resources: int
    reason: str | None = None
    index: int | None = None
    line: int | None = None


def resource_problem(value: object) -> str | None:
    """None for a FHIR resource (a Bundle's entries included), else why it is not one."""
    if not isinstance(value, dict):
        return NOT_A_RESOURCE
    kind = value.get("resourceType")
    if kind is None or kind == "":
        return NO_RESOURCE_TYPE
    if not isinstance(kind, str) or kind not in RESOURCE_TYPES:
        return UNKNOWN_RESOURCE_TYPE
    if kind == "Bundle":
        return _bundle_problem(value)[0]
    return None


def _bundle_problem(bundle: dict[str, object]) -> tuple[str | None, int | None]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return NOT_A_RESOURCE, None
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return NOT_A_RESOURCE, index
        if "resource" in entry and (problem := resource_problem(entry["resource"])):
            return problem, index
    return None, None


# -- NDJSON ---------------------------------------------------------------------------------------
def check_ndjson(chunks: Iterable[bytes], max_entry: int,
                 tick: Callable[[], None] = lambda: None) -> Verdict:
    """One resource per line; a line longer than ``max_entry`` bytes is ``too_large``.

    ``tick`` runs once per chunk (the caller's deadline check).
    """
    pending = b""
    number = 0
    count = 0

    def one(line: bytes) -> str | None:
        nonlocal count
        if not line.strip():
            return None
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return INVALID_JSON
        count += 1
        return resource_problem(value)

    for chunk in chunks:
        tick()
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            number += 1
            if end - start > max_entry:
                return Verdict("ndjson", count, TOO_LARGE, line=number)
            if problem := one(pending[start:end]):
                return Verdict("ndjson", count, problem, line=number)
            start = end + 1
        pending = pending[start:]
        if len(pending) > max_entry:
            return Verdict("ndjson", count, TOO_LARGE, line=number + 1)
    if pending:
        number += 1
        if problem := one(pending):
            return Verdict("ndjson", count, problem, line=number)
    return Verdict("ndjson", count, None if count else NO_RESOURCES)


# -- JSON documents -------------------------------------------------------------------------------
class _Text:
    """Decoded text from byte chunks, with a window that only grows while an entry is read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.eof = False

    def more(self, at_least: int = 1) -> bool:
        """Append at least ``at_least`` characters if the file has them; False at its end."""
        added = 0
        while added < at_least and not self.eof:
            chunk = next(self._chunks, None)
            text = self._decoder.decode(chunk or b"", final=chunk is None)
            if chunk is None:
                self.eof = True
            if self.pos > len(self.buf) // 2:  # drop what was consumed
                self.buf, self.pos = self.buf[self.pos:], 0
            self.buf += text
            added += len(text)
        return added > 0

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def value(self, max_entry: int) -> object:
        """Decode the JSON value at the cursor; ValueError if invalid, OverflowError if too big."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except ValueError:
                if len(self.buf) - self.pos > max_entry:
                    raise OverflowError from None
                # Maybe cut off by the chunk end: read as much again (linear for big entries).
                if not self.more(max(len(self.buf) - self.pos, 1)):
                    raise
                continue
            if end == len(self.buf) and not self.eof and self.buf[end - 1] not in "}]\"":
                self.more()  # a number at the window's end may go on in the next chunk
                continue
            if end - self.pos > max_entry:
                raise OverflowError
            self.pos = end
            return value


def _array(text: _Text, max_entry: int,
           tick: Callable[[], None]) -> Verdict:
    text.pos += 1  # the "["
    index = 0
    if text.peek() == "]":
        text.pos += 1
        return _end(text, Verdict("array", 0, NO_RESOURCES))
    while True:
        tick()
        try:
            text.peek()  # to the entry's first character
            entry = text.value(max_entry)
        except OverflowError:
            return Verdict("array", index, TOO_LARGE, index=index)
        except (ValueError, UnicodeDecodeError):
            return Verdict("array", index, INVALID_JSON, index=index)
        if problem := resource_problem(entry):
            return Verdict("array", index, problem, index=index)
        index += 1
        separator = text.peek()
        text.pos += 1
        if separator == "]":
            return _end(text, Verdict("array", index))
        if separator != ",":
            return Verdict("array", index, INVALID_JSON, index=index)


def _end(text: _Text, verdict: Verdict) -> Verdict:
    """Only whitespace may follow the document."""
    try:
        trailing = text.peek()
    except UnicodeDecodeError:
        trailing = "?"
    if trailing:
        return Verdict(verdict.layout, verdict.resources, INVALID_JSON, index=verdict.index)
    return verdict


def check_json(chunks: Iterable[bytes], max_entry: int,
               tick: Callable[[], None] = lambda: None) -> Verdict:
    """A resource, a Bundle or an array of resources; ``tick`` runs before each array entry."""
    text = _Text(chunks)
    try:
        first = text.peek()
    except UnicodeDecodeError:
        return Verdict("resource", 0, INVALID_JSON)
    if first == "[":
        try:
            return _array(text, max_entry, tick)
        except UnicodeDecodeError:
            return Verdict("array", 0, INVALID_JSON)
    try:
        document = text.value(max_entry)
    except OverflowError:
        return Verdict("resource", 0, TOO_LARGE)
    except (ValueError, UnicodeDecodeError):
        return Verdict("resource", 0, INVALID_JSON)
    is_bundle = isinstance(document, dict) and document.get("resourceType") == "Bundle"
    layout = "bundle" if is_bundle else "resource"
    if is_bundle and isinstance(document, dict):
        problem, index = _bundle_problem(document)
        if problem:
            return Verdict(layout, 0, problem, index=index)
        entries = document.get("entry")
        return _end(text, Verdict(layout, 1 + (len(entries) if isinstance(entries, list) else 0)))
    if problem := resource_problem(document):
        return Verdict(layout, 0, problem)
    return _end(text, Verdict(layout, 1))
