"""Custom resources: exactly one answer per request, and never a stack left waiting an hour.

A timer answers FAILED shortly before the Lambda deadline if the route is still running; whichever
of the route and the timer answers first wins and the other is dropped. The dispatcher never raises
after answering: Lambda would retry the event and answer a second time.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import Any, Literal

from opsfn.core.invocation import Invocation, remaining_ms
from opsfn.core.observability import UNDELIVERED_ANSWERS, emit_count, get_logger
from opsfn.core.route_call import run_route
from opsfn.core.settings import CoreSettings
from opsfn.core.watchdog import WATCHDOG
from opsfn.errors import InvalidSetting, OpsfnError
from opsfn.events.custom_resource import (
    CustomResourceRequest,
    CustomResourceResult,
    SendPolicy,
    parse_request,
    response_body,
    safe_url_for_logs,
    send_response,
)

SEND_POLICY = SendPolicy()
ANSWER_SAFETY_S = 0.1  # stop sending this long before the Lambda deadline (the reply must return)


class Answer:
    """The single answer of one request (one instance per invocation)."""

    def __init__(self, request: CustomResourceRequest, deadline: float) -> None:
        self.request = request
        self.deadline = deadline
        self._lock = threading.Lock()
        self.sent: dict[str, Any] | None = None

    def send(self, status: Literal["SUCCESS", "FAILED"], reason: str, physical_id: str,
             data: dict[str, Any] | None = None, no_echo: bool = False) -> bool:
        """Send once; later calls return False and send nothing."""
        with self._lock:
            if self.sent is not None:
                return False
            body = response_body(self.request, status=status, reason=reason,
                                 physical_resource_id=physical_id, data=data, no_echo=no_echo)
            delivered, detail = send_response(
                self.request.response_url, body, policy=SEND_POLICY,
                deadline=lambda: self.deadline - time.monotonic(),
            )
            self.sent = {"Status": status, "PhysicalResourceId": physical_id,
                         "delivered": delivered, "detail": detail}
        if not delivered:  # stack events show every delivered answer; a lost one needs a line
            try:  # and a metric the template's alarm watches
                emit_count(UNDELIVERED_ANSWERS)
            except Exception:  # noqa: BLE001, S110 - a metric must never stop the log line
                pass
            get_logger().error("custom resource answer not delivered", extra={
                "resource_type": self.request.resource_type,
                "request_type": self.request.request_type, "status": status, "detail": detail,
                "response_url": safe_url_for_logs(self.request.response_url),
            })
        return True


def _reason(error: OpsfnError) -> str:
    fields = "; ".join(f"{d.get('loc')}: {d.get('msg')}" for d in error.details[:10])
    return f"{error.message} ({fields})" if fields else error.message


def _outcome(request: CustomResourceRequest, invocation: Invocation, default_id: str
             ) -> tuple[Literal["SUCCESS", "FAILED"], str, str, dict[str, Any], bool]:
    route = invocation.registry.custom_resources.get(request.resource_type)
    if route is None:
        if request.request_type == "Delete":
            # Never block a stack deletion on a type this version no longer serves.
            return "SUCCESS", "resource type not served; nothing to delete", default_id, {}, False
        return "FAILED", f"no route for resource type {request.resource_type[:80]}", default_id, \
            {}, False
    try:
        result = run_route(route, invocation, lambda: request.properties, "properties", request)
    except OpsfnError as error:
        if request.request_type == "Delete" and error.code == "validation_failed":
            # Properties that never validated never created anything.
            return "SUCCESS", "invalid properties; nothing was created", default_id, {}, False
        return "FAILED", _reason(error), default_id, {}, False
    if isinstance(result, CustomResourceResult):
        physical = result.physical_resource_id or default_id
        if request.request_type == "Delete":
            physical = default_id
        return "SUCCESS", "OK", physical, result.data, result.no_echo
    data = result if isinstance(result, dict) else {}
    return "SUCCESS", "OK", default_id, data, False


def dispatch(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """Answer one custom resource request exactly once."""
    request = parse_request(event)
    # Update and Delete keep the id CloudFormation knows; Create derives a stable one.
    default_id = request.physical_resource_id or request.default_physical_id()
    setting_error: InvalidSetting | None = None
    try:
        margin_ms = invocation.settings.custom_resource_margin_ms
    except InvalidSetting as error:  # the stack still gets its answer: FAILED, naming the setting
        margin_ms, setting_error = CoreSettings.fields()["custom_resource_margin_ms"].default, error
    left_s = remaining_ms(invocation.lambda_context, invocation.started) / 1000
    # Answers may be attempted until just before the Lambda deadline: the guard fires
    # OPSFN_CR_MARGIN_MS (at least 500 ms) before it, and all of that is its time to answer.
    deadline = time.monotonic() + max(left_s - ANSWER_SAFETY_S, ANSWER_SAFETY_S)
    answer = Answer(request, deadline)
    call = contextvars.copy_context()  # the guard's log lines carry this call's keys
    guard = WATCHDOG.arm(
        left_s - margin_ms / 1000,
        lambda: call.run(answer.send, "FAILED", "timed out before the Lambda deadline", default_id),
    )
    try:
        if setting_error is not None:
            answer.send("FAILED", setting_error.message, default_id)
        else:
            status, reason, physical, data, no_echo = _outcome(request, invocation, default_id)
            answer.send(status, reason, physical, data, no_echo)
    finally:
        WATCHDOG.cancel(guard)
    return answer.sent or {}
