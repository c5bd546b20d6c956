"""botocore's Stubber on the client a route actually calls.

Routes call AWS through clients holding their own scoped session (opsfn.services.scoped), not the
client a test gets from ``aws.client`` outside any route. :func:`stubbed` hands every caller the
one stubbed client of the service, so each request is still checked against the real service
model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from botocore.stub import Stubber

from opsfn.services import aws


@contextlib.contextmanager
def stubbed(service: str) -> Iterator[Stubber]:
    """A Stubber on the client every ``aws.client(service)`` call returns while it is active."""
    client = aws.client(service)
    original = aws.client

    def chosen(name: str, region: str | None = None) -> Any:
        return client if name == service else original(name, region)

    with Stubber(client) as stub, mock.patch.object(aws, "client", chosen):
        yield stub
