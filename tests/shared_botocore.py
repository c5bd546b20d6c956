"""A test-speed fixture: one botocore data loader shared by every client the tests create.

``opsfn.services.aws.client`` builds each client from a fresh boto3 Session, and each new session gets a
new botocore Loader, so every client re-reads and re-parses botocore's JSON models (the endpoint
and partition files alone take ~100 ms per client). The core test fixtures reset the client cache
for every test, so under moto that parsing was most of the operations suite's run time. A Loader
caches what it parsed; sharing one changes no behaviour (a single session shares its loader
between all its clients in exactly this way) and makes client creation cheap.

Import ``shared_botocore_loader`` into a ``conftest.py`` to enable it for that folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


class _UniquePaths(list[str]):
    """boto3 appends its data path to the loader of every new Session: keep it there once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_loader() -> Iterator[None]:
    """Every botocore session created during the tests uses one Loader per data path."""
    import botocore.session

    real = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}

    def shared(search_path_string: str | None = None) -> Any:
        found = loaders.get(search_path_string)
        if found is None:
            found = real(search_path_string)
            found._search_paths = _UniquePaths(found._search_paths)
            loaders[search_path_string] = found
        return found

    patch = pytest.MonkeyPatch()
    patch.setattr(botocore.session, "create_loader", shared)
    try:
        yield
    finally:
        patch.undo()
