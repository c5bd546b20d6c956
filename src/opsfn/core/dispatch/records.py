"""Record-based sources: S3 (in every wrapping), SQS and SNS.

Every record is tried. S3 and SNS then raise :class:`RecordsFailed` if any record failed (so Lambda
retries the event and alarms fire); SQS reports failed records one by one through
``batchItemFailures`` so one bad message never fails the batch. On a FIFO queue the records after a
failure are reported failed unprocessed, which keeps each message group in order.
"""

from __future__ import annotations

from typing import Any

from opsfn.core.dead_letters import park
from opsfn.core.dispatch.invoke import find_action, run_action
from opsfn.core.invocation import Invocation
from opsfn.core.observability import get_logger
from opsfn.core.registry import last_name
from opsfn.core.route_call import run_route
from opsfn.core.router import ActionSpec, S3Spec
from opsfn.errors import NotExposed, NotFound, OpsfnError, RecordsFailed, ValidationFailed
from opsfn.events import s3 as s3_events
from opsfn.events.kinds import Via
from opsfn.events.s3 import S3Object
from opsfn.events.sns import SnsMessage, parse_envelope
from opsfn.events.sns import parse_record as parse_sns_record
from opsfn.events.sqs import SqsMessage
from opsfn.events.sqs import parse_record as parse_sqs_record


def _matches(spec: S3Spec, obj: S3Object) -> bool:
    return (
        obj.key.startswith(spec.prefix)
        and obj.key.endswith(spec.suffix)
        and any(s3_events.event_matches(pattern, obj.event_name) for pattern in spec.events)
    )


def run_s3_object(obj: S3Object, invocation: Invocation, source: Via) -> int:
    """Run every route whose bucket, prefix, suffix and event match; returns how many ran."""
    routes = invocation.registry.s3.get(obj.bucket)
    if not routes:
        raise NotFound("no S3 route for this bucket")
    ran = 0
    errors: list[OpsfnError] = []
    for route in routes:
        if not isinstance(route.spec, S3Spec) or not _matches(route.spec, obj):
            continue
        ran += 1
        try:
            run_route(route, invocation, lambda: obj, "object", obj, source=source)
        except OpsfnError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    return ran


def _run_objects(objects: list[S3Object], invocation: Invocation, source: Via
                 ) -> tuple[int, list[OpsfnError]]:
    ran, failures = 0, []
    for obj in objects:
        try:
            ran += run_s3_object(obj, invocation, source)
        except OpsfnError as error:
            failures.append(error)
            get_logger().warning("S3 record failed", extra={**error.log_fields(),
                                                            "bucket": obj.bucket})
    return ran, failures


def dispatch_s3(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """Direct S3 notifications; ``s3:TestEvent`` is acknowledged and ignored."""
    if s3_events.is_test_event(event):
        return {"processed": 0, "test_event": True}
    objects: list[S3Object] = []
    failures: list[OpsfnError] = []
    for record in event["Records"]:
        try:
            objects.append(s3_events.from_notification_record(record))
        except OpsfnError as error:
            failures.append(error)
    ran, failed = _run_objects(objects, invocation, "s3")
    failures += failed
    if failures:
        raise RecordsFailed(len(failures), len(event["Records"]), failures)
    return {"processed": ran, "records": len(objects)}


def dispatch_s3_eventbridge(event: dict[str, Any], invocation: Invocation
                            ) -> dict[str, Any]:
    """An S3 event delivered by EventBridge (one object per event)."""
    obj = s3_events.from_eventbridge(event)
    ran = run_s3_object(obj, invocation, "s3_eventbridge")
    return {"processed": ran, "records": 1}


def handle_sns_message(message: SnsMessage, invocation: Invocation, source: Via) -> None:
    """An SNS message: S3 notifications go to S3 routes, anything else to the topic's route."""
    inner = message.json()
    objects = s3_events.objects_in(inner, source)
    if objects is not None:
        _, failures = _run_objects(objects, invocation, source)
        if failures:
            raise RecordsFailed(len(failures), len(objects), failures)
        return
    routes = invocation.registry.sns.get(message.topic)
    if not routes:
        raise NotFound("no route for this topic")
    payload = inner if inner is not None else message.message
    for route in routes:
        run_route(route, invocation, lambda: payload, "message", message, source=source)


def dispatch_sns(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """SNS records; raise after all ran if any failed."""
    failures: list[OpsfnError] = []
    for record in event["Records"]:
        message = parse_sns_record(record)
        try:
            if message is None:
                raise ValidationFailed("SNS record is malformed")
            handle_sns_message(message, invocation, "sns")
        except OpsfnError as error:
            failures.append(error)
            get_logger().warning("SNS record failed", extra=error.log_fields())
    if failures:
        raise RecordsFailed(len(failures), len(event["Records"]), failures)
    return {"processed": len(event["Records"])}


def _action_queue(invocation: Invocation) -> str | None:
    queue = invocation.settings.action_queue
    return last_name(queue) if queue else None


def handle_sqs_message(message: SqsMessage, invocation: Invocation,
                       action_queue: str | None) -> None:
    """One SQS message: action queue, declared work queue, or a wrapped S3/SNS event."""
    if action_queue is not None and message.queue == action_queue:
        payload = message.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
            raise ValidationFailed("action queue messages are JSON objects with a string action",
                                   details=[{"loc": "message.action", "msg": "Field required",
                                             "type": "missing"}])
        body = dict(payload)
        route = find_action(invocation.registry, str(body.pop("action")))
        if not isinstance(route.spec, ActionSpec) or not route.spec.queue:
            raise NotExposed("this action is not reachable from the action queue")
        run_action(route, body, invocation, "sqs", envelope=message)
        return
    routes = invocation.registry.sqs.get(message.queue)
    if routes:
        payload = message.json()
        data = payload if payload is not None else message.body
        for route in routes:
            run_route(route, invocation, lambda: data, "message", message, source="sqs")
        return
    payload = message.json()
    objects = s3_events.objects_in(payload, "sqs")
    if objects is not None:
        _, failures = _run_objects(objects, invocation, "sqs")
        if failures:
            raise RecordsFailed(len(failures), len(objects), failures)
        return
    envelope = parse_envelope(payload)
    if envelope is not None:
        handle_sns_message(envelope, invocation, "sns_sqs")
        return
    raise NotFound("no route for this queue")


def dispatch_sqs(event: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    """SQS batch with partial failures: only the failed message ids are returned."""
    failures: list[str] = []
    action_queue = _action_queue(invocation)
    fifo_blocked = False
    for record in event["Records"]:
        message = parse_sqs_record(record)
        if message is None:
            # Without an id SQS cannot be told which message failed; an empty identifier makes
            # it retry the whole batch, which loses nothing.
            raw_id = record.get("messageId") if isinstance(record, dict) else None
            failures.append(raw_id if isinstance(raw_id, str) else "")
            continue
        if fifo_blocked:
            failures.append(message.message_id)
            continue
        try:
            handle_sqs_message(message, invocation, action_queue)
        except OpsfnError as error:
            if park("sqs", {"queue": message.queue, "messageId": message.message_id,
                            "body": message.body}, error, invocation.settings.failed_events_queue):
                continue  # retrying cannot help: it is in the failed-events queue, done here
            failures.append(message.message_id)
            get_logger().warning("SQS message failed", extra={
                **error.log_fields(), "queue": message.queue, "message_id": message.message_id,
            })
            fifo_blocked = message.fifo
    return {"batchItemFailures": [{"itemIdentifier": item} for item in failures]}
