"""No drift between the SAM template and the router: ``opsfn infra check``.

The registry is the deployment model. Every route that needs a trigger (HTTP, schedule, S3,
EventBridge rule, custom resource, SQS/SNS, queue-reachable actions) must have it in
``infra/template.yaml``, and every trigger there must reach a route. Names that routes take from
settings are followed through the function's environment to the template resource they name.

Plain CloudFormation (a CDK app's synthesized template, ``opsfn.cdk``) is read too: triggers are
then resources of their own (``AWS::ApiGatewayV2::Route``, ``AWS::Events::Rule``,
``AWS::Scheduler::Schedule``, ``AWS::Lambda::EventSourceMapping``, ``AWS::SNS::Subscription``)
instead of events of an ``AWS::Serverless::Function``, and each must also be allowed to invoke
the function (a Lambda permission for its service, or a scheduler role that may invoke it).

The parts added for operations are checked in either form: access logs name no request content
or caller, tracing agrees with ``OPSFN_TRACING`` (and the role may send), SnapStart never meets an
EFS mount, a Duration alarm can fire before the timeout, and reserved concurrency is not 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsfn.core.router import (
    ActionSpec,
    CustomResourceSpec,
    EventBridgeSpec,
    HttpSpec,
    NameSpec,
    Route,
    S3Spec,
    ScheduleSpec,
    SesSpec,
    Setting,
    SnsSpec,
    SqsSpec,
)

if TYPE_CHECKING:
    from opsfn.core.app import App

HANDLER = "opsfn.handler.lambda_handler"
DEFAULT_TEMPLATE = Path("infra") / "template.yaml"

# S3 notification event names and the detail-type S3 sends to EventBridge for them.
S3_DETAIL_TYPES: dict[str, str] = {
    "ObjectCreated": "Object Created",
    "ObjectRemoved": "Object Deleted",
    "ObjectRestore": "Object Restore Completed",
    "ObjectTagging": "Object Tags Added",
}
# Buckets browsers upload to directly (by the setting naming them) and the methods they use.
BROWSER_UPLOAD_BUCKETS: dict[str, tuple[str, ...]] = {"UPLOAD_BUCKET": ("PUT", "POST")}
# Variables Lambda or Powertools read themselves; they are not opsfn settings.
FOREIGN_PREFIXES = ("POWERTOOLS_", "AWS_LAMBDA_", "PYTHON", "LD_")
# Access-log variables refused in any API's log format (compared case-insensitively as prefixes
# of each $variable). An access log is kept for LogRetentionDays and read by whoever operates the
# stack, so it carries no query string (/get-results has the jobId there), body, request path,
# header or who called (address, user agent, IAM caller, Cognito identity, JWT claims). The
# route key, status and latencies say enough; $context.domainPrefix and the like are fine.
ACCESS_LOG_REFUSED: tuple[str, ...] = (
    "$context.path", "$request.", "$input", "$context.requestOverride", "$context.identity.",
    "$context.authorizer",
)
# Where each API resource type keeps its access-log settings (HTTP APIs and REST APIs differ).
ACCESS_LOG_PROPERTIES: dict[str, str] = {
    "AWS::Serverless::HttpApi": "AccessLogSettings", "AWS::ApiGatewayV2::Stage": "AccessLogSettings",
    "AWS::Serverless::Api": "AccessLogSetting", "AWS::ApiGateway::Stage": "AccessLogSetting",
}
# Policy actions that allow sending trace segments, and AWS managed policies that do.
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:*", "*"})
XRAY_MANAGED_POLICIES = ("AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess")


# -- YAML with CloudFormation tags ----------------------------------------------------------------
def parse_yaml(text: str) -> Any:
    """YAML with CloudFormation's short-form tags (``!Ref X``) turned into their long form."""
    import importlib

    yaml: Any = importlib.import_module("yaml")  # PyYAML (a dependency of cfn-lint and moto)
    cfn_loader: Any = type("CfnLoader", (yaml.SafeLoader,), {})

    def construct(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        name = "Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}"
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    cfn_loader.add_multi_constructor("!", construct)
    return yaml.load(text, Loader=cfn_loader)  # a SafeLoader subclass: no arbitrary objects


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data."""
    data = parse_yaml(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


def ref_target(value: Any) -> str | None:
    """What an expression names: the logical id of a ``Ref``/``GetAtt``, or a literal string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Ref" and isinstance(inner, str):
            return inner
        if key == "Fn::GetAtt" and isinstance(inner, list) and inner:
            return str(inner[0])
        if key == "Fn::GetAtt" and isinstance(inner, str):
            return inner.split(".", 1)[0]
    return None


# -- what the template declares -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class S3Trigger:
    """Objects of a bucket reaching the function (EventBridge rule or bucket notification)."""

    event: str
    bucket: str | None
    prefix: str
    suffix: str
    detail_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    """An HttpApi/Api event: the API it belongs to and the authorizer it names (None: the API's).

    ``effective`` is set for a CloudFormation route, which carries its own authorization.
    """

    event: str
    api: str | None
    authorizer: str | None
    effective: str | None = None


@dataclass(frozen=True, slots=True)
class ApiAuth:
    """An API's authorization: its default authorizer and the names of its JWT authorizers."""

    default: str | None
    jwt: frozenset[str]

    def kind(self, authorizer: str | None) -> str:
        """What a route with this authorizer (None: the API's default) requires of callers."""
        name = authorizer if authorizer is not None else self.default
        if name is None or name == "NONE":
            return "public"
        if name == "AWS_IAM":
            return "iam"
        return "jwt" if name in self.jwt else f"authorizer {name}"


def api_auth(resource: Any) -> ApiAuth:
    """The authorization of an ``AWS::Serverless::HttpApi`` or ``AWS::Serverless::Api``."""
    auth = _dict(_dict(_dict(resource).get("Properties")).get("Auth"))
    authorizers = _dict(auth.get("Authorizers"))
    jwt = frozenset(name for name, value in authorizers.items()
                    if "JwtConfiguration" in _dict(value) or "UserPoolArn" in _dict(value))
    default = auth.get("DefaultAuthorizer")
    return ApiAuth(default if isinstance(default, str) else None, jwt)


@dataclass(frozen=True, slots=True)
class ReceiptRule:
    """An SES receipt rule whose Lambda action invokes the function, and what it stores first."""

    resource: str
    stores_first: bool  # an S3 action comes before the Lambda action
    bucket: str | None = None  # that S3 action's bucket (logical id or name)
    prefix: str | None = None  # and its ObjectKeyPrefix


@dataclass
class Declared:
    """Every trigger of the function in the template."""

    function: str
    env: dict[str, Any] = field(default_factory=dict)
    http: dict[tuple[str, str], HttpTrigger] = field(default_factory=dict)
    apis: dict[str | None, ApiAuth] = field(default_factory=dict)
    function_urls: dict[str, str] = field(default_factory=dict)  # resource -> AuthType
    schedules: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    eventbridge: dict[tuple[str, str | None], str] = field(default_factory=dict)
    s3: list[S3Trigger] = field(default_factory=list)
    sqs: dict[str, tuple[str, bool]] = field(default_factory=dict)
    sns: dict[str, str] = field(default_factory=dict)
    custom_resources: dict[str, list[str]] = field(default_factory=dict)
    receipt_rules: list[ReceiptRule] = field(default_factory=list)
    ses_may_invoke: bool = False  # a Lambda permission lets ses.amazonaws.com invoke it
    alias: str | None = None  # AutoPublishAlias, or the Name of the function's AWS::Lambda::Alias
    alias_resource: str | None = None  # what names the alias: "<function>.Alias" or its logical id
    unqualified_tokens: list[str] = field(default_factory=list)  # what names the function past it
    failure_queues: dict[str, str] = field(default_factory=dict)  # queue -> what lands there
    schedules_without_dlq: list[str] = field(default_factory=list)
    # CloudFormation triggers: the Lambda permissions of the function (principal, the resources
    # each one's SourceArn names (empty for any source), what it is on), what needs one (where,
    # principal, source, what it invokes), and scheduler roles (role, what the schedule invokes).
    # A permission on the function does not cover its alias, nor the reverse: "what" must match.
    invoke_grants: list[tuple[str, frozenset[str], str]] = field(default_factory=list)
    needs_grant: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    schedule_roles: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def target(self, value: Any) -> str | None:
        """The function or its alias (the name they go by here) when ``value`` invokes one of
        them: a ``Ref``/``GetAtt``, or an expression made from one (CDK joins an alias's name
        from its ARN); None for anything else."""
        name = ref_target(value)
        if name is None and isinstance(value, dict) and len(referenced(value)) == 1:
            (name,) = referenced(value)
        if name == self.function or (name is not None and name in (f"{self.function}.Alias",
                                                                    self.alias_resource)):
            return name
        return None

    def past_alias(self, where: str, value: Any) -> None:
        """Note ``where`` when it invokes the unqualified function although there is an alias:
        SnapStart and every deploy's version serve the alias only."""
        if self.alias and self.target(value) == self.function:
            self.unqualified_tokens.append(where)


def find_function(resources: dict[str, Any]) -> str:
    """The logical id of the one function whose handler is opsfn's."""
    found = [name for name, res in resources.items()
             if isinstance(res, dict) and res.get("Type") in ("AWS::Serverless::Function",
                                                              "AWS::Lambda::Function")
             and (res.get("Properties") or {}).get("Handler") == HANDLER]
    if len(found) != 1:
        raise ValueError(f"expected exactly one function with handler {HANDLER}, found {found}")
    return found[0]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _one(values: Any) -> str | None:
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


def key_filter(prefix: str, suffix: str) -> list[dict[str, str]] | None:
    """The EventBridge ``detail.object.key`` filter that selects exactly prefix...suffix."""
    if prefix and suffix:
        escaped = (prefix + "\0" + suffix).replace("\\", "\\\\").replace("*", "\\*")
        return [{"wildcard": escaped.replace("\0", "*")}]
    if prefix:
        return [{"prefix": prefix}]
    if suffix:
        return [{"suffix": suffix}]
    return None


def _parse_key_filter(value: Any) -> tuple[str, str] | None:
    if value is None:
        return "", ""
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        return None
    ((kind, text),) = value[0].items()
    if not isinstance(text, str):
        return None
    if kind == "prefix":
        return text, ""
    if kind == "suffix":
        return "", text
    if kind == "wildcard":
        parts = text.replace("\\*", "\0").split("*")
        if len(parts) == 2:
            return parts[0].replace("\0", "*"), parts[1].replace("\0", "*")
    return None


def _s3_from_pattern(event: str, pattern: dict[str, Any]) -> S3Trigger:
    detail = _dict(pattern.get("detail"))
    names = _dict(detail.get("bucket")).get("name")
    bucket = ref_target(names[0]) if isinstance(names, list) and len(names) == 1 else None
    parsed = _parse_key_filter(_dict(detail.get("object")).get("key"))
    prefix, suffix = parsed if parsed is not None else ("\0unparsed", "")
    types = pattern.get("detail-type")
    detail_types = frozenset(t for t in types if isinstance(t, str)) if isinstance(types, list) \
        else frozenset(S3_DETAIL_TYPES.values())
    return S3Trigger(event, bucket, prefix, suffix, detail_types)


def _s3_from_notification(event: str, props: dict[str, Any]) -> S3Trigger:
    rules = _dict(_dict(props.get("Filter")).get("S3Key")).get("Rules") or []
    values = {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules
              if isinstance(r, dict)}
    events = props.get("Events")
    events = [events] if isinstance(events, str) else events or []
    types = frozenset(S3_DETAIL_TYPES.get(str(e).removeprefix("s3:").split(":")[0], str(e))
                      for e in events)
    return S3Trigger(event, ref_target(props.get("Bucket")), values.get("prefix", ""),
                     values.get("suffix", ""), types)


def _dead_letter(found: Declared, name: str, props: dict[str, Any], what: str) -> bool:
    queue = ref_target(_dict(props.get("DeadLetterConfig")).get("Arn"))
    if queue is not None:
        found.failure_queues.setdefault(queue, f"{what} ({name})")
    return queue is not None


def _add_event(found: Declared, name: str, kind: str, props: dict[str, Any]) -> None:
    if kind in ("ScheduleV2", "Schedule", "EventBridgeRule", "CloudWatchEvent") and not \
            _dead_letter(found, name, props, "undeliverable events") and kind == "ScheduleV2":
        found.schedules_without_dlq.append(name)
    if kind in ("HttpApi", "Api"):
        authorizer = _dict(props.get("Auth")).get("Authorizer")
        found.http[(str(props.get("Method", "")).upper(), str(props.get("Path", "")))] = \
            HttpTrigger(name, ref_target(props.get("ApiId", props.get("RestApiId"))),
                        authorizer if isinstance(authorizer, str) else None)
    elif kind in ("ScheduleV2", "Schedule"):
        schedule = props.get("Name")
        expression = props.get("ScheduleExpression", props.get("Schedule"))
        found.schedules[str(schedule) if isinstance(schedule, str) else f"<unnamed {name}>"] = (
            name, expression if isinstance(expression, str) else None)
    elif kind in ("EventBridgeRule", "CloudWatchEvent"):
        pattern = _dict(props.get("Pattern"))
        source = _one(pattern.get("source"))
        if source == "aws.s3":
            found.s3.append(_s3_from_pattern(name, pattern))
        else:
            detail_type = pattern.get("detail-type")
            found.eventbridge[(source or f"<unparsed {name}>", _one(detail_type)
                               if detail_type is not None else None)] = name
    elif kind == "S3":
        found.s3.append(_s3_from_notification(name, props))
    elif kind == "SQS":
        partial = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        found.sqs[ref_target(props.get("Queue")) or f"<unparsed {name}>"] = (name, partial)
    elif kind == "SNS":
        found.sns[ref_target(props.get("Topic")) or f"<unparsed {name}>"] = name


def branch_target(value: Any) -> str | None:
    """:func:`ref_target`, looking into the used branch of an ``Fn::If`` (NoValue skipped)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"} and isinstance(value["Fn::If"], list):
        for branch in value["Fn::If"][1:]:
            if branch != {"Ref": "AWS::NoValue"}:
                return branch_target(branch)
        return None
    return ref_target(value)


def _receipt_rule(name: str, props: dict[str, Any], found: Declared) -> ReceiptRule | None:
    """The rule if one of its actions is a Lambda action on the function (or its alias)."""
    actions = _dict(props.get("Rule")).get("Actions")
    stored: dict[str, Any] | None = None
    for entry in actions if isinstance(actions, list) else []:
        action = _dict(entry)
        if "S3Action" in action and stored is None:
            stored = _dict(action["S3Action"])
        lambda_action = _dict(action.get("LambdaAction"))
        if found.target(lambda_action.get("FunctionArn")) is not None:
            found.past_alias(f"receipt rule {name}: LambdaAction FunctionArn",
                             lambda_action.get("FunctionArn"))
            prefix = stored.get("ObjectKeyPrefix", "") if stored is not None else None
            return ReceiptRule(name, stored is not None,
                               ref_target(stored.get("BucketName")) if stored else None,
                               prefix if isinstance(prefix, str) else None)
    return None


def referenced(value: Any) -> frozenset[str]:
    """Every logical id an expression names (``Ref``, ``GetAtt``, ``${Id}`` in ``Fn::Sub``)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, inner in node.items():
                if key == "Ref" and isinstance(inner, str):
                    found.add(inner)
                elif key == "Fn::GetAtt" and ref_target({key: inner}):
                    found.add(str(ref_target({key: inner})))
                elif key == "Fn::Sub":
                    text = inner[0] if isinstance(inner, list) and inner else inner
                    local = _dict(inner[1]) if isinstance(inner, list) and len(inner) > 1 else {}
                    if isinstance(text, str):  # ${Id} or ${Id.Attr}, unless a variable of the Sub
                        found.update(name for name in (part.split("}", 1)[0].split(".", 1)[0]
                                                       for part in text.split("${")[1:])
                                     if name not in local)
                    walk(list(local.values()))
                else:
                    walk(inner)
        elif isinstance(node, list):
            for inner in node:
                walk(inner)

    walk(value)
    return frozenset(name for name in found if not name.startswith("AWS::"))


_AUTHORIZATION_KINDS = {"NONE": "public", "AWS_IAM": "iam", "JWT": "jwt"}


def _api_route(name: str, props: dict[str, Any], resources: dict[str, Any],
               found: Declared) -> tuple[tuple[str, str], HttpTrigger, str] | None:
    """An ``AWS::ApiGatewayV2::Route`` whose integration invokes the function (or its alias),
    and which of them it invokes."""
    integrations = [i for i in referenced(props.get("Target")) if _dict(resources.get(i)).get(
        "Type") == "AWS::ApiGatewayV2::Integration"]
    uris = [_dict(_dict(resources[i]).get("Properties")).get("IntegrationUri") for i in integrations]
    invoked = next((t for t in map(found.target, uris) if t is not None), None)
    if invoked is None:
        return None
    found.past_alias(f"route {name}: its integration's IntegrationUri",
                     next(u for u in uris if found.target(u) == invoked))
    method, _, path = str(props.get("RouteKey", "")).partition(" ")
    authorization = str(props.get("AuthorizationType", "NONE"))
    kind = _AUTHORIZATION_KINDS.get(authorization, f"authorizer {authorization}")
    if authorization == "JWT":
        authorizer = _dict(_dict(resources.get(ref_target(props.get("AuthorizerId")) or "")).get(
            "Properties"))
        if authorizer.get("AuthorizerType") != "JWT":
            kind = "authorizer (not a JWT authorizer)"
    return (method.upper(), path), HttpTrigger(name, ref_target(props.get("ApiId")), None,
                                               kind), invoked


def _add_resource_trigger(found: Declared, name: str, kind: str, props: dict[str, Any],
                          resources: dict[str, Any]) -> None:
    """A trigger that is a CloudFormation resource of its own (what CDK synthesizes)."""
    if kind == "AWS::Events::Rule":
        targets = props.get("Targets")
        arns = [_dict(t).get("Arn") for t in (targets if isinstance(targets, list) else [])]
        invoked = next((t for t in map(found.target, arns) if t is not None), None)
        if invoked is None:
            return
        found.past_alias(f"rule {name}: target Arn", {"Ref": invoked})
        found.needs_grant.append((f"rule {name}", "events.amazonaws.com", name, invoked))
        if "EventPattern" in props:
            _add_event(found, name, "EventBridgeRule", {"Pattern": props["EventPattern"]})
        if "ScheduleExpression" in props:
            _add_event(found, name, "Schedule", {"Name": props.get("Name"),
                                                 "Schedule": props["ScheduleExpression"]})
    elif kind == "AWS::Lambda::EventSourceMapping" and \
            found.target(props.get("FunctionName")) is not None:
        found.past_alias(f"event source mapping {name}: FunctionName", props.get("FunctionName"))
        source = ref_target(props.get("EventSourceArn"))
        if source is not None and (_dict(resources.get(source)).get("Type") == "AWS::SQS::Queue"
                                   or ":sqs:" in source):
            _add_event(found, name, "SQS", {"Queue": props.get("EventSourceArn"),
                                            "FunctionResponseTypes": props.get(
                                                "FunctionResponseTypes")})
    elif kind == "AWS::SNS::Subscription" and str(props.get("Protocol")).lower() == "lambda" \
            and found.target(props.get("Endpoint")) is not None:
        _add_event(found, name, "SNS", {"Topic": props.get("TopicArn")})
        found.past_alias(f"subscription {name}: Endpoint", props.get("Endpoint"))
        found.needs_grant.append((f"subscription {name}", "sns.amazonaws.com",
                                  ref_target(props.get("TopicArn")),
                                  str(found.target(props.get("Endpoint")))))
    elif kind == "AWS::ApiGatewayV2::Route":
        route = _api_route(name, props, resources, found)
        if route is not None:
            key, trigger, invoked = route
            found.http[key] = trigger
            found.needs_grant.append((f"route {name}", "apigateway.amazonaws.com", trigger.api,
                                      invoked))
    elif kind == "AWS::Lambda::Permission" and found.target(props.get("FunctionName")) is not None:
        found.invoke_grants.append((str(props.get("Principal")), referenced(props.get("SourceArn")),
                                    str(found.target(props.get("FunctionName")))))


def _role_documents(resources: dict[str, Any], role: str) -> list[Any]:
    """The policy documents of a role: its inline policies and the ``AWS::IAM::Policy``s on it."""
    documents = [_dict(p).get("PolicyDocument") for p in
                 _dict(_dict(resources.get(role)).get("Properties")).get("Policies") or []]
    documents += [_dict(r.get("Properties")).get("PolicyDocument") for r in resources.values()
                  if isinstance(r, dict) and r.get("Type") == "AWS::IAM::Policy"
                  and role in {ref_target(x) for x in _dict(r.get("Properties")).get("Roles") or []}]
    return documents


def role_may_invoke(resources: dict[str, Any], role: str, function: str) -> bool:
    """Whether an IAM role of the template allows ``lambda:InvokeFunction`` on ``function`` (the
    logical id of the function or of the alias that is invoked)."""
    for document in _role_documents(resources, role):
        statements = _dict(document).get("Statement")
        for entry in statements if isinstance(statements, list) else [statements]:
            statement = _dict(entry)
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            targets = statement.get("Resource")
            targets = targets if isinstance(targets, list) else [targets]
            if statement.get("Effect") == "Allow" and \
                    {"lambda:InvokeFunction", "lambda:*", "*"} & set(actions) and \
                    any(t == "*" or function in referenced(t) for t in targets):
                return True
    return False


def role_may_trace(resources: dict[str, Any], role: str) -> bool:
    """Whether an IAM role of the template allows ``xray:PutTraceSegments``: a statement (or a
    branch of a conditional one, as the SAM template has) or an AWS managed X-Ray policy."""
    managed = _dict(_dict(resources.get(role)).get("Properties")).get("ManagedPolicyArns") or []
    if any(name in json.dumps(arn) for arn in managed for name in XRAY_MANAGED_POLICIES):
        return True
    for document in _role_documents(resources, role):
        statements = _dict(document).get("Statement")
        for entry in statements if isinstance(statements, list) else [statements]:
            branches = _dict(entry).get("Fn::If")
            for statement in branches[1:] if isinstance(branches, list) else [entry]:
                actions = _dict(statement).get("Action")
                actions = [actions] if isinstance(actions, str) else actions or []
                if _dict(statement).get("Effect") == "Allow" and XRAY_ACTIONS & set(actions):
                    return True
    return False


def _find_alias(found: Declared, resources: dict[str, Any]) -> None:
    """The alias triggers must invoke: SAM's ``AutoPublishAlias``, else an ``AWS::Lambda::Alias``
    of the function (what CDK and SAM's transform write)."""
    function = found.function
    alias = _dict(_dict(resources[function]).get("Properties")).get("AutoPublishAlias")
    if isinstance(alias, str):
        found.alias, found.alias_resource = alias, f"{function}.Alias"
        return
    for name, res in resources.items():
        props = _dict(_dict(res).get("Properties"))
        if _dict(res).get("Type") == "AWS::Lambda::Alias" and \
                ref_target(props.get("FunctionName")) == function:
            found.alias, found.alias_resource = str(props.get("Name")), name
            return


def declared_triggers(template: dict[str, Any]) -> Declared:
    """Collect the function's events, standalone schedules/rules and its custom resources."""
    resources: dict[str, Any] = template["Resources"]
    function = find_function(resources)
    props = resources[function].get("Properties") or {}
    found = Declared(function, dict(((props.get("Environment") or {}).get("Variables")) or {}))
    _find_alias(found, resources)
    failure = ref_target(_dict(_dict(_dict(props.get("EventInvokeConfig")).get(
        "DestinationConfig")).get("OnFailure")).get("Destination"))
    if failure is not None:
        found.failure_queues[failure] = "asynchronous invocations that failed"
    for name, event in (props.get("Events") or {}).items():
        if isinstance(event, dict):
            _add_event(found, name, str(event.get("Type")), event.get("Properties") or {})
    for trigger in found.http.values():
        found.apis.setdefault(trigger.api, api_auth(resources.get(trigger.api or "")))
    url_config = props.get("FunctionUrlConfig")
    if isinstance(url_config, dict):
        found.function_urls[f"{function}.FunctionUrlConfig"] = str(url_config.get("AuthType"))
    for queue in list(found.sqs):
        redrive = _dict(_dict(resources.get(queue)).get("Properties")).get("RedrivePolicy")
        target = ref_target(_dict(redrive).get("deadLetterTargetArn"))
        if target is not None:
            found.failure_queues[target] = f"messages of {queue} that kept failing"
    for name, res in resources.items():
        if not isinstance(res, dict):
            continue
        kind = str(res.get("Type", ""))
        rprops = res.get("Properties") or {}
        if kind == "AWS::Lambda::Url" and found.target(rprops.get("TargetFunctionArn")):
            found.function_urls[name] = str(rprops.get("AuthType"))
            if found.alias and rprops.get("Qualifier") != found.alias:
                found.past_alias(f"function URL {name}: TargetFunctionArn without Qualifier "
                                 f"{found.alias}", rprops.get("TargetFunctionArn"))
        if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            if found.target(rprops.get("ServiceToken")) is not None:
                found.custom_resources.setdefault(kind, []).append(name)
                found.past_alias(f"resource {name}: ServiceToken", rprops.get("ServiceToken"))
        elif kind == "AWS::Scheduler::Schedule" and \
                found.target(_dict(rprops.get("Target")).get("Arn")) is not None:
            invoked = _dict(rprops.get("Target"))
            found.schedules[str(rprops.get("Name"))] = (name, rprops.get("ScheduleExpression"))
            found.schedule_roles[name] = (ref_target(invoked.get("RoleArn")),
                                          str(found.target(invoked.get("Arn"))))
            found.past_alias(f"schedule {name}: target Arn", invoked.get("Arn"))
            if not _dead_letter(found, name, _dict(rprops.get("Target")), "undeliverable events"):
                found.schedules_without_dlq.append(name)
        elif kind == "AWS::SES::ReceiptRule":
            rule = _receipt_rule(name, rprops, found)
            if rule is not None:
                found.receipt_rules.append(rule)
        elif kind == "AWS::Lambda::Permission" and rprops.get("Principal") == "ses.amazonaws.com" \
                and found.target(rprops.get("FunctionName")) is not None:
            found.ses_may_invoke = True
        _add_resource_trigger(found, name, kind, rprops, resources)
    return found


# -- the comparison -------------------------------------------------------------------------------
def _expected_detail_types(spec: S3Spec) -> set[str] | None:
    types = set()
    for event in spec.events:
        family = event.removeprefix("s3:").split(":")[0]
        if family not in S3_DETAIL_TYPES:
            return None
        types.add(S3_DETAIL_TYPES[family])
    return types


class Checker:
    """Compares one app's registry with one template's triggers."""

    def __init__(self, app: App, template: dict[str, Any]) -> None:
        self.app = app
        self.template = template
        self.found = declared_triggers(template)
        self.problems: list[str] = []

    def resolve(self, name: NameSpec, what: str) -> str | None:
        """The template resource (or literal name) a route's bucket/queue/topic refers to."""
        if isinstance(name, Setting):
            if name.variable not in self.found.env:
                self.problems.append(f"{what}: setting {name.variable} is not in the function's "
                                     "environment")
                return None
            return ref_target(self.found.env[name.variable])
        return name

    def run(self) -> list[str]:
        """Every problem, both directions; empty means no drift."""
        self._routes_have_triggers()
        self._function_urls_are_signed()
        self._triggers_reach_routes()
        self._environment_is_known()
        self._cors_agrees()
        self._failures_are_visible()
        self._operations_are_sound()
        self._triggers_may_invoke()
        return self.problems

    def _triggers_may_invoke(self) -> None:
        """CloudFormation triggers: a Lambda permission for their service, a role for schedules."""
        for where, principal, source, invoked in self.found.needs_grant:
            if not any(granted == principal and on == invoked and (not sources or source in sources)
                       for granted, sources, on in self.found.invoke_grants):
                self.problems.append(f"{where}: no AWS::Lambda::Permission lets {principal} invoke "
                                     f"{invoked}" + (f" from {source}" if source else ""))
        resources = self.template["Resources"]
        for schedule, (role, invoked) in self.found.schedule_roles.items():
            if role is None or not role_may_invoke(resources, role, invoked):
                self.problems.append(f"schedule {schedule}: its role {role} may not "
                                     f"lambda:InvokeFunction {invoked}")

    # routes -> template
    def _routes_have_triggers(self) -> None:
        for route in self.app.registry.routes:
            self.check_route(route)

    def check_route(self, route: Route) -> None:
        """Problems of one route (appended to ``problems``)."""
        spec = route.spec
        where = f"route {route.label} ({route.handler_name})"
        if isinstance(spec, HttpSpec):
            trigger = self.found.http.get(
                (spec.method, "/" + "/".join(p for p in spec.path.split("/") if p)))
            if trigger is None:
                self.problems.append(f"{where}: no HttpApi/Api event {spec.method} {spec.path}")
            else:
                self._check_http_auth(spec, trigger, where)
        elif isinstance(spec, ScheduleSpec):
            self._check_schedule(spec, where)
        elif isinstance(spec, EventBridgeSpec):
            if (spec.source, spec.detail_type) not in self.found.eventbridge:
                self.problems.append(f"{where}: no EventBridgeRule with source {spec.source!r}"
                                     f" and detail-type {spec.detail_type!r}")
        elif isinstance(spec, CustomResourceSpec):
            if spec.resource_type not in self.found.custom_resources:
                token = self.found.alias_resource or f"{self.found.function}.Arn"
                self.problems.append(f"{where}: no {spec.resource_type} resource whose "
                                     f"ServiceToken is {token}")
        elif isinstance(spec, S3Spec):
            self._check_s3(spec, where)
        elif isinstance(spec, SqsSpec):
            queue = self.resolve(spec.queue, where)
            if queue is not None and queue not in self.found.sqs:
                self.problems.append(f"{where}: no SQS event for queue {queue}")
        elif isinstance(spec, SnsSpec):
            topic = self.resolve(spec.topic, where)
            if topic is not None and topic not in self.found.sns:
                self.problems.append(f"{where}: no SNS event for topic {topic}")
        elif isinstance(spec, ActionSpec) and spec.queue:
            self._check_action_queue(where)
        elif isinstance(spec, SesSpec):
            self._check_ses(where)

    def _check_ses(self, where: str) -> None:
        if not self.found.receipt_rules:
            self.problems.append(f"{where}: no AWS::SES::ReceiptRule with a LambdaAction on "
                                 f"{self.found.function}")
        elif not self.found.ses_may_invoke:
            self.problems.append(f"{where}: no AWS::Lambda::Permission lets ses.amazonaws.com "
                                 f"invoke {self.found.function}")

    def _check_relay_storage(self) -> None:
        """Each rule stores the message where the relay reads it, before invoking it."""
        bucket = branch_target(self.found.env.get("SES_INBOUND_BUCKET"))
        if bucket is None:
            return
        prefix = self.found.env.get("SES_INBOUND_PREFIX", "")
        for rule in self.found.receipt_rules:
            if not rule.stores_first:
                self.problems.append(f"receipt rule {rule.resource}: no S3Action before its "
                                     "LambdaAction (the relay reads the stored message)")
            elif rule.bucket != bucket or (isinstance(prefix, str) and rule.prefix != prefix):
                self.problems.append(f"receipt rule {rule.resource}: its S3Action writes "
                                     f"{rule.bucket}/{rule.prefix} but the relay reads "
                                     f"SES_INBOUND_BUCKET={bucket}, SES_INBOUND_PREFIX={prefix}")

    def _check_http_auth(self, spec: HttpSpec, trigger: HttpTrigger, where: str) -> None:
        """The event's authorizer must admit exactly the callers the route declares."""
        api = self.found.apis.get(trigger.api, ApiAuth(None, frozenset()))
        effective = api.kind(trigger.authorizer)
        if trigger.effective is not None:
            self._check_route_auth(spec, trigger, where)
            return
        if spec.auth == "default":
            if trigger.authorizer is not None:
                self.problems.append(
                    f"{where}: declares the default authorizer but event {trigger.event} names "
                    f"{trigger.authorizer}")
            elif effective == "public":
                self.problems.append(f"{where}: declares the default authorizer but API "
                                     f"{trigger.api} has no DefaultAuthorizer")
            elif self.found.env.get("OPSFN_DEFAULT_AUTH") != effective:
                self.problems.append(
                    f"{where}: API {trigger.api} defaults to {effective} but the function's "
                    f"OPSFN_DEFAULT_AUTH is {self.found.env.get('OPSFN_DEFAULT_AUTH')!r}")
        elif effective != spec.auth:
            self.problems.append(f"{where}: declares auth {spec.auth!r} but event "
                                 f"{trigger.event} admits {effective}")

    def _check_route_auth(self, spec: HttpSpec, trigger: HttpTrigger, where: str) -> None:
        """A CloudFormation route: no API-wide default, each route names its authorization."""
        effective = trigger.effective
        if spec.auth != "default":
            if effective != spec.auth:
                self.problems.append(f"{where}: declares auth {spec.auth!r} but route "
                                     f"{trigger.event} admits {effective}")
        elif effective == "public":
            self.problems.append(f"{where}: declares the default authorizer but route "
                                 f"{trigger.event} has AuthorizationType NONE")
        elif self.found.env.get("OPSFN_DEFAULT_AUTH") != effective:
            self.problems.append(
                f"{where}: route {trigger.event} admits {effective} but the function's "
                f"OPSFN_DEFAULT_AUTH is {self.found.env.get('OPSFN_DEFAULT_AUTH')!r}")

    def _function_urls_are_signed(self) -> None:
        if any(isinstance(r.spec, HttpSpec) and r.spec.auth != "public"
               for r in self.app.registry.routes):
            for name, auth_type in self.found.function_urls.items():
                if auth_type != "AWS_IAM":
                    self.problems.append(f"function URL {name}: AuthType {auth_type} would let "
                                         "anyone reach routes that require auth; use AWS_IAM")

    def _check_schedule(self, spec: ScheduleSpec, where: str) -> None:
        declared = self.found.schedules.get(spec.name)
        if declared is None:
            self.problems.append(f"{where}: no schedule named {spec.name!r}")
        elif spec.expression and declared[1] != spec.expression:
            self.problems.append(f"{where}: schedule {spec.name!r} runs {declared[1]!r} in the "
                                 f"template but the route declares {spec.expression!r}")

    def _check_s3(self, spec: S3Spec, where: str) -> None:
        bucket = self.resolve(spec.bucket, where)
        if bucket is None:
            return
        wanted = _expected_detail_types(spec)
        if wanted is None:
            self.problems.append(f"{where}: event types {spec.events} have no EventBridge mapping")
            return
        for trigger in self.found.s3:
            if (trigger.bucket, trigger.prefix, trigger.suffix) == (bucket, spec.prefix,
                                                                    spec.suffix):
                if not wanted <= trigger.detail_types:
                    self.problems.append(f"{where}: {trigger.event} lacks {sorted(wanted)}")
                return
        self.problems.append(f"{where}: no S3 trigger on {bucket} for prefix {spec.prefix!r} "
                             f"and suffix {spec.suffix!r}")

    def _check_action_queue(self, where: str) -> None:
        env = self.found.env.get("OPSFN_ACTION_QUEUE")
        queue = ref_target(env) if env is not None else None
        if queue is None:
            self.problems.append(f"{where}: queue=True but OPSFN_ACTION_QUEUE is not set")
        elif queue not in self.found.sqs:
            self.problems.append(f"{where}: queue=True but no SQS event for {queue}")
        elif not self.found.sqs[queue][1]:
            self.problems.append(f"{where}: the action queue event lacks ReportBatchItemFailures")

    # template -> routes
    def _triggers_reach_routes(self) -> None:
        registry = self.app.registry
        for (method, path), trigger in self.found.http.items():
            methods = registry.http.by_template(path)
            if not methods or method not in methods:
                self.problems.append(f"event {trigger.event}: {method} {path} reaches no HTTP "
                                     "route")
        for name, (event, _) in self.found.schedules.items():
            if name not in registry.schedules:
                self.problems.append(f"event {event}: schedule {name!r} reaches no route")
        for (source, detail_type), event in self.found.eventbridge.items():
            if (source, detail_type) not in registry.eventbridge:
                self.problems.append(f"event {event}: {source}/{detail_type} reaches no route")
        for rtype, names in self.found.custom_resources.items():
            if rtype not in registry.custom_resources:
                hint = " (CDK's default type: give the route's Custom:: type)" \
                    if rtype == "AWS::CloudFormation::CustomResource" else ""
                self.problems.append(f"resources {names}: {rtype} has no custom resource route{hint}")
        s3_routes = [(self.resolve(r.spec.bucket, r.label), r.spec.prefix, r.spec.suffix)
                     for r in registry.routes if isinstance(r.spec, S3Spec)]
        for s3_trigger in self.found.s3:
            if (s3_trigger.bucket, s3_trigger.prefix, s3_trigger.suffix) not in s3_routes:
                self.problems.append(f"event {s3_trigger.event}: objects of {s3_trigger.bucket} "
                                     f"({s3_trigger.prefix!r}...{s3_trigger.suffix!r}) reach no "
                                     "S3 route")
        self._queues_reach_routes()
        if self.found.receipt_rules and not registry.ses:
            names = [rule.resource for rule in self.found.receipt_rules]
            self.problems.append(f"receipt rules {names}: invoke the function but no SES route "
                                 "serves them")
        self._check_relay_storage()

    def _queues_reach_routes(self) -> None:
        registry = self.app.registry
        env = self.found.env.get("OPSFN_ACTION_QUEUE")
        action_queue = ref_target(env) if env is not None else None
        queued = [a for a, r in registry.actions.items()
                  if isinstance(r.spec, ActionSpec) and r.spec.queue]
        sqs_routes = {self.resolve(r.spec.queue, r.label) for r in registry.routes
                      if isinstance(r.spec, SqsSpec)}
        for queue, (event, _) in self.found.sqs.items():
            if queue == action_queue:
                if not queued:
                    self.problems.append(f"event {event}: action queue but no action has queue=True")
            elif queue not in sqs_routes:
                self.problems.append(f"event {event}: queue {queue} reaches no SQS route")
        sns_routes = {self.resolve(r.spec.topic, r.label) for r in registry.routes
                      if isinstance(r.spec, SnsSpec)}
        for topic, event in self.found.sns.items():
            if topic not in sns_routes:
                self.problems.append(f"event {event}: topic {topic} reaches no SNS route")

    def _failures_are_visible(self) -> None:
        _failures_are_visible(self)

    def _operations_are_sound(self) -> None:
        _operations_are_sound(self)

    def _environment_is_known(self) -> None:
        from opsfn.core.settings import setting_variables

        known = {name for name, _, _ in setting_variables()}
        for variable in self.found.env:
            if variable not in known and not variable.startswith(FOREIGN_PREFIXES):
                self.problems.append(f"environment variable {variable} is not an opsfn setting")


    # CORS: the template's answers and the function's must be the same
    def _cors_agrees(self) -> None:
        from opsfn.core.cors import ALLOW_HEADERS

        resources: dict[str, Any] = self.template["Resources"]
        function_origins = origins_of(self.found.env.get("OPSFN_CORS_ORIGIN"))
        methods = {r.spec.method for r in self.app.registry.routes if isinstance(r.spec, HttpSpec)}
        for name, cors in cors_configurations(resources, self.found.function):
            where = f"{name} CORS"
            if function_origins is None:
                self.problems.append(f"{where}: the template answers CORS but the function's "
                                     "OPSFN_CORS_ORIGIN is not set")
                continue
            if origins_of(cors.get("AllowOrigins"), listed=True) != function_origins:
                self.problems.append(f"{where}: AllowOrigins differs from OPSFN_CORS_ORIGIN")
            allowed = {str(m).upper() for m in cors.get("AllowMethods") or []}
            missing = sorted((methods | {"OPTIONS"}) - allowed) if "*" not in allowed else []
            if missing:
                self.problems.append(f"{where}: AllowMethods lacks {missing} (declared by routes)")
            headers = {str(h).lower() for h in cors.get("AllowHeaders") or []}
            if headers != set(ALLOW_HEADERS):
                self.problems.append(f"{where}: AllowHeaders {sorted(headers)} differs from the "
                                     f"function's {sorted(ALLOW_HEADERS)}")
            if str(cors.get("MaxAge")) != str(self._env_value("OPSFN_CORS_MAX_AGE")):
                self.problems.append(f"{where}: MaxAge differs from OPSFN_CORS_MAX_AGE")
        for variable, wanted in BROWSER_UPLOAD_BUCKETS.items():
            bucket = ref_target(self.found.env.get(variable))
            if bucket in resources:
                self._bucket_cors(bucket, resources[bucket], wanted, function_origins)

    def _env_value(self, variable: str) -> Any:
        from opsfn.core.settings import setting_fields

        if variable in self.found.env:
            return self.found.env[variable]
        return setting_fields()[variable].default

    def _bucket_cors(self, bucket: str, resource: Any, wanted: tuple[str, ...],
                     function_origins: tuple[str, ...] | str | None) -> None:
        rules = _dict(_dict(_dict(resource).get("Properties")).get("CorsConfiguration")).get(
            "CorsRules") or []
        for rule in rules:
            if not isinstance(rule, dict):
                continue
            methods = {str(m).upper() for m in rule.get("AllowedMethods") or []}
            headers = {str(h).lower() for h in rule.get("AllowedHeaders") or []}
            if set(wanted) <= methods and ("*" in headers or "content-type" in headers) and \
                    origins_of(rule.get("AllowedOrigins"), listed=True) == function_origins:
                return
        self.problems.append(f"bucket {bucket}: no CORS rule allows {' and '.join(wanted)} with "
                             "Content-Type from the origins in OPSFN_CORS_ORIGIN")


def origins_of(value: Any, listed: bool = False) -> tuple[str, ...] | str | None:
    """What an origin setting names: a parameter (``Ref:Name``) or a literal tuple of origins.

    ``listed`` reads a template list property: ``!Split [",", !Ref P]`` and ``[!Ref P]`` both
    name P, a literal list is its origins. Without it, the value is the function's
    comma-separated ``OPSFN_CORS_ORIGIN``.
    """
    if value is None:
        return None
    if listed:
        if isinstance(value, dict) and isinstance(value.get("Fn::Split"), list) and \
                len(value["Fn::Split"]) == 2 and value["Fn::Split"][0] == ",":
            return origins_of(value["Fn::Split"][1])
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            return origins_of(value[0])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(v.strip().rstrip("/") for v in value)
        return f"<unparsed {value!r}>"
    if isinstance(value, dict) and isinstance(value.get("Ref"), str):
        return f"Ref:{value['Ref']}"
    if isinstance(value, str):
        return tuple(v.strip().rstrip("/") for v in value.split(",") if v.strip())
    return f"<unparsed {value!r}>"


def cors_configurations(resources: dict[str, Any], function: str
                        ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every CORS answer the template configures in front of the function: HTTP APIs' and the
    function URL's (REST APIs and ALBs leave CORS to the function)."""
    for name, res in resources.items():
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::HttpApi":
            cors = _dict(res.get("Properties")).get("CorsConfiguration")
            if isinstance(cors, dict):
                yield name, cors
    url = _dict(_dict(_dict(resources.get(function)).get("Properties")).get("FunctionUrlConfig"))
    if isinstance(url.get("Cors"), dict):
        yield f"{function} FunctionUrlConfig", url["Cors"]
def _alarm_watches(props: dict[str, Any]) -> list[tuple[Any, Any, dict[str, Any]]]:
    """(namespace, metric, {dimension: value}) of every metric an alarm reads."""
    stats = [props] + [_dict(_dict(m).get("MetricStat")).get("Metric") or {}
                       for m in props.get("Metrics") or []]
    return [(stat.get("Namespace"), stat.get("MetricName"),
             {str(d.get("Name")): d.get("Value") for d in stat.get("Dimensions") or []
              if isinstance(d, dict)}) for stat in stats if isinstance(stat, dict)
            and stat.get("MetricName")]


def _failures_are_visible(checker: Checker) -> None:
    """Alarms to the alert topic on every failure signal; dead-letter queues for the schedules;
    custom resources through the alias the triggers use.

    The alarms are required of a function that has an alert topic (``ALERT_TOPIC_ARN``): that is
    where people are told. A template without one (a test stack, an app that alerts elsewhere)
    is checked for its routes and dead-letter queues only.
    """
    from opsfn.core.observability import NAMESPACE, SERVICE, UNDELIVERED_ANSWERS

    found, resources = checker.found, checker.template["Resources"]
    topic = ref_target(found.env.get("ALERT_TOPIC_ARN"))
    _dead_letters_and_alias(checker)
    if topic is None:
        return
    watched: list[tuple[Any, Any, dict[str, Any]]] = []
    for name, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = _dict(res.get("Properties"))
        if topic is None or topic not in [ref_target(a) for a in props.get("AlarmActions") or []]:
            checker.problems.append(f"alarm {name} does not notify the alert topic {topic}")
            continue
        watched += _alarm_watches(props)

    def alarmed(namespace: Any, metric: str, **dimensions: Any) -> bool:
        return any(ns == namespace and m == metric and all(
            ref_target(dims.get(k)) == v or dims.get(k) == v for k, v in dimensions.items())
            for ns, m, dims in watched)

    for metric in ("Errors", "Throttles", "Duration"):
        if not alarmed("AWS/Lambda", metric, FunctionName=found.function):
            checker.problems.append(f"no alarm on the function's {metric} (AWS/Lambda)")
    for queue, what in sorted(found.failure_queues.items()):
        if not alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=queue):
            checker.problems.append(f"no alarm on messages in {queue} ({what})")
    namespace = found.env.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    service = found.env.get("POWERTOOLS_SERVICE_NAME", SERVICE)
    if found.custom_resources and not alarmed(namespace, UNDELIVERED_ANSWERS, service=service):
        checker.problems.append(f"no alarm on {UNDELIVERED_ANSWERS} in the function's namespace "
                                "and service (POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME)")


def _dead_letters_and_alias(checker: Checker) -> None:
    found = checker.found
    for name in found.schedules_without_dlq:
        checker.problems.append(f"event {name}: the schedule has no DeadLetterConfig")
    sam = found.alias_resource == f"{found.function}.Alias"
    for where in found.unqualified_tokens:
        checker.problems.append(
            f"{where} is the unqualified function; " + (
                f"with AutoPublishAlias it must be !Ref {found.function}.Alias" if sam else
                f"with the alias {found.alias} it must be the alias ({found.alias_resource})"))


# -- operations: access logs, tracing, SnapStart, the Duration alarm, concurrency ------------------
def _operations_are_sound(checker: Checker) -> None:
    """The parts added for operations agree with the function and with each other."""
    _access_logs_are_anonymous(checker)
    _tracing_agrees(checker)
    _snapstart_without_efs(checker)
    _duration_alarm_can_fire(checker)
    _concurrency_is_not_zero(checker)


def function_properties(template: dict[str, Any], function: str) -> dict[str, Any]:
    """The function's properties over SAM's ``Globals.Function`` (what SAM deploys)."""
    resource = _dict(template["Resources"].get(function))
    props = _dict(resource.get("Properties"))
    if resource.get("Type") != "AWS::Serverless::Function":
        return props
    return {**_dict(_dict(template.get("Globals")).get("Function")), **props}


def _number(value: Any) -> float | None:
    """A literal number (CloudFormation takes numeric strings too); None for an expression."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in an expression (each branch of an ``Fn::If``, each part of a join)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for inner in value.values() if isinstance(value, dict) else value:
            yield from _strings(inner)


def _access_log_formats(settings: Any) -> Iterator[str]:
    """The text of every format access-log settings may use, each ``Fn::If`` branch included:
    the parameter that turns logs on must not also be the one that makes them leak."""
    branches = _dict(settings).get("Fn::If")
    if isinstance(branches, list):
        for branch in branches[1:]:
            yield from _access_log_formats(branch)
    elif "Format" in _dict(settings):
        yield from _strings(settings["Format"])


def _access_logs_are_anonymous(checker: Checker) -> None:
    """No API logs what a request carried or who sent it (:data:`ACCESS_LOG_REFUSED`)."""
    refused = tuple(prefix.lower() for prefix in ACCESS_LOG_REFUSED)
    for name, res in checker.template["Resources"].items():
        prop = ACCESS_LOG_PROPERTIES.get(str(_dict(res).get("Type")))
        if prop is None:
            continue
        settings = _dict(_dict(res).get("Properties")).get(prop)
        leaks = sorted({variable for text in _access_log_formats(settings)
                        for variable in re.findall(r"\$[A-Za-z][\w.]*", text)
                        if variable.lower().startswith(refused)})
        if leaks:
            checker.problems.append(f"{name} {prop}: the access log format writes "
                                    f"{', '.join(leaks)}; access logs carry no query string, "
                                    "body, path, header or caller identity")


def _tracing_mode(props: dict[str, Any]) -> Any:
    """SAM's ``Tracing`` or CloudFormation's ``TracingConfig.Mode``; None when neither is set."""
    if "Tracing" in props:
        return props["Tracing"]
    config = props.get("TracingConfig")
    return config.get("Mode") if isinstance(config, dict) and "Fn::If" not in config else config


def _tracing_setting(value: Any) -> bool | None:
    """``OPSFN_TRACING`` as the function reads it; None when the template computes it."""
    from opsfn.core.settings import parse, setting_fields

    if isinstance(value, bool):
        return value
    if not isinstance(value, str | int | float):
        return None
    field = setting_fields()["OPSFN_TRACING"]
    try:
        return bool(parse(field, field.annotation, str(value)))
    except ValueError:
        return False  # the function refuses to start; it does not trace either


def _tracing_agrees(checker: Checker) -> None:
    """The tracer (``OPSFN_TRACING``) runs exactly when Lambda traces, and the role may send.

    The tracer without Lambda tracing has no segment to add to; Lambda tracing without the
    tracer has no route subsegments. When either side depends on a parameter (the SAM template
    derives both from ``Tracing``) the values cannot be compared: both must be set.
    """
    function, env = checker.found.function, checker.found.env
    props = function_properties(checker.template, function)
    mode, setting = _tracing_mode(props), env.get("OPSFN_TRACING")
    enabled = _tracing_setting(setting) if setting is not None else False
    where = f"function {function}"
    if (mode is not None and not isinstance(mode, str)) or enabled is None:
        if mode is None:
            checker.problems.append(f"{where}: OPSFN_TRACING depends on the template but the "
                                    "function has no Tracing (TracingConfig.Mode)")
        if setting is None:
            checker.problems.append(f"{where}: tracing depends on the template but OPSFN_TRACING "
                                    "is not in the function's environment")
        return
    active = mode == "Active"
    if enabled and not active:
        checker.problems.append(f"{where}: OPSFN_TRACING is true but tracing is {mode or 'not set'}"
                                " (Tracing: Active, TracingConfig.Mode: Active)")
    elif active and not enabled:
        checker.problems.append(f"{where}: tracing is Active but OPSFN_TRACING is "
                                f"{'not set' if setting is None else repr(setting)} (set it to \"true\")")
    role = ref_target(props.get("Role"))
    if active and enabled and role in checker.template["Resources"] and \
            not role_may_trace(checker.template["Resources"], str(role)):
        checker.problems.append(f"{where}: tracing is Active but its role {role} does not allow "
                                "xray:PutTraceSegments")


def _conditions_of(value: Any) -> set[str]:
    """The conditions an expression names (``Fn::If``'s first item, ``Condition``)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Fn::If" and isinstance(inner, list) and inner and isinstance(inner[0], str):
                found.add(inner[0])
            if key == "Condition" and isinstance(inner, str):
                found.add(inner)
            found |= _conditions_of(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _conditions_of(inner)
    return found


def parameters_behind(template: dict[str, Any], value: Any) -> frozenset[str]:
    """The parameters an expression depends on, through the conditions it names."""
    conditions = _dict(template.get("Conditions"))
    names: set[str] = set()
    seen: set[str] = set()
    pending = [value]
    while pending:
        node = pending.pop()
        names |= referenced(node)
        for condition in _conditions_of(node) - seen:
            seen.add(condition)
            pending.append(conditions.get(condition))
    return frozenset(names & set(_dict(template.get("Parameters"))))


def _snapstart_without_efs(checker: Checker) -> None:
    """SnapStart on published versions and an EFS mount never deploy together (Lambda refuses).

    Both literal: refused here. If a side depends on parameters (the SAM template's ``SnapStart``
    and ``EfsFileSystemId``/``SslFileSystemId``), CloudFormation must refuse the combination
    before it creates anything: some ``Rules`` entry with assertions must reference a parameter
    of every conditional side (in its ``RuleCondition`` or ``Assertions``). What the rule
    asserts is not evaluated; that it exists and names those parameters is the check.
    """
    props = function_properties(checker.template, checker.found.function)
    apply_on = _dict(props.get("SnapStart")).get("ApplyOn")
    mounts = props.get("FileSystemConfigs")
    if apply_on is None or (isinstance(apply_on, str) and apply_on != "PublishedVersions") or \
            mounts in (None, []):
        return  # no SnapStart, or no file system
    where = f"function {checker.found.function}"
    if apply_on == "PublishedVersions" and isinstance(mounts, list):
        checker.problems.append(f"{where}: SnapStart ApplyOn PublishedVersions with "
                                "FileSystemConfigs; Lambda SnapStart does not support EFS")
        return
    sides = [parameters_behind(checker.template, side) for side in (apply_on, mounts)
             if not isinstance(side, str | list)]
    rules = [rule for rule in _dict(checker.template.get("Rules")).values()
             if _dict(rule).get("Assertions")]
    if not any(all(side & referenced(rule) for side in sides) for rule in rules):
        named = " and ".join(str(sorted(side)) for side in sides)
        checker.problems.append(f"{where}: SnapStart with FileSystemConfigs depends on parameters "
                                f"but no Rules entry refuses it (one naming {named}); Lambda "
                                "SnapStart does not support EFS")


def _alarm_value(props: dict[str, Any]) -> dict[str, Any] | None:
    """The metric an alarm compares with its threshold; None for a math expression, whose
    threshold is not in the metric's unit (the shipped alarms divide by the timeout)."""
    if props.get("MetricName"):
        return props
    returned = [_dict(m) for m in props.get("Metrics") or []
                if str(_dict(m).get("ReturnData", True)).lower() != "false"]
    if len(returned) == 1 and "MetricStat" in returned[0]:
        return _dict(_dict(returned[0]["MetricStat"]).get("Metric"))
    return None


def _duration_alarm_can_fire(checker: Checker) -> None:
    """A Duration alarm (milliseconds) at or above the timeout never fires: Lambda stops the
    invocation first. Compared only when both the Timeout and the Threshold are literals."""
    function = checker.found.function
    timeout = _number(function_properties(checker.template, function).get("Timeout"))
    if timeout is None:
        return
    for name, res in checker.template["Resources"].items():
        if _dict(res).get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = _dict(res.get("Properties"))
        metric, threshold = _alarm_value(props), _number(props.get("Threshold"))
        if metric is None or threshold is None or (metric.get("Namespace"), metric.get(
                "MetricName")) != ("AWS/Lambda", "Duration"):
            continue
        dimensions = metric.get("Dimensions") or []
        dims = {str(_dict(d).get("Name")): _dict(d).get("Value") for d in dimensions}
        if ref_target(dims.get("FunctionName")) == function and threshold >= timeout * 1000:
            checker.problems.append(f"alarm {name}: Threshold {threshold:.15g} ms is not below the "
                                    f"function's Timeout of {timeout:.15g} s; Lambda stops the "
                                    "invocation before the alarm can fire")


def _concurrency_is_not_zero(checker: Checker) -> None:
    """Zero reserved concurrency throttles every invocation: the function would never run."""
    props = function_properties(checker.template, checker.found.function)
    if _number(props.get("ReservedConcurrentExecutions")) == 0:
        checker.problems.append(f"function {checker.found.function}: ReservedConcurrentExecutions "
                                "is 0, so every invocation is throttled (remove it or reserve at "
                                "least 1)")


def _event_name(label: str) -> str:
    """A CamelCase logical id from a route label."""
    words = "".join(c if c.isalnum() else " " for c in label).split()
    return "".join(w[:1].upper() + w[1:] for w in words)[:60] or "Route"


def suggestion(spec: object, label: str, env_target: str | None = None) -> str | None:
    """A YAML snippet (an event of the function, or a resource) that wires ``spec`` up."""
    name = _event_name(label)
    if isinstance(spec, HttpSpec):
        auth = {"public": ", Auth: {Authorizer: NONE}", "iam": ", Auth: {Authorizer: AWS_IAM}",
                "jwt": ", Auth: {Authorizer: JwtAuthorizer}"}.get(spec.auth, "")
        return (f"{name}:  # under OpsFunction Events\n  Type: HttpApi\n  Properties: "
                f"{{ApiId: !Ref HttpApi, Method: {spec.method}, Path: {spec.path}{auth}}}")
    if isinstance(spec, ScheduleSpec):
        return (f"{name}:  # under OpsFunction Events\n  Type: ScheduleV2\n  Properties:\n"
                f"    Name: {spec.name}\n    GroupName: !Ref ScheduleGroup\n"
                f"    ScheduleExpression: {spec.expression or 'rate(1 hour)'}\n"
                f"    RoleArn: !GetAtt SchedulerRole.Arn\n"
                f"    RetryPolicy: {{MaximumRetryAttempts: 3}}\n"
                f"    DeadLetterConfig: {{Arn: !GetAtt ScheduleDeadLetterQueue.Arn}}")
    if isinstance(spec, EventBridgeSpec):
        detail = f"\n      detail-type: [{spec.detail_type}]" if spec.detail_type else ""
        return (f"{name}:  # under OpsFunction Events\n  Type: EventBridgeRule\n  Properties:\n"
                f"    Pattern:\n      source: [{spec.source}]{detail}")
    if isinstance(spec, CustomResourceSpec):
        return (f"{name}:  # a resource\n  Type: {spec.resource_type}\n  Properties:\n"
                f"    ServiceToken: !Ref OpsFunction.Alias")
    if isinstance(spec, S3Spec):
        wanted = sorted(_expected_detail_types(spec) or {"Object Created"})
        keys = key_filter(spec.prefix, spec.suffix)
        key_line = f"\n        object: {{key: {json.dumps(keys)}}}" if keys else ""
        return (f"{name}:  # under OpsFunction Events\n  Type: EventBridgeRule\n  Properties:\n"
                f"    Pattern:\n      source: [aws.s3]\n      detail-type: {json.dumps(wanted)}\n"
                f"      detail:\n        bucket: {{name: [!Ref {env_target or 'TheBucket'}]}}"
                f"{key_line}")
    if isinstance(spec, SesSpec):
        return (f"{name}Rule:  # a resource (and an AWS::Lambda::Permission for ses.amazonaws.com)\n"
                "  Type: AWS::SES::ReceiptRule\n  Properties:\n    RuleSetName: !Ref ReceiptRuleSetName\n"
                "    Rule:\n      Enabled: true\n      ScanEnabled: true\n      Actions:\n"
                "        - S3Action: {BucketName: !Ref InboundMailBucket, ObjectKeyPrefix: inbound/}\n"
                "        - LambdaAction: {FunctionArn: !Ref OpsFunction.Alias, InvocationType: Event}")
    if isinstance(spec, SqsSpec | SnsSpec):
        kind = "SQS" if isinstance(spec, SqsSpec) else "SNS"
        prop = "Queue: !GetAtt {}.Arn" if kind == "SQS" else "Topic: !Ref {}"
        return (f"{name}:  # under OpsFunction Events\n  Type: {kind}\n  Properties:\n    "
                + prop.format(env_target or "TheResource"))
    return None


def suggestions(app: App, template: dict[str, Any]) -> list[str]:
    """Snippets for every route whose trigger the template lacks."""
    checker = Checker(app, template)
    found: list[str] = []
    for route in app.registry.routes:
        checker.problems = []
        checker.check_route(route)
        if checker.problems:
            target = None
            spec = route.spec
            name = getattr(spec, "bucket", None) or getattr(spec, "queue", None) or \
                getattr(spec, "topic", None)
            if isinstance(name, Setting) and name.variable in checker.found.env:
                target = ref_target(checker.found.env[name.variable])
            snippet = suggestion(spec, route.label, target)
            if snippet is not None:
                found.append(snippet)
    return found


def check(app: App, template_path: Path) -> list[str]:
    """Problems between ``app``'s registry and the template at ``template_path``."""
    return Checker(app, load_template(template_path)).run()


def summary(app: App, template_path: Path) -> Iterator[str]:
    """Counts of what the template wires up, for the command's output."""
    found = declared_triggers(load_template(template_path))
    yield f"function {found.function}: {len(found.http)} HTTP routes, {len(found.schedules)} " \
          f"schedules, {len(found.eventbridge)} EventBridge rules, {len(found.s3)} S3 triggers, " \
          f"{len(found.sqs)} SQS, {len(found.sns)} SNS, " \
          f"{sum(len(v) for v in found.custom_resources.values())} custom resources, " \
          f"{len(found.receipt_rules)} SES receipt rules"
    yield f"registry: {json.dumps(app.registry.counts(), sort_keys=True)}"


def default_template() -> Path:
    """``infra/template.yaml`` of the source checkout, else of the working directory."""
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_TEMPLATE
    return checkout if checkout.exists() else DEFAULT_TEMPLATE


def app_variable_problems(reference: str | None, template_path: Path) -> list[str]:
    """The function must serve the application checked: its ``OPSFN_APP`` names it (unset for
    the built-in app), or Lambda would serve other routes than the ones compared."""
    found = declared_triggers(load_template(template_path))
    configured = found.env.get("OPSFN_APP")
    if configured == reference or (reference is None and configured is None):
        return []
    if reference is None:
        return [f"the function's OPSFN_APP is {configured!r} but the built-in app was checked "
                "(give --app)"]
    return [f"the function's OPSFN_APP is {configured!r}, so Lambda would not serve "
            f"{reference} (set OPSFN_APP: {reference} in its Environment)"]


def cmd_infra_check(args: argparse.Namespace) -> int:
    """Print drift problems; exit 1 when there are any."""
    from opsfn.tooling.app_option import app_reference, load_app

    path = Path(args.template) if args.template else default_template()
    if not path.is_file():
        sys.stderr.write(f"error: no SAM template at {path} (give --template)\n")
        return 2
    app = load_app(args)
    problems = check(app, path) + app_variable_problems(app_reference(args), path)
    out = sys.stdout
    for line in summary(app, path):
        out.write(line + "\n")
    for problem in problems:
        out.write(f"DRIFT {problem}\n")
    if problems and args.suggest:
        out.write("\n# YAML to add to the template:\n")
        for snippet in suggestions(app, load_template(path)):
            out.write(snippet + "\n\n")
    out.write(f"{path}: {'no drift' if not problems else f'{len(problems)} problem(s)'}\n")
    return 1 if problems else 0


def register(subparsers: Any) -> None:
    """Add ``opsfn infra check``."""
    infra = subparsers.add_parser("infra", help="the SAM template and the routes")
    sub = infra.add_subparsers(dest="infra_command", required=True)
    chk = sub.add_parser("check", help="prove the template's triggers and the routes match")
    chk.add_argument("--template", help="path of the SAM template (default infra/template.yaml)")
    chk.add_argument("--suggest", action="store_true",
                     help="print YAML for the triggers the template lacks")
    from opsfn.tooling.app_option import add_app_argument

    add_app_argument(chk)
    chk.set_defaults(func=cmd_infra_check)
    from opsfn.tooling.generate.template import register as register_template

    register_template(sub)
