"""The construct's LoggingConfig props, as the SAM template's logging parameters."""

from __future__ import annotations

import pytest

from tests.cdk.conftest import cdk_missing

pytestmark = pytest.mark.skipif(cdk_missing() is not None, reason=str(cdk_missing()))


def test_levels_go_with_the_json_format_only() -> None:
    from aws_cdk import aws_lambda as lambda_

    from opsfn.cdk.construct import logging_config

    assert logging_config("JSON", None, None) == {"logging_format": lambda_.LoggingFormat.JSON}
    assert logging_config("Text", None, None) == {"logging_format": lambda_.LoggingFormat.TEXT}
    assert logging_config("JSON", "warn", "DEBUG") == {
        "logging_format": lambda_.LoggingFormat.JSON,
        "application_log_level_v2": lambda_.ApplicationLogLevel.WARN,
        "system_log_level_v2": lambda_.SystemLogLevel.DEBUG}
    with pytest.raises(ValueError, match="need log_format JSON"):
        logging_config("Text", "INFO", None)
    with pytest.raises(ValueError, match="JSON or Text"):
        logging_config("json", None, None)
    with pytest.raises(KeyError):
        logging_config("JSON", None, "ERROR")  # Lambda's system levels stop at WARN
