"""The local stack: the template's resources in moto, its triggers as threads, one process.

``LocalStack.start()`` creates what the template declares (buckets with their CORS, tables with
their keys and TTL, queues with their redrive policies, topics), sets the function's environment
as the template would, and delivers every trigger the way AWS would:

* objects put in a bucket reach their S3 route as a direct notification or as S3's event through
  the EventBridge rule, whichever the template declares (moto notifies a local queue; the poller
  turns each record into that event and invokes asynchronously);
* SNS messages of a topic the function subscribes to arrive one record per invocation;
* SQS triggers are polled in batches of the event's ``BatchSize`` within its batching window;
  with ``ReportBatchItemFailures`` only the failed messages stay, and a message received
  ``maxReceiveCount`` times goes to its dead-letter queue;
* asynchronous invocations are retried and then sent to the ``OnFailure`` destination;
* ``rate(...)`` schedules fire on their rate, and custom resources run a stack Create at start.

Every invocation goes through :class:`~opsfn.tooling.local.runtime.Runtime`, one at a time, in
this process, or, given a ``runtime_factory``, through execution environments of their own under
the Lambda runtime's client (:mod:`opsfn.tooling.local.process_runtime`); each is recorded for the
upload page's activity panel.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsfn.services import aws
from opsfn.tooling.local import deliveries
from opsfn.tooling.local.activity import Activity
from opsfn.tooling.local.async_invoke import AsyncInvoker, InvokeConfig, send_to_destination
from opsfn.tooling.local.function import FunctionInfo, function_info
from opsfn.tooling.local.lambda_api import LambdaApi
from opsfn.tooling.local.runtime import FunctionRuntime, Outcome, Runtime
from opsfn.tooling.local.template_eval import ACCOUNT, Evaluator
from opsfn.tooling.template_reader import (
    S3_DETAIL_TYPES,
    Declared,
    declared_triggers,
    load_template,
    ref_target,
)

S3_EVENTS_QUEUE = "opsfn-local-s3-events"
SNS_QUEUE_PREFIX = "opsfn-local-sns-"
# Parameters the local stack sets so every optional feature exists locally: fake network ids
# turn the EFS conditions on (the mount becomes a local directory), and the named external
# resources (database, Glue workflow, SES rule set, KMS key) are created in the emulator.
LOCAL_PARAMETERS: dict[str, str] = {
    "AllowedOrigin": "*", "LogLevel": "INFO",
    "SubnetIds": "subnet-0local0", "SecurityGroupIds": "sg-0local0",
    "EfsFileSystemId": "fs-00000000",
    "DatabaseInstanceId": "opsfn-local-db", "GlueWorkflowName": "opsfn-local-etl",
    "SmtpUserName": "opsfn-local-smtp", "ReceiptRuleSetName": "opsfn-local-rules",
    "SmtpIdentityArn": f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/opsfn.local",
    "ExportDbInstanceId": "opsfn-local-db", "ExportKmsKeyArn": "create",
}
EFS_MOUNT = "/mnt/opsfn"
VISIBILITY_MARGIN_S = 0.3  # a batching window ends this long before its messages' visibility
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

Log = Callable[[str], None]
# Builds the out-of-process runtime from the function as the template declares it and the
# environment the stack resolved for it.
RuntimeFactory = Callable[[FunctionInfo, dict[str, str]], FunctionRuntime]

# Errors that mean "it is already there" (a second run against the same --endpoint-url).
EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "ResourceInUseException",
                          "DBInstanceAlreadyExists", "AlreadyExistsException", "AlreadyExists",
                          "QueueAlreadyExists", "EntityAlreadyExists"})


def exists_ok(call: Callable[[], Any]) -> bool:
    """Run a create call; False when the resource already existed."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in EXISTS_CODES:
            return False
        raise
    return True


