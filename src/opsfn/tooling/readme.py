"""Keep the generated sections (README's route catalogue and configuration, SECURITY.md's reach
table) equal to the registry.

    python -m opsfn.tooling.readme README.md          # rewrite the sections in place
    python -m opsfn.tooling.readme README.md --check  # exit 1 when they are stale (the tests run this)
"""

from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path

from opsfn.core.settings import setting_variables

SECTIONS = ("routes", "settings", "reach")


def render(name: str) -> str:
    """The Markdown of one generated section."""
    if name == "routes":
        from opsfn.handler import app
        from opsfn.tooling.introspect import markdown_table, route_rows

        return markdown_table(route_rows(app))
    if name == "reach":
        from opsfn.handler import app
        from opsfn.tooling.introspect import reach_table

        return reach_table(app)
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, default, description in sorted(setting_variables()):
        lines.append(f"| `{variable}` | {f'`{default}`' if default else '-'} | {description} |")
    return "\n".join(lines)


def _fill(match: re.Match[str], body: str) -> str:
    return f"{match.group(1)}{body}\n{match.group(2)}"


def refresh(text: str) -> str:
    """``text`` with every ``<!-- NAME:begin -->...<!-- NAME:end -->`` block regenerated."""
    for name in SECTIONS:
        pattern = re.compile(rf"(<!-- {name}:begin -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if pattern.search(text):
            text = pattern.sub(partial(_fill, body=render(name)), text)
    return text


def main(argv: list[str]) -> int:
    """Rewrite or check the README given as the first argument."""
    path = Path(argv[0])
    text = path.read_text()
    fresh = refresh(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{path} is stale: run python -m opsfn.tooling.readme {path}", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
