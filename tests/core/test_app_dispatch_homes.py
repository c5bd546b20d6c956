"""Every event kind has a dispatcher, imported on the first event of its kind only.

The dispatchers never import the app (it loads them by name), and every route call of one event
receives the one :class:`Invocation` of that event as its context.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import opsfn.core.app as app_module
import opsfn.core.dispatch as dispatch_package
from opsfn.core.app import DISPATCH_HOMES, App, dispatcher
from opsfn.core.invocation import Context, Invocation
from opsfn.events.detect import KINDS
from opsfn.router import Router
from opsfn.testing import Client, s3_event


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



# -- no import cycle between the app and its dispatchers ------------------------------------------
def _imported(node: ast.AST, module: str) -> set[str]:
    """The modules (and ``package.name`` candidates) one node imports, when it is an import."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            package = module.split(".")[:-node.level]
            base = ".".join([*package, base] if base else package)
        return {base} | {f"{base}.{alias.name}" for alias in node.names}
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__"):  # importlib.import_module("opsfn.core.app")
            return {node.args[0].value}
    return set()


def _imports(source: str, module: str, *, top_level_only: bool) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports; with ``top_level_only``, those
    imported when the module loads (none inside a function)."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(source)]
    while pending:
        node = pending.pop()
        if top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        found |= _imported(node, module)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def test_the_import_walker_finds_every_form_of_import() -> None:
    source = ("from opsfn.core import invocation\n"
              "def f():\n"
              "    from opsfn.core import app\n"
              "    from ..dispatch import records\n"
              "    importlib.import_module('opsfn.core.lazy')\n"
              "class C:\n"
              "    import opsfn.core.registry\n")
    everywhere = _imports(source, "opsfn.core.dispatch.probe", top_level_only=False)
    top = _imports(source, "opsfn.core.dispatch.probe", top_level_only=True)
    assert {"opsfn.core.invocation", "opsfn.core.app", "opsfn.core.dispatch.records",
            "opsfn.core.lazy", "opsfn.core.registry"} <= everywhere
    assert "opsfn.core.invocation" in top and "opsfn.core.registry" in top
    assert not {"opsfn.core.app", "opsfn.core.dispatch.records", "opsfn.core.lazy"} & top


def test_no_dispatcher_imports_the_app() -> None:
    """Not at the top of a module and not inside a function: the app loads them, not the reverse."""
    folder = Path(dispatch_package.__file__).parent
    paths = sorted(folder.glob("*.py"))
    homes = {home.partition(":")[0].removeprefix("opsfn.core.dispatch.")
             for home in DISPATCH_HOMES.values()}
    assert homes <= {path.stem for path in paths}
    for path in paths:
        # A package's relative imports resolve against the package itself.
        module = f"opsfn.core.dispatch.{path.stem}"
        names = _imports(path.read_text(encoding="utf-8"), module, top_level_only=False)
        assert not [name for name in names if _within(name, "opsfn.core.app")], path.name


def test_the_app_imports_no_dispatcher_at_top_level() -> None:
    """The app names its dispatchers in DISPATCH_HOMES and imports each on first use."""
    source = Path(app_module.__file__).read_text(encoding="utf-8")
    names = _imports(source, "opsfn.core.app", top_level_only=True)
    assert "opsfn.core.invocation" in names  # the walker did read the module's imports
    assert not [name for name in names if _within(name, "opsfn.core.dispatch")], names


# -- one context object per event -----------------------------------------------------------------
def _context_app(seen: list[tuple[str, Any]]) -> App:
    """An app whose SQS and S3 routes record the context object of each call."""
    router = Router(auth="public")

    @router.sqs(queue="opsfn-work")
    def work(payload: dict[str, Any], context: Context) -> None:
        seen.append((str(payload["n"]), context))

    @router.s3(bucket="context-bucket", prefix="in/")
    def uploaded(context: Context) -> None:
        seen.append(("s3", context))

    @router.action("ping")
    def ping(context: Context) -> str:
        seen.append(("ping", context))
        return "pong"

    return App([router])


def test_context_is_the_invocation() -> None:
    assert Context is Invocation


def test_every_record_of_one_sqs_batch_gets_the_same_context() -> None:
    seen: list[tuple[str, Any]] = []
    client = Client(_context_app(seen))
    reply = client.sqs([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])
    assert reply == {"batchItemFailures": []}
    assert sorted(name for name, _ in seen) == ["1", "2", "3", "4"]
    first = seen[0][1]
    assert isinstance(first, Invocation)
    assert all(context is first for _, context in seen)

    client.sqs([{"n": 5}, {"n": 6}])
    later = [context for name, context in seen if name in ("5", "6")]
    assert len(later) == 2 and later[0] is later[1]
    assert later[0] is not first  # another event, another invocation


def test_every_record_of_one_s3_event_gets_the_same_context() -> None:
    seen: list[tuple[str, Any]] = []
    client = Client(_context_app(seen))
    client.handle(s3_event("context-bucket", ["in/a", "in/b", "in/c"]))
    assert len(seen) == 3
    first = seen[0][1]
    assert isinstance(first, Invocation)
    assert all(context is first for _, context in seen)

    client.handle(s3_event("context-bucket", ["in/d", "in/e"]))
    assert len(seen) == 5
    second = seen[3][1]
    assert seen[4][1] is second and second is not first


def test_two_separate_events_get_different_contexts() -> None:
    seen: list[tuple[str, Any]] = []
    client = Client(_context_app(seen))
    assert client.invoke("ping") == "pong"
    assert client.invoke("ping") == "pong"
    client.sqs([{"n": 1}])
    assert len(seen) == 3
    assert len({id(context) for _, context in seen}) == 3
