"""The pydantic-free dispatch settings agree with the one settings model."""

from __future__ import annotations

import pytest

from opsfn.config.core import CoreSettings
from opsfn.dispatch_settings import VARIABLES, DispatchSettings, dispatch_settings
from opsfn.errors import InvalidSetting
from opsfn.settings import get_settings


def test_names_and_defaults_match_the_model() -> None:
    fields = CoreSettings.model_fields
    for name, variable in VARIABLES.items():
        assert fields[name].alias == variable
        assert fields[name].default == getattr(DispatchSettings(), name)


@pytest.mark.parametrize(("variable", "value"), [
    ("OPSFN_MAX_BODY_BYTES", "2048"), ("OPSFN_MAX_BODY_BYTES", " 7 "), ("OPSFN_MAX_BODY_BYTES", "0"),
    ("OPSFN_MAX_BODY_BYTES", "x"), ("OPSFN_CR_MARGIN_MS", "499"), ("OPSFN_CR_MARGIN_MS", "500"),
    ("OPSFN_TRACING", "true"), ("OPSFN_TRACING", "No"), ("OPSFN_TRACING", "maybe"),
    ("OPSFN_TRACING", "1"), ("OPSFN_ACTION_QUEUE", "arn:aws:sqs:us-east-1:1:q"),
    ("OPSFN_SCHEDULE_PREFIX", "stack-"), ("OPSFN_CORS_ORIGIN", "https://x.example"),
])
def test_values_parse_like_the_model(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    try:
        expected = get_settings()
    except InvalidSetting:
        with pytest.raises(InvalidSetting):
            dispatch_settings()
        return
    light = dispatch_settings()
    for name in VARIABLES:
        assert getattr(light, name) == getattr(expected, name), name
