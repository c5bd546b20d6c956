"""What Lambda's logging controls ask of the function's log lines.

A function's ``LoggingConfig`` reaches the runtime as variables: ``AWS_LAMBDA_LOG_FORMAT``
(``JSON`` or text) and, with JSON, ``AWS_LAMBDA_LOG_LEVEL`` (the application log level: ``TRACE``,
``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``). The Python runtime puts its own handler on the
root logger; opsfn writes its own lines, so it must know whether that handler is there and which
level and format Lambda expects. Only ``os.environ``-like mappings are read: nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping

RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"
LOG_FORMAT = "AWS_LAMBDA_LOG_FORMAT"
LOG_LEVEL = "AWS_LAMBDA_LOG_LEVEL"

# Lambda's level names -> the logging module's (TRACE has no stdlib level: DEBUG is the closest).
_LAMBDA_LEVELS = {"TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING",
                  "WARNING": "WARNING", "ERROR": "ERROR", "FATAL": "CRITICAL",
                  "CRITICAL": "CRITICAL"}


def under_lambda_runtime(environ: Mapping[str, str]) -> bool:
    """Whether a Lambda runtime (its interface client) runs this process: it then owns the
    root logger's handler."""
    return bool(environ.get(RUNTIME_API))


def json_format(environ: Mapping[str, str]) -> bool:
    """Whether the function's log format is JSON (anything else is Lambda's text format)."""
    return (environ.get(LOG_FORMAT) or "").strip().upper() == "JSON"


def level_name(value: str | None) -> str | None:
    """The logging module's name for a Lambda or Python level name; None when unknown."""
    return _LAMBDA_LEVELS.get((value or "").strip().upper())


def application_level(environ: Mapping[str, str], default: str = "INFO") -> str:
    """The level opsfn logs at: Lambda's application log level when set (lines below it would be
    dropped by Lambda anyway), else ``POWERTOOLS_LOG_LEVEL``, else ``default``."""
    return level_name(environ.get(LOG_LEVEL)) or \
        level_name(environ.get("POWERTOOLS_LOG_LEVEL")) or default
