"""Pure rules of the ETL trigger without AWS: landed documents."""

from __future__ import annotations

import pytest

from opsfn.routes.etl import validate


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"resourceType": "Bundle", "entry": []}', None),
    (b'{"resourceType": ""}', validate.NO_RESOURCE_TYPE),
    (b'{"resourceType": 5}', validate.UNKNOWN_RESOURCE_TYPE),
    (b'{"resourceType": "Banana"}', validate.UNKNOWN_RESOURCE_TYPE),
    (b"[]", validate.NO_RESOURCES),
    (b"", validate.INVALID_JSON),
    (b'{"a": ', validate.INVALID_JSON),
    (b"\x80", validate.INVALID_JSON),
])
def test_check_document(body: bytes, reason: str | None) -> None:
    assert validate.check_json([body], 1 << 20).reason == reason
