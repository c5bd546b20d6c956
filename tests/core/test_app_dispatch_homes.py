"""Every event kind has a dispatcher, imported on the first event of its kind only."""

from __future__ import annotations

import subprocess
import sys

from opsfn.core.app import DISPATCH_HOMES, dispatcher
from opsfn.events.detect import KINDS


def test_every_kind_has_a_dispatcher_that_imports() -> None:
    assert set(DISPATCH_HOMES) == set(KINDS)
    for kind in KINDS:
        assert callable(dispatcher(kind)), kind
        assert dispatcher(kind) is dispatcher(kind)  # imported once


def test_a_cold_start_loads_only_the_source_it_handles() -> None:
    """A fresh process answering a direct invoke never imports the HTTP or records modules."""
    code = (
        "import sys, opsfn.handler as h\n"
        "before = set(sys.modules)\n"
        "h.app({'action': 'health'})\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opsfn.events.') or "
        "m.startswith('opsfn.core.dispatch.'))\n"
        "print(' '.join(loaded))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1"})
    loaded = set(done.stdout.split())
    assert "opsfn.core.dispatch.invoke" in loaded
    assert not loaded & {"opsfn.events.http", "opsfn.events.s3", "opsfn.events.sqs",
                         "opsfn.events.sns", "opsfn.events.ses", "opsfn.core.dispatch.http",
                         "opsfn.core.dispatch.records"}, loaded


def test_every_public_name_of_opsfn_events_is_what_its_module_defines() -> None:
    """Lazily loaded names resolve to the objects, never to a submodule of the same name."""
    import importlib

    import opsfn.events as events

    importlib.import_module("opsfn.events.detect")
    for name in events.__all__:
        value = getattr(events, name)
        assert not isinstance(value, type(events)), name
    assert callable(events.detect) and events.detect({"action": "health"}).kind == "invoke"
