"""The JSON log lines: Powertools' format without importing Powertools.

``from aws_lambda_powertools import Logger`` imports the whole package, and botocore with it (its
user-agent hook): 100-200 ms of a cold start, paid by the first line an invocation logs. The lines
here have the same keys in the same order (``level``, ``location``, ``message``, ``timestamp``,
``service``, then the line's and the call's keys), the same timestamp format, and honour the same
variables (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL``).

Under the Lambda runtime (:mod:`opsfn.core.lambda_logging`) the lines stay off the root logger,
whose handler the runtime owns, so each line is written once; Lambda's application log level
(``AWS_LAMBDA_LOG_LEVEL``) wins over ``POWERTOOLS_LOG_LEVEL``, as in Powertools; and with the JSON
log format the timestamp is RFC 3339, the form Lambda reads a line's time and level from.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from opsfn.core import lambda_logging

# Attributes every LogRecord has; anything else on a record came from ``extra=`` or the filter.
_RECORD_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
    "thread", "threadName", "processName", "process", "taskName", "message", "asctime",
    "level", "location", "timestamp",
})


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``None`` values are left out, as Powertools does."""

    def __init__(self, service: str, *, rfc3339: bool = False) -> None:
        super().__init__()
        self.service = service
        self.rfc3339 = rfc3339

    def formatTime(self, record: Any, datefmt: str | None = None) -> str:
        """``2026-01-02 03:04:05,678+0000`` as Powertools writes it, or with ``rfc3339``
        ``2026-01-02T03:04:05.678Z`` (UTC), which Lambda's JSON log format can parse."""
        if self.rfc3339:
            moment = time.gmtime(record.created)
            return time.strftime(f"%Y-%m-%dT%H:%M:%S.{int(record.msecs):03d}Z", moment)
        moment = time.localtime(record.created)
        return time.strftime(f"%Y-%m-%d %H:%M:%S,{int(record.msecs):03d}%z", moment)

    def format(self, record: Any) -> str:
        message: Any = record.getMessage() if record.args else record.msg
        line: dict[str, Any] = {"level": record.levelname,
                                "location": f"{record.funcName}:{record.lineno}",
                                "message": message, "timestamp": self.formatTime(record),
                                "service": self.service}
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line.setdefault("exception", self.formatException(record.exc_info))
            line.setdefault("exception_name", record.exc_info[0].__name__)
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        if trace:
            line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "")
        return json.dumps({k: v for k, v in line.items() if v is not None}, default=str,
                          separators=(",", ":"), ensure_ascii=False)


class JsonLogger:
    """The service's stdlib logger with :class:`JsonFormatter` on stderr (Powertools' surface
    that opsfn uses: the level methods and ``registered_formatter``)."""

    def __init__(self, service: str, keys: logging.Filter | Any) -> None:
        self.service = service
        self.logger = logging.getLogger(service)
        self.logger.setLevel(lambda_logging.application_level(os.environ))
        under_runtime = lambda_logging.under_lambda_runtime(os.environ)
        if under_runtime:
            # The runtime's handler on the root logger would write every line a second time
            # (as text, or as JSON around this JSON); Powertools stops propagation the same way.
            self.logger.propagate = False
        self.registered_formatter = JsonFormatter(
            service, rfc3339=under_runtime and lambda_logging.json_format(os.environ))
        ours = [h for h in self.logger.handlers if getattr(h, "opsfn_json", False)]
        if ours:
            ours[0].setFormatter(self.registered_formatter)
        else:
            # stderr: Lambda sends both streams to CloudWatch, and the CLI keeps stdout for results.
            handler = logging.StreamHandler(sys.stderr)
            handler.opsfn_json = True  # type: ignore[attr-defined]
            handler.setFormatter(self.registered_formatter)
            self.logger.addHandler(handler)
        if not any(type(f) is type(keys) for f in self.logger.filters):
            self.logger.addFilter(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)  # debug, info, warning, error, exception, log, ...


