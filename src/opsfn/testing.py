"""Test helpers: AWS-shaped event factories and a client that drives an app like Lambda does.

Every call of :class:`Client` builds the event the real source would send and passes it through
the same ``App.__call__`` path as ``lambda_handler``, then returns what that source would receive:
an HTTP reply, an action result (or the typed error raised), an SQS batch response, or the answer
CloudFormation would have read from its ``ResponseURL``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote_plus, urlencode

from opsfn.core import dead_letters
from opsfn.services import failed_events

ACCOUNT = "123456789012"
REGION = "us-east-1"


# -- Lambda context -----------------------------------------------------------------------------
class FakeLambdaContext:
    """The attributes of a Lambda context that opsfn reads, with a real countdown."""

    def __init__(self, timeout_ms: int = 60_000, function_name: str = "opsfn") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the simulated deadline."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- HTTP events --------------------------------------------------------------------------------
def _body_fields(body: Any, binary: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if isinstance(body, bytes):
        if binary:
            return base64.b64encode(body).decode(), True
        return body.decode("utf-8"), False
    if isinstance(body, str):
        return body, False
    return json.dumps(body), False


DEFAULT_CALLERS = {"jwt": "user-123", "iam": f"arn:aws:iam::{ACCOUNT}:role/operator"}


def _authorizer_v2(auth: str | None, caller: str | None) -> dict[str, Any] | None:
    """``requestContext.authorizer`` as an HTTP API or Function URL fills it."""
    if auth is None:
        return None
    who = caller or DEFAULT_CALLERS[auth]
    if auth == "jwt":
        return {"jwt": {"claims": {"sub": who, "iss": "https://issuer.example/pool",
                                   "aud": "client-1", "token_use": "access"}, "scopes": None}}
    return {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": ACCOUNT, "callerId": "AROAEXAMPLE",
                    "cognitoIdentity": None, "principalOrgId": None, "userArn": who,
                    "userId": "AROAEXAMPLE:operator"}}


def _with_authorizer_v1(context: dict[str, Any], auth: str | None, caller: str | None) -> None:
    """What a REST API adds for a Cognito user pool authorizer or IAM authorization."""
    if auth == "jwt":
        context["authorizer"] = {"claims": {"sub": caller or DEFAULT_CALLERS["jwt"],
                                            "token_use": "id"}}
    elif auth == "iam":
        context["identity"].update({"userArn": caller or DEFAULT_CALLERS["iam"],
                                    "caller": "AROAEXAMPLE:operator", "accessKey": "ASIAEXAMPLE"})


def http_v1_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                  query: dict[str, str] | None = None, resource: str | None = None,
                  path_params: dict[str, str] | None = None, binary: bool = False,
                  auth: str | None = None, caller: str | None = None) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event; ``auth`` (``jwt``/``iam``) adds the caller."""
    text, b64 = _body_fields(body, binary)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    event: dict[str, Any] = {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path, "httpMethod": method.upper(), "path": f"/prod{path}",
            "stage": "prod", "requestId": str(uuid.uuid4()), "accountId": ACCOUNT,
            "apiId": "abc123", "identity": {"sourceIp": "192.0.2.1"},
        },
        "body": text,
        "isBase64Encoded": b64,
    }
    _with_authorizer_v1(event["requestContext"], auth, caller)
    return event


def http_v2_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                  query: dict[str, str] | None = None, binary: bool = False,
                  route_key: str = "$default", domain: str = "abc123.execute-api.us-east-1.amazonaws.com",
                  auth: str | None = None, caller: str | None = None) -> dict[str, Any]:
    """An HTTP API payload 2.0 event; ``auth`` (``jwt``/``iam``) adds the authorizer context."""
    text, b64 = _body_fields(body, binary)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in
                                                           (headers or {}).items()}},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": domain.split(".", 1)[0], "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {"method": method.upper(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "opsfn-test"},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1767225600000,
        },
        "body": text,
        "isBase64Encoded": b64,
    }
    authorizer = _authorizer_v2(auth, caller)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


