"""The README's route catalogue and configuration table are generated; they must be current."""

from __future__ import annotations

from pathlib import Path

from opsfn.tooling.readme import refresh

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_generated_sections_are_current() -> None:
    text = README.read_text()
    assert "<!-- routes:begin -->" in text and "<!-- settings:begin -->" in text
    assert refresh(text) == text, "run: python -m opsfn.tooling.readme README.md"


def test_securitys_reach_table_is_current() -> None:
    security = README.with_name("SECURITY.md")
    text = security.read_text()
    assert "<!-- reach:begin -->" in text
    assert refresh(text) == text, "run: python -m opsfn.tooling.readme SECURITY.md"