def rate_seconds(expression: str | None) -> int | None:
    """Seconds between runs of a ``rate(...)`` expression; None for cron or nothing."""
    match = _RATE.fullmatch((expression or "").strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


# Who may assume a local role: anyone of the emulator's account, and Lambda.
_TRUST_ANY_LOCAL = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root", "Service": "lambda.amazonaws.com"}}]}


def local_name(logical_id: str) -> str:
    """A valid bucket/table/queue name for a logical id."""
    return "opsfn-local-" + re.sub(r"[^a-z0-9-]", "-", logical_id.lower())


@dataclass(frozen=True, slots=True)
class SqsTrigger:
    """An SQS event of the function: how Lambda's event source mapping reads the queue."""

    logical: str
    event: str
    batch_size: int = 10
    window_s: float = 0.0
    partial: bool = False


def sqs_triggers(template: dict[str, Any], function: str) -> list[SqsTrigger]:
    """Every SQS event of ``function`` with its batch size, window and response types."""
    found = []
    events = (template["Resources"][function].get("Properties") or {}).get("Events") or {}
    for name, event in events.items():
        if not isinstance(event, dict) or event.get("Type") != "SQS":
            continue
        props = event.get("Properties") or {}
        queue = ref_target(props.get("Queue"))
        if queue is None:
            continue
        size = props.get("BatchSize", 10)
        window = props.get("MaximumBatchingWindowInSeconds", 0)
        found.append(SqsTrigger(queue, name, int(size) if isinstance(size, int) else 10,
                                float(window) if isinstance(window, int | float) else 0.0,
                                "ReportBatchItemFailures" in (props.get("FunctionResponseTypes")
                                                              or [])))
    return found


def sns_subscriptions(template: dict[str, Any], declared: Declared) -> dict[str, str]:
    """Topic logical id -> the name of what subscribes the function to it (SAM ``SNS`` events
    and ``AWS::SNS::Subscription`` resources with the lambda protocol)."""
    found = dict(declared.sns)
    for name, res in template["Resources"].items():
        if isinstance(res, dict) and res.get("Type") == "AWS::SNS::Subscription":
            props = res.get("Properties") or {}
            if str(props.get("Protocol")).lower() == "lambda" and \
                    ref_target(props.get("Endpoint")) == declared.function:
                topic = ref_target(props.get("TopicArn"))
                if topic is not None:
                    found.setdefault(topic, name)
    return found


def function_name(template: dict[str, Any], logical: str, evaluator: Evaluator) -> str:
    """The function's name: its ``FunctionName`` when the template sets one, else the logical id."""
    name = evaluator.value((template["Resources"][logical].get("Properties") or {}).get(
        "FunctionName"))
    return name if isinstance(name, str) and name else logical


class LocalStack:
    """Resources, environment and background triggers of one local run."""

    def __init__(self, template_path: Path, endpoint_url: str, *, region: str = "us-east-1",
                 parameters: dict[str, str] | None = None, schedules: bool = True,
                 log: Log | None = None, state_dir: Path | None = None, app: Any = None,
                 retry_seconds: float = 1.0, visibility_timeout: int = 30,
                 runtime_factory: RuntimeFactory | None = None,
                 app_reference: str | None = None) -> None:
        self.template = load_template(template_path)
        self.declared: Declared = declared_triggers(self.template)
        self.endpoint_url = endpoint_url
        self.region = region
        self.log = log or (lambda message: None)
        self.evaluator = Evaluator(self.template, region, {**LOCAL_PARAMETERS, **(parameters or {})})
        self.run_schedules = schedules
        self.state_dir = state_dir or Path(".opsfn-local")
        self.retry_seconds = retry_seconds
        self.visibility_timeout = visibility_timeout
        self.function_name = function_name(self.template, self.declared.function, self.evaluator)
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{self.function_name}"
        if app is None:
            from opsfn.handler import app as default_app

            app = default_app
        self.app = app
        self.activity = Activity()
        self.in_process = Runtime(app, self.log, self.function_name, self.function_arn)
        self.runtime: FunctionRuntime = self.in_process
        self.runtime.on_outcome.append(self.activity.record)
        self.invoke: FunctionRuntime = self.runtime
        self.runtime_factory = runtime_factory
        self.app_reference = app_reference
        self.async_invoker: AsyncInvoker | None = None
        self.function: FunctionInfo = FunctionInfo(self.function_name, region)
        self.lambda_api = LambdaApi(lambda: self.function, self._role, self._invoke_sync,
                                    self.submit)
        self.created: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.cfn_responses: dict[str, dict[str, Any]] = {}
        self.s3_shapes: dict[str, str] = {}  # notification id -> "direct" or "eventbridge"
        self.sns_queues: dict[str, str] = {}  # transport queue logical -> subscription ARN
        self.ready = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- invocations --------------------------------------------------------------------------
    def _invoke_sync(self, event: Any, label: str, client_context: Any) -> Outcome:
        return self.runtime.run(event, label, client_context=client_context)

    def submit(self, event: Any, label: str) -> None:
        """Invoke asynchronously (retries, then the OnFailure destination)."""
        if self.async_invoker is None:
            raise RuntimeError("the local stack has not started")
        self.async_invoker.submit(event, label)

    def _role(self) -> str:
        role = ref_target((self.template["Resources"][self.declared.function].get("Properties")
                           or {}).get("Role"))
        return f"arn:aws:iam::{ACCOUNT}:role/{local_name(role or 'FunctionRole')}"

    def invoke_config(self) -> InvokeConfig:
        """The function's EventInvokeConfig, its destinations resolved to local ARNs."""
        props = self.template["Resources"][self.declared.function].get("Properties") or {}
        config = props.get("EventInvokeConfig") or {}
        destinations = config.get("DestinationConfig") or {}

        def arn(which: str) -> str | None:
            value = self.evaluator.value((destinations.get(which) or {}).get("Destination"))
            return value if isinstance(value, str) and value else None

        retries = config.get("MaximumRetryAttempts", 2)
        return InvokeConfig(retries if isinstance(retries, int) else 2, arn("OnFailure"),
                            arn("OnSuccess"))

    # -- resources ----------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A client of the local endpoint."""
        return aws.client(service, self.region)

    def _resources(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, res) for name, res in self.template["Resources"].items()
                if isinstance(res, dict) and res.get("Type") == kind and self.evaluator.active(res)]

    def create_resources(self) -> None:
        """Create queues, topics, tables, buckets and roles, then give every other resource a
        name."""
        queues = self._resources("AWS::SQS::Queue")
        queues.sort(key=lambda item: "RedrivePolicy" in (item[1].get("Properties") or {}))
        for name, res in queues:
            self._queue(name, res.get("Properties") or {})
        for name, _ in self._resources("AWS::SNS::Topic"):
            arn = self.client("sns").create_topic(Name=local_name(name))["TopicArn"]
            self._record(name, arn, {"TopicArn": arn, "TopicName": local_name(name)})
        for name, res in self._resources("AWS::DynamoDB::Table"):
            self._table(name, res.get("Properties") or {})
        for name, res in self._resources("AWS::S3::Bucket"):
            self._bucket(name, res.get("Properties") or {})
        self._record(self.declared.function, self.function_name, {"Arn": self.function_arn})
        for name, _ in self._resources("AWS::IAM::Role"):
            self._iam_role(name)
        for name, _ in self._resources("AWS::IAM::ManagedPolicy"):
            arn = f"arn:aws:iam::{ACCOUNT}:policy/{local_name(name)}"
            self._record(name, arn, {"PolicyArn": arn})
        for name, res in self.template["Resources"].items():
            if name not in self.evaluator.refs and isinstance(res, dict) \
                    and not str(res.get("Type", "")).startswith("Custom::") \
                    and self.evaluator.active(res):
                self._record(name, f"local-{name}", {"Arn": f"arn:aws:local:{self.region}:"
                                                            f"{ACCOUNT}:{name}"})

    def create_fixtures(self) -> None:
        """External resources the parameters name, created in the emulator."""
        params = self.evaluator.parameters
        if params.get("ReceiptRuleSetName"):
            exists_ok(lambda: self.client("ses").create_receipt_rule_set(
                RuleSetName=params["ReceiptRuleSetName"]))
        if params.get("GlueWorkflowName"):
            exists_ok(lambda: self.client("glue").create_workflow(Name=params["GlueWorkflowName"]))
        databases = {params.get("DatabaseInstanceId"), params.get("ExportDbInstanceId")} - {None, ""}
        rds = self.client("rds")
        for identifier in sorted(str(d) for d in databases):
            exists_ok(functools.partial(
                rds.create_db_instance, DBInstanceIdentifier=identifier, Engine="postgres",
                DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="opsfn",
                MasterUserPassword=uuid.uuid4().hex))
        if params.get("ExportKmsKeyArn") == "create":
            params["ExportKmsKeyArn"] = self.client("kms").create_key(
                Description="opsfn local export key")["KeyMetadata"]["Arn"]

    def _record(self, logical: str, ref: str, attrs: dict[str, Any]) -> None:
        self.evaluator.refs[logical] = ref
        self.evaluator.attrs[logical] = attrs
        self.created[logical] = ref

    def _iam_role(self, logical: str) -> None:
        """A role the emulator's STS can assume: ``OPSFN_ROUTES_ROLE_ARN`` names one (the
        emulator does not enforce IAM, so its policies are left out)."""
        name = local_name(logical)
        exists_ok(lambda: self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST_ANY_LOCAL)))
        arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        self._record(logical, name, {"Arn": arn, "RoleId": f"AROA{name.upper()[:16]}"})

    def _queue(self, logical: str, props: dict[str, Any]) -> None:
        # Local retries come within seconds, not the template's hours.
        attributes = {"VisibilityTimeout": str(self.visibility_timeout)}
        redrive = self.evaluator.value(props.get("RedrivePolicy"))
        if isinstance(redrive, dict) and redrive.get("deadLetterTargetArn"):
            attributes["RedrivePolicy"] = json.dumps(redrive)
        url = self.client("sqs").create_queue(QueueName=local_name(logical),
                                              Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{local_name(logical)}"
        self.queue_urls[logical] = url
        self._record(logical, url, {"Arn": arn, "QueueName": local_name(logical),
                                    "QueueUrl": url})

    def _table(self, logical: str, props: dict[str, Any]) -> None:
        dynamodb = self.client("dynamodb")
        name = local_name(logical)
        created = exists_ok(lambda: dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"]))
        ttl = props.get("TimeToLiveSpecification")
        if created and isinstance(ttl, dict) and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"], "Enabled": True})
        self._record(logical, name, {"Arn": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"})

    def _bucket(self, logical: str, props: dict[str, Any]) -> None:
        s3 = self.client("s3")
        name = local_name(logical)
        if self.region == "us-east-1":
            exists_ok(lambda: s3.create_bucket(Bucket=name))
        else:
            exists_ok(lambda: s3.create_bucket(Bucket=name, CreateBucketConfiguration={
                "LocationConstraint": self.region}))
        cors = self.evaluator.value(props.get("CorsConfiguration"))
        if isinstance(cors, dict) and cors.get("CorsRules"):
            rules = [{"AllowedOrigins": r.get("AllowedOrigins", ["*"]),
                      "AllowedMethods": r.get("AllowedMethods", ["GET"]),
                      "AllowedHeaders": r.get("AllowedHeaders", ["*"]),
                      "ExposeHeaders": r.get("ExposedHeaders", []),
                      "MaxAgeSeconds": int(r.get("MaxAge", 600))} for r in cors["CorsRules"]]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        self._record(logical, name, {"Arn": f"arn:aws:s3:::{name}", "DomainName":
                                     f"{name}.s3.amazonaws.com"})

    # -- environment --------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The function's environment as the template defines it, resolved locally."""
        env: dict[str, str] = {}
        for name, expression in self.declared.env.items():
            value = self.evaluator.value(expression)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                text = str(value)
                if text == EFS_MOUNT or text.startswith(EFS_MOUNT + "/"):
                    local = (self.state_dir / "efs").resolve()
                    text = str(local) + text[len(EFS_MOUNT):]
                    Path(text).mkdir(parents=True, exist_ok=True)
                env[name] = text
        return env

    def function_environment(self, env: dict[str, str]) -> dict[str, str]:
        """What the function's own process gets beside the runtime's variables: the template's
        environment, the local endpoint, the application, and the access check (``deny``
        unless this process was told otherwise), as the in-process function has them."""
        extra = {"AWS_ENDPOINT_URL": self.endpoint_url, "OPSFN_LOCAL": "1",
                 "OPSFN_ACCESS_CHECK": os.environ.get("OPSFN_ACCESS_CHECK") or "deny"}
        if self.app_reference:
            extra["OPSFN_APP"] = self.app_reference
        return {**env, **extra}

    def apply_environment(self) -> dict[str, str]:
        """Set the process environment the in-process handler reads."""
        env = self.environment()
        os.environ.update(env)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("OPSFN_ACCESS_CHECK", "deny")  # an undeclared call fails here first
        os.environ["OPSFN_LOCAL"] = "1"
        return env

    # -- S3 notifications ---------------------------------------------------------------------
    def _s3_shape(self, event_name: str) -> str:
        event = ((self.template["Resources"][self.declared.function].get("Properties") or {})
                 .get("Events") or {}).get(event_name) or {}
        return "direct" if event.get("Type") == "S3" else "eventbridge"

    def wire_s3(self) -> None:
        """S3 -> local queue notifications mirroring the template's S3 triggers; each keeps the
        shape (direct or through EventBridge) its trigger has in the template."""
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        if not self.declared.s3:
            return
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=S3_EVENTS_QUEUE, Attributes={"VisibilityTimeout": "30"})[
            "QueueUrl"]
        self.queue_urls["_s3_events"] = url
        queue_arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{S3_EVENTS_QUEUE}"
        families = {v: k for k, v in S3_DETAIL_TYPES.items()}
        for trigger in self.declared.s3:
            bucket = self.evaluator.refs.get(trigger.bucket or "")
            if bucket is None:
                continue
            self.s3_shapes[trigger.event] = self._s3_shape(trigger.event)
            rules = [{"Name": "prefix", "Value": trigger.prefix}] if trigger.prefix else []
            rules += [{"Name": "suffix", "Value": trigger.suffix}] if trigger.suffix else []
            config: dict[str, Any] = {
                "Id": trigger.event, "QueueArn": queue_arn,
                "Events": sorted(f"s3:{families.get(t, 'ObjectCreated')}:*"
                                 for t in trigger.detail_types),
            }
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
            by_bucket.setdefault(bucket, []).append(config)
        for bucket, configs in by_bucket.items():
            self.client("s3").put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})

    def _deliver_s3(self, message: dict[str, Any]) -> None:
        """One S3 notification: invoke asynchronously in its trigger's shape."""
        try:
            records = json.loads(message["Body"]).get("Records") or []
        except (ValueError, AttributeError):
            return  # s3:TestEvent and the like reach no route
        for record in records:
            trigger = str((record.get("s3") or {}).get("configurationId", ""))
            if self.s3_shapes.get(trigger) == "direct":
                self.submit(deliveries.s3_direct_event(record), f"S3 notification ({trigger})")
            else:
                self.submit(deliveries.s3_eventbridge_event(record, self.region),
                            f"S3 via EventBridge rule {trigger}")

    # -- SNS subscriptions --------------------------------------------------------------------
    def wire_sns(self) -> None:
        """Subscribe a local queue to each topic the function subscribes to."""
        sqs, sns = self.client("sqs"), self.client("sns")
        for topic, subscription in sns_subscriptions(self.template, self.declared).items():
            topic_arn = self.evaluator.refs.get(topic)
            if not isinstance(topic_arn, str):
                self.log(f"SNS {subscription}: topic {topic} is not a local topic; skipped")
                continue
            name = SNS_QUEUE_PREFIX + re.sub(r"[^a-z0-9-]", "-", subscription.lower())
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}"
            reply = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
            logical = f"_sns_{subscription}"
            self.queue_urls[logical] = url
            self.sns_queues[logical] = str(reply.get("SubscriptionArn") or f"{topic_arn}:local")

    # -- pollers and timers -------------------------------------------------------------------
    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start_pollers(self) -> None:
        """One poller per template SQS trigger, plus the S3 and SNS transport queues."""
        for trigger in sqs_triggers(self.template, self.declared.function):
            if trigger.logical in self.queue_urls:
                self._spawn(functools.partial(self._poll_trigger, trigger),
                            f"poll-{trigger.logical}")
        if "_s3_events" in self.queue_urls:
            self._spawn(functools.partial(self._relay, "_s3_events", self._deliver_s3),
                        "poll-s3-events")
        for logical, subscription in self.sns_queues.items():
            self._spawn(functools.partial(self._relay, logical, functools.partial(
                self._deliver_sns, subscription, logical.removeprefix("_sns_"))), f"poll-{logical}")

    def _deliver_sns(self, subscription: str, name: str, message: dict[str, Any]) -> None:
        try:
            notification = json.loads(message["Body"])
        except ValueError:
            return
        if isinstance(notification, dict):
            self.submit(deliveries.sns_lambda_event(notification, subscription), f"SNS {name}")

    def _receive(self, url: str, count: int, wait: int) -> list[dict[str, Any]] | None:
        """Up to ``count`` messages (None once stopping)."""
        try:
            reply = self.client("sqs").receive_message(
                QueueUrl=url, MaxNumberOfMessages=max(1, min(count, 10)), WaitTimeSeconds=wait,
                AttributeNames=["All"], MessageAttributeNames=["All"])
        except Exception as exc:  # noqa: BLE001 - the endpoint went away at shutdown
            if self._stop.is_set():
                return None
            self.log(f"poll of {url.rsplit('/', 1)[-1]} failed ({type(exc).__name__}); retrying")
            time.sleep(1)
            return []
        return list(reply.get("Messages") or [])

    def _relay(self, logical: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Hand each message of a transport queue to ``deliver``, then delete it (the source
        delivered the event: what happens next is the asynchronous invocation's business)."""
        url = self.queue_urls[logical]
        while not self._stop.is_set():
            messages = self._receive(url, 10, 1)
            if messages is None:
                return
            for message in messages:
                deliver(message)
                self.client("sqs").delete_message(QueueUrl=url,
                                                  ReceiptHandle=message["ReceiptHandle"])

    def _batch(self, url: str, trigger: SqsTrigger) -> list[dict[str, Any]] | None:
        """A batch as the event source mapping gathers one: up to BatchSize messages, waiting
        at most the batching window once the first has arrived."""
        batch = self._receive(url, trigger.batch_size, 1)
        if not batch or trigger.window_s <= 0:
            return batch
        # The window closes before the first messages' visibility timeout ends: past it they
        # would be received again into the same batch (locally both can be a second).
        window = min(trigger.window_s, max(0.0, self.visibility_timeout - VISIBILITY_MARGIN_S))
        deadline = time.monotonic() + window
        while len(batch) < trigger.batch_size and time.monotonic() < deadline:
            more = self._receive(url, trigger.batch_size - len(batch), 0)
            if more is None:
                return None
            batch = deliveries.merge_batch(batch, more)
            if not more:
                time.sleep(0.05)
        return batch

    def _poll_trigger(self, trigger: SqsTrigger) -> None:
        url = self.queue_urls[trigger.logical]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{url.rsplit('/', 1)[-1]}"
        label = f"SQS {trigger.event}"
        while not self._stop.is_set():
            messages = self._batch(url, trigger)
            if messages is None:
                return
            if not messages:
                continue
            event = deliveries.sqs_lambda_event(messages, arn, self.region)
            outcome = self.runtime.run(event, f"{label} ({len(messages)} message(s))")
            failed = deliveries.failed_ids(outcome.ok, outcome.result, messages, trigger.partial)
            for message in messages:
                if message["MessageId"] not in failed:
                    self.client("sqs").delete_message(QueueUrl=url,
                                                      ReceiptHandle=message["ReceiptHandle"])
            if failed:
                self.log(f"{label}: {len(failed)} message(s) failed; visible again after "
                         f"{self.visibility_timeout} s (then the dead-letter queue, past "
                         "maxReceiveCount)")

    def start_timers(self) -> None:
        """Fire ``rate(...)`` schedules on their rates (cron ones only on demand)."""
        due: dict[str, tuple[float, int]] = {}
        for name, (_, expression) in self.declared.schedules.items():
            seconds = rate_seconds(expression)
            if seconds is not None:
                due[name] = (time.monotonic() + seconds, seconds)

        def loop() -> None:
            while not self._stop.wait(1.0):
                now = time.monotonic()
                for name, (when, every) in list(due.items()):
                    if now >= when:
                        due[name] = (now + every, every)
                        self.fire(name)

        if self.run_schedules and due:
            self._spawn(loop, "schedules")

    def fire(self, name: str) -> tuple[bool, Any]:
        """Deliver the schedule's ``Scheduled Event`` (EventBridge Scheduler's shape)."""
        from opsfn.testing import schedule_event

        event = schedule_event(name, scheduler=True)
        return self.invoke(event, f"schedule {name}")

    # -- custom resources ---------------------------------------------------------------------
    def custom_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(logical id, type, resolved properties) of every active custom resource."""
        found = []
        for name, res in self.template["Resources"].items():
            kind = str((res or {}).get("Type", ""))
            if kind.startswith("Custom::") and self.evaluator.active(res):
                props = self.evaluator.value(res.get("Properties") or {})
                props = {k: v for k, v in props.items() if k != "ServiceToken" and v is not None}
                found.append((name, kind, props))
        return found

    def create_custom_resources(self, response_base: str) -> None:
        """Run a stack Create for each custom resource; answers arrive at our ResponseURL."""
        from opsfn.testing import custom_resource_event

        for logical, kind, props in self.custom_resources():
            url = f"{response_base}/_local/cfn-response/{logical}?X-Amz-Signature=local"
            event = custom_resource_event("Create", kind, props, response_url=url,
                                          logical_id=logical, stack_id=self.evaluator.pseudo(
                                              "AWS::StackId"))
            event["RequestId"] = str(uuid.uuid4())
            self.invoke(event, f"{kind} {logical} Create")
            answer = self.cfn_responses.get(logical)
            if answer is None:
                self.log(f"{kind} {logical}: no answer reached the ResponseURL")
                continue
            self.log(f"{kind} {logical}: {answer.get('Status')} "
                     f"{answer.get('Reason', '') if answer.get('Status') != 'SUCCESS' else ''}")
            data = answer.get("Data") or {}
            self._record(logical, str(answer.get("PhysicalResourceId")), dict(data))

    def record_cfn_response(self, logical: str, body: dict[str, Any]) -> None:
        """Keep what the function answered (called by the HTTP server)."""
        self.cfn_responses[logical] = body

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> dict[str, str]:
        """Create everything and start the background triggers; returns the environment."""
        aws.reset()
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        self.create_fixtures()
        self.create_resources()
        env = self.apply_environment()
        self.function = function_info(
            self.template, self.declared.function, self.evaluator, env,
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"))
        self.in_process.timeout_ms = self.function.timeout_s * 1000
        self.in_process.memory_mb = self.function.memory_mb
        self.in_process.log_format = self.function.log_format
        if self.runtime_factory is not None:
            self.runtime = self.runtime_factory(self.function, self.function_environment(env))
            self.runtime.on_outcome.append(self.activity.record)
            self.invoke = self.runtime
        self.async_invoker = AsyncInvoker(self.runtime, self.invoke_config(),
                                          send_to_destination(self.client), self.log,
                                          retry_seconds=self.retry_seconds)
        self.wire_s3()
        self.wire_sns()
        self.start_pollers()
        self.start_timers()
        return env

    def info(self) -> dict[str, Any]:
        """What runs, for ``GET /_local/info`` and the page."""
        return {
            "local": True, "ready": self.ready, "endpoint": self.endpoint_url,
            "resources": dict(self.created),
            "schedules": {n: e for n, (_, e) in self.declared.schedules.items()},
            "customResources": {k: v.get("Status") for k, v in self.cfn_responses.items()},
            "function": {"name": self.function_name, "arn": self.function_arn},
            "emulated": ["rekognition"],
        }

    def stop(self) -> None:
        """Stop pollers, timers, the asynchronous worker and the activity streams."""
        self._stop.set()
        stop = getattr(self.runtime, "stop", None)
        if callable(stop):
            stop()
        self.activity.close()
        if self.async_invoker is not None:
            self.async_invoker.stop()
        for thread in self._threads:
            thread.join(timeout=5)