def function_url_event(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0 with a ``lambda-url`` domain; ``auth="iam"`` for
    an ``AWS_IAM`` URL)."""
    return http_v2_event(method, path, domain="abcdefghij.lambda-url.us-east-1.on.aws", **kwargs)


def alb_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
              query: dict[str, str] | None = None, multi_value: bool = False,
              binary: bool = False, auth: str | None = None, caller: str | None = None
              ) -> dict[str, Any]:
    """An Application Load Balancer target-group event (an ALB passes no authorizer context)."""
    if auth is not None or caller is not None:
        raise ValueError("an ALB event carries no authorizer context")
    text, b64 = _body_fields(body, binary)
    hdrs = {"content-type": "application/json", "x-amzn-trace-id": f"Root=1-{uuid.uuid4().hex[:8]}",
            **(headers or {})}
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn":
                                   f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/opsfn/1"}},
        "httpMethod": method.upper(),
        "path": path,
        "body": text or "",
        "isBase64Encoded": b64,
    }
    encoded = {quote_plus(k): quote_plus(v) for k, v in (query or {}).items()}
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in hdrs.items()}
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in encoded.items()}
    else:
        event["headers"] = hdrs
        event["queryStringParameters"] = encoded
    return event


# -- S3, SQS, SNS, SES, EventBridge -------------------------------------------------------------
def s3_record(bucket: str, key: str, *, event_name: str = "ObjectCreated:Put", size: int = 1024,
              etag: str = "0123456789abcdef0123456789abcdef") -> dict[str, Any]:
    """One S3 notification record; the key is URL-encoded as S3 does."""
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": event_name,
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "opsfn",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag,
                       "sequencer": "0055AED6DCD90281E5"},
        },
    }


def s3_event(bucket: str, keys: str | list[str], **kwargs: Any) -> dict[str, Any]:
    """A direct S3 notification with one record per key."""
    keys = [keys] if isinstance(keys, str) else keys
    return {"Records": [s3_record(bucket, key, **kwargs) for key in keys]}


def s3_test_event(bucket: str) -> dict[str, Any]:
    """The ``s3:TestEvent`` S3 sends when a notification is configured."""
    return {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00.000Z",
            "Bucket": bucket, "RequestId": "EXAMPLE", "HostId": "EXAMPLE"}


def s3_eventbridge_event(bucket: str, key: str, *, reason: str = "PutObject",
                         detail_type: str = "Object Created", size: int = 1024) -> dict[str, Any]:
    """An S3 event as EventBridge delivers it (key not encoded)."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.s3",
        "account": ACCOUNT, "time": "2026-01-01T00:00:00Z", "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": "0123456789abcdef",
                              "sequencer": "0055AED6DCD90281E5"},
                   "request-id": "EXAMPLE", "requester": ACCOUNT, "reason": reason},
    }


def sns_envelope(message: Any, topic: str = "opsfn-topic", subject: str | None = None
                 ) -> dict[str, Any]:
    """The JSON SNS writes into an SQS body (and the core of a Lambda SNS record)."""
    return {
        "Type": "Notification", "MessageId": str(uuid.uuid4()),
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}", "Subject": subject,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertUrl": "https://sns.example/cert.pem", "UnsubscribeUrl": "https://sns.example/u",
        "MessageAttributes": {},
    }


def sns_event(messages: Any | list[Any], topic: str = "opsfn-topic") -> dict[str, Any]:
    """A Lambda SNS event (``EventSource`` with a capital E)."""
    items = messages if isinstance(messages, list) else [messages]
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}:{uuid.uuid4()}",
        "Sns": sns_envelope(message, topic),
    } for message in items]}


def sqs_record(body: Any, queue: str = "opsfn-work", message_id: str | None = None,
               receive_count: int = 1) -> dict[str, Any]:
    """One SQS record; a non-string body is JSON-encoded."""
    return {
        "messageId": message_id or str(uuid.uuid4()), "receiptHandle": "EXAMPLE",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receive_count),
                       "SentTimestamp": "1767225600000", "SenderId": ACCOUNT,
                       "ApproximateFirstReceiveTimestamp": "1767225600000"},
        "messageAttributes": {}, "md5OfBody": "EXAMPLE", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", "awsRegion": REGION,
    }


def sqs_event(bodies: list[Any], queue: str = "opsfn-work") -> dict[str, Any]:
    """A Lambda SQS event with one record per body."""
    return {"Records": [sqs_record(body, queue) for body in bodies]}


