"""The local stack: the template's resources in moto, its triggers as threads, one process.

``LocalStack.start()`` creates what ``infra/template.yaml`` declares (buckets with their CORS,
tables with their keys and TTL, queues, topics), sets the function's environment as the template
would, wires S3 notifications into a local queue, and starts pollers for every SQS trigger and
timers for every ``rate(...)`` schedule. Every trigger ends in ``lambda_handler``, in process,
with the event shape AWS would send.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsfn.tooling.infra_check import S3_DETAIL_TYPES, Declared, declared_triggers, load_template
from opsfn.tooling.local.template_eval import ACCOUNT, Evaluator

S3_EVENTS_QUEUE = "opsfn-local-s3-events"
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
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

Log = Callable[[str], None]

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


def local_name(logical_id: str) -> str:
    """A valid bucket/table/queue name for a logical id."""
    return "opsfn-local-" + re.sub(r"[^a-z0-9-]", "-", logical_id.lower())


@dataclass
class Invoker:
    """Calls the handler in process like the Lambda service would, logging one line per call."""

    log: Log
    timeout_ms: int = 900_000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any], label: str, quiet: bool = False
                 ) -> tuple[bool, Any]:
        """(ok, result or error dict); ``quiet`` logs failures only (HTTP logs its own line)."""
        from opsfn.handler import lambda_handler
        from opsfn.testing import FakeLambdaContext

        # One invocation at a time, as in one Lambda execution environment: module state and
        # the logger are per process and were never meant to be shared by concurrent calls.
        with self.lock:
            return self._call(lambda_handler, FakeLambdaContext, event, label, quiet)

    def _call(self, handler: Any, context_type: Any, event: dict[str, Any], label: str,
              quiet: bool) -> tuple[bool, Any]:
        from opsfn.errors import OpsfnError

        started = time.monotonic()
        try:
            result = handler(event, context_type(self.timeout_ms, "opsfn-local"))
        except OpsfnError as error:
            self.log(f"{label}: {type(error).__name__}: {error.message} "
                     f"({(time.monotonic() - started) * 1000:.0f} ms)")
            return False, {"errorType": type(error).__name__, "errorMessage": error.message,
                           "code": error.code, "details": error.details}
        if not quiet:
            self.log(f"{label}: ok ({(time.monotonic() - started) * 1000:.0f} ms)")
        return True, result


class LocalStack:
    """Resources, environment and background triggers of one local run."""

    def __init__(self, template_path: Path, endpoint_url: str, *, region: str = "us-east-1",
                 parameters: dict[str, str] | None = None, schedules: bool = True,
                 log: Log | None = None, state_dir: Path | None = None) -> None:
        self.template = load_template(template_path)
        self.declared: Declared = declared_triggers(self.template)
        self.endpoint_url = endpoint_url
        self.region = region
        self.log = log or (lambda message: None)
        self.evaluator = Evaluator(self.template, region, {**LOCAL_PARAMETERS, **(parameters or {})})
        self.run_schedules = schedules
        self.state_dir = state_dir or Path(".opsfn-local")
        self.invoke = Invoker(self.log)
        self.created: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.cfn_responses: dict[str, dict[str, Any]] = {}
        self.ready = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- resources ----------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A client of the local endpoint."""
        from opsfn.services import aws

        return aws.client(service, self.region)

    def _resources(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, res) for name, res in self.template["Resources"].items()
                if isinstance(res, dict) and res.get("Type") == kind and self.evaluator.active(res)]

    def create_resources(self) -> None:
        """Create queues, topics, tables and buckets, then give every other resource a name."""
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
        function = self.declared.function
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:opsfn-local"
        self._record(function, "opsfn-local", {"Arn": arn})
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

    def _queue(self, logical: str, props: dict[str, Any]) -> None:
        attributes = {"VisibilityTimeout": "30"}  # local retries within seconds, not hours
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

    def apply_environment(self) -> dict[str, str]:
        """Set the process environment the in-process handler reads."""
        env = self.environment()
        os.environ.update(env)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ["OPSFN_LOCAL"] = "1"
        return env

    # -- S3 notifications ---------------------------------------------------------------------
    def wire_s3(self) -> None:
        """S3 -> local queue notifications mirroring the template's S3 triggers."""
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

    # -- pollers and timers -------------------------------------------------------------------
    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start_pollers(self) -> None:
        """One poller per template SQS trigger, plus the S3 notification queue."""
        for logical in self.declared.sqs:
            if logical in self.queue_urls:
                self._spawn(functools.partial(self._poll, logical), f"poll-{logical}")
        if "_s3_events" in self.queue_urls:
            self._spawn(lambda: self._poll("_s3_events"), "poll-s3-events")

    def _poll(self, logical: str) -> None:
        url = self.queue_urls[logical]
        queue_name = url.rsplit("/", 1)[-1]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{queue_name}"
        sqs = self.client("sqs")
        label = "S3 notification" if logical == "_s3_events" else f"SQS {logical}"
        while not self._stop.is_set():
            try:
                reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1, AttributeNames=["All"])
            except Exception as exc:  # noqa: BLE001 - the endpoint went away at shutdown
                if self._stop.is_set():
                    return
                self.log(f"{label}: poll failed ({type(exc).__name__}); retrying")
                time.sleep(1)
                continue
            messages = reply.get("Messages") or []
            if not messages:
                continue
            event = {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"], "attributes": m.get("Attributes") or {},
                "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": self.region,
            } for m in messages]}
            ok, result = self.invoke(event, f"{label} ({len(messages)} message(s))")
            failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])
                      } if ok else {m["MessageId"] for m in messages}
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if failed:
                self.log(f"{label}: {len(failed)} message(s) failed; SQS will redeliver them")

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
        from opsfn.services import aws

        aws.reset()
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        self.create_fixtures()
        self.create_resources()
        env = self.apply_environment()
        self.wire_s3()
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
            "emulated": ["rekognition"],
        }

    def stop(self) -> None:
        """Stop pollers and timers."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
