"""``opsfn infra check``: the operations rules of a template, SAM or plain CloudFormation.

What routes declare (events, environment, route IAM) is generated, by ``opsfn infra template``
and the CDK construct; what is checked is the rest (:mod:`opsfn.tooling.ops_rules`), and that the
function serves the application checked (its ``OPSFN_APP``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsfn.tooling.app_option import add_app_argument, app_reference, load_app
from opsfn.tooling.generate.template import register as register_template
from opsfn.tooling.ops_rules import Checker
from opsfn.tooling.template_reader import declared_triggers, load_template

if TYPE_CHECKING:
    from opsfn.core.app import App

DEFAULT_TEMPLATE = Path("infra") / "template.yaml"


def check(app: App, template_path: Path) -> list[str]:
    """The problems of the template at ``template_path`` for ``app``."""
    return Checker(app, load_template(template_path)).run()


def summary(app: App, template_path: Path) -> Iterator[str]:
    """Counts of what the template wires up, for the command's output."""
    found = declared_triggers(load_template(template_path))
    yield f"function {found.function}: {len(found.http)} HTTP routes, {len(found.schedules)} " \
          f"schedules, {len(found.eventbridge)} EventBridge rules, {len(found.s3)} S3 triggers, " \
          f"{len(found.sqs)} SQS, {len(found.sns)} SNS, " \
          f"{sum(len(v) for v in found.custom_resources.values())} custom resources, " \
          f"{len(found.receipt_rules)} SES receipt rules"
    yield f"registry: {json.dumps(app.registry.counts(), sort_keys=True)}"


def default_template() -> Path:
    """``infra/template.yaml`` of the source checkout, else of the working directory."""
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_TEMPLATE
    return checkout if checkout.exists() else DEFAULT_TEMPLATE


def app_variable_problems(reference: str | None, template_path: Path) -> list[str]:
    """The function must serve the application checked: its ``OPSFN_APP`` names it (unset for
    the built-in app), or Lambda would serve other routes than the ones checked."""
    found = declared_triggers(load_template(template_path))
    configured = found.env.get("OPSFN_APP")
    if configured == reference or (reference is None and configured is None):
        return []
    if reference is None:
        return [f"the function's OPSFN_APP is {configured!r} but the built-in app was checked "
                "(give --app)"]
    return [f"the function's OPSFN_APP is {configured!r}, so Lambda would not serve "
            f"{reference} (set OPSFN_APP: {reference} in its Environment)"]


def cmd_infra_check(args: argparse.Namespace) -> int:
    """Print the problems; exit 1 when there are any."""
    path = Path(args.template) if args.template else default_template()
    if not path.is_file():
        sys.stderr.write(f"error: no template at {path} (give --template)\n")
        return 2
    app = load_app(args)
    problems = check(app, path) + app_variable_problems(app_reference(args), path)
    out = sys.stdout
    for line in summary(app, path):
        out.write(line + "\n")
    for problem in problems:
        out.write(f"PROBLEM {problem}\n")
    out.write(f"{path}: {'sound' if not problems else f'{len(problems)} problem(s)'}\n")
    return 1 if problems else 0


def register(subparsers: Any) -> None:
    """Add ``opsfn infra check`` and ``opsfn infra template``."""
    infra = subparsers.add_parser("infra", help="the deployment template and the routes")
    sub = infra.add_subparsers(dest="infra_command", required=True)
    chk = sub.add_parser("check", help="the rules a template must follow that no route can say")
    chk.add_argument("--template", help="path of the template (default infra/template.yaml)")
    add_app_argument(chk)
    chk.set_defaults(func=cmd_infra_check)
    register_template(sub)