def ses_record(message_id: str, *, sender: str = "sender@example.com",
               recipients: list[str] | None = None, subject: str = "Test message",
               verdicts: dict[str, str] | None = None, invocation_type: str = "Event",
               function_name: str = "opsfn") -> dict[str, Any]:
    """One record of an SES receipt rule's Lambda action; ``verdicts`` overrides ``PASS``
    per check (``{"spam": "FAIL"}``)."""
    to = recipients or ["inbox@example.org"]
    status = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS",
              **(verdicts or {})}
    date = "Thu, 01 Jan 2026 00:00:00 +0000"
    return {
        "eventSource": "aws:ses", "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2026-01-01T00:00:00.000Z", "source": sender,
                "messageId": message_id, "destination": to, "headersTruncated": False,
                "headers": [{"name": "Return-Path", "value": f"<{sender}>"},
                            {"name": "From", "value": sender},
                            {"name": "Date", "value": date},
                            {"name": "To", "value": ", ".join(to)},
                            {"name": "Subject", "value": subject},
                            {"name": "Message-ID", "value": f"<{message_id}@example.com>"}],
                "commonHeaders": {"returnPath": sender, "from": [sender], "date": date,
                                  "to": to, "messageId": f"<{message_id}@example.com>",
                                  "subject": subject},
            },
            "receipt": {
                "timestamp": "2026-01-01T00:00:00.000Z", "processingTimeMillis": 420,
                "recipients": to,
                **{f"{name}Verdict": {"status": value} for name, value in status.items()},
                "dmarcPolicy": "none",
                "action": {"type": "Lambda", "invocationType": invocation_type,
                           "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
                                          f"{function_name}"},
            },
        },
    }


def ses_event(message_ids: str | list[str], **kwargs: Any) -> dict[str, Any]:
    """An SES receipt event (``eventSource`` ``aws:ses``) with one record per message id."""
    ids = [message_ids] if isinstance(message_ids, str) else message_ids
    return {"Records": [ses_record(message_id, **kwargs) for message_id in ids]}


def schedule_event(name: str, *, scheduler: bool = False) -> dict[str, Any]:
    """A rule's ``Scheduled Event`` or, with ``scheduler``, EventBridge Scheduler's default event."""
    if scheduler:
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                "source": "aws.scheduler", "account": ACCOUNT, "time": "2026-01-01T00:00:00Z",
                "region": REGION,
                "resources": [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"],
                "detail": "{}"}
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": "2026-01-01T00:00:00Z",
            "region": REGION, "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"],
            "detail": {}}


def eventbridge_event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """Any EventBridge event."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": ACCOUNT, "time": "2026-01-01T00:00:00Z", "region": REGION,
            "resources": [], "detail": detail}


def custom_resource_event(request_type: str, resource_type: str, properties: dict[str, Any],
                          *, response_url: str, old_properties: dict[str, Any] | None = None,
                          physical_id: str | None = None, logical_id: str = "Resource",
                          stack_id: str | None = None) -> dict[str, Any]:
    """A CloudFormation custom resource request."""
    service_token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:opsfn"
    event: dict[str, Any] = {
        "RequestType": request_type, "ServiceToken": service_token, "ResponseURL": response_url,
        "StackId": stack_id or f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/test/0001",
        "RequestId": str(uuid.uuid4()), "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": service_token, **properties},
    }
    if old_properties is not None:
        event["OldResourceProperties"] = {"ServiceToken": service_token, **old_properties}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def invoke_event(action: str, **payload: Any) -> dict[str, Any]:
    """A direct invoke payload."""
    return {"action": action, **payload}


# -- the ResponseURL server ---------------------------------------------------------------------
@dataclass
class ResponseURLServer:
    """A local HTTP server standing in for CloudFormation's presigned ``ResponseURL``.

    ``statuses`` are answered in order (the last repeats); ``delay_s`` sleeps before answering.
    Every PUT body is kept in ``received``.
    """

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                index = len(owner.received)
                owner.received.append({"raw": raw, "body": json.loads(raw or b"{}"),
                                       "path": self.path, "at": time.monotonic()})
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                status = owner.statuses[min(index, len(owner.statuses) - 1)]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """A presigned-looking URL on this server."""
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/cfn-response?X-Amz-Signature=secret-signature"

    def close(self) -> None:
        """Stop the server."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ResponseURLServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the client ---------------------------------------------------------------------------------
@dataclass
class HttpReply:
    """An HTTP reply as the caller would see it."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: dict[str, Any]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8")


def parse_http_reply(reply: dict[str, Any]) -> HttpReply:
    """Decode a Lambda HTTP reply (any of the four formats)."""
    headers = dict(reply.get("headers") or {})
    for key, values in (reply.get("multiValueHeaders") or {}).items():
        headers[key] = ",".join(values)
    body = reply.get("body") or ""
    data = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
    return HttpReply(int(reply["statusCode"]), headers, data, reply)


class Client:
    """Drive an app (or ``lambda_handler``) with realistic events, as its sources would."""

    def __init__(self, app: Any, *, http_shape: str = "http_v2", timeout_ms: int = 60_000,
                 auth: str | None = None, caller: str | None = None) -> None:
        """``auth`` (``iam`` or ``jwt``) makes every HTTP request arrive as an authorizer
        would pass it, as ``caller``; a request's own ``auth`` argument wins. Permanent failures
        are parked in the failed-events queue as the handler parks them."""
        dead_letters.use_sender(failed_events.send)
        self.app = app
        self.http_shape = http_shape
        self.timeout_ms = timeout_ms
        self.auth = auth
        self.caller = caller

    def handle(self, event: Any, timeout_ms: int | None = None) -> Any:
        """Send any event through the same path the Lambda runtime uses."""
        return self.app(event, FakeLambdaContext(timeout_ms or self.timeout_ms))

    # HTTP
    def request(self, method: str, path: str, *, json_body: Any = None, body: Any = None,
                headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
                shape: str | None = None, auth: str | None = None, caller: str | None = None
                ) -> HttpReply:
        """An HTTP request in the given source shape (``http_v1``, ``http_v2``, ``function_url``,
        ``alb``); ``auth`` (``jwt`` or ``iam``) is what the API's authorizer would add."""
        payload = json_body if json_body is not None else body
        kind = shape or self.http_shape
        if auth is None and kind != "alb":
            auth, caller = self.auth, caller or self.caller
        if kind == "http_v1":
            event = http_v1_event(method, path, body=payload, headers=headers, query=query,
                                  auth=auth, caller=caller)
        elif kind == "function_url":
            event = function_url_event(method, path, body=payload, headers=headers, query=query,
                                       auth=auth, caller=caller)
        elif kind == "alb":
            event = alb_event(method, path, body=payload, headers=headers, query=query,
                              auth=auth, caller=caller)
        else:
            event = http_v2_event(method, path, body=payload, headers=headers, query=query,
                                  auth=auth, caller=caller)
        return parse_http_reply(self.handle(event))

    def get(self, path: str, **kwargs: Any) -> HttpReply:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpReply:
        """POST ``path``."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpReply:
        """PUT ``path``."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpReply:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kwargs)

    # everything else
    def invoke(self, action: str, **payload: Any) -> Any:
        """A direct invoke; returns the result or raises the typed error."""
        return self.handle(invoke_event(action, **payload))

    def s3_put(self, bucket: str, key: str, *, via: str = "direct", size: int = 1024,
               queue: str = "opsfn-s3-events", topic: str = "opsfn-s3-topic") -> Any:
        """An object-created event, ``via`` direct, eventbridge, sqs, sns or sns_sqs."""
        notification = s3_event(bucket, key, size=size)
        if via == "direct":
            return self.handle(notification)
        if via == "eventbridge":
            return self.handle(s3_eventbridge_event(bucket, key, size=size))
        if via == "sqs":
            return self.handle(sqs_event([notification], queue))
        if via == "sns":
            return self.handle(sns_event(notification, topic))
        if via == "sns_sqs":
            return self.handle(sqs_event([sns_envelope(notification, topic)], queue))
        raise ValueError(f"unknown via {via!r}")

    def schedule(self, name: str, *, scheduler: bool = False) -> Any:
        """Fire a schedule."""
        return self.handle(schedule_event(name, scheduler=scheduler))

    def eventbridge(self, source: str, detail_type: str, detail: dict[str, Any]) -> Any:
        """Deliver an EventBridge event."""
        return self.handle(eventbridge_event(source, detail_type, detail))

    def sqs(self, messages: list[Any], queue: str = "opsfn-work") -> Any:
        """Deliver an SQS batch; returns the ``batchItemFailures`` reply."""
        return self.handle(sqs_event(messages, queue))

    def sns(self, messages: Any | list[Any], topic: str = "opsfn-topic") -> Any:
        """Deliver an SNS event."""
        return self.handle(sns_event(messages, topic))

    def ses(self, message_ids: str | list[str], **kwargs: Any) -> Any:
        """Deliver an SES receipt event for messages already stored by the rule's S3 action."""
        return self.handle(ses_event(message_ids, **kwargs))

    def custom_resource(self, request_type: str, resource_type: str, properties: dict[str, Any],
                        old_properties: dict[str, Any] | None = None, *,
                        physical_id: str | None = None, logical_id: str = "Resource",
                        timeout_ms: int | None = None) -> dict[str, Any]:
        """Run a custom resource request; returns the body CloudFormation would have received."""
        with ResponseURLServer() as server:
            event = custom_resource_event(
                request_type, resource_type, properties, response_url=server.url,
                old_properties=old_properties, physical_id=physical_id, logical_id=logical_id,
            )
            self.handle(event, timeout_ms)
            if len(server.received) != 1:
                raise AssertionError(f"expected one answer, got {len(server.received)}")
            return server.received[0]["body"]  # type: ignore[no-any-return]
