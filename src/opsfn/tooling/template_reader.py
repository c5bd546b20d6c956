"""What a CloudFormation template says about the opsfn function: its triggers, environment,
alias, failure queues and permissions, read from SAM events or plain CloudFormation resources.

The local stack reads a template through this to fire the triggers it declares, and the
operations rules (:mod:`opsfn.tooling.ops_rules`) read the function's parts through it. Plain
CloudFormation (a CDK app's synthesized template) is read too: triggers are then resources of
their own (``AWS::ApiGatewayV2::Route``, ``AWS::Events::Rule``, ``AWS::Scheduler::Schedule``,
``AWS::Lambda::EventSourceMapping``, ``AWS::SNS::Subscription``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsfn.lazy import load

HANDLER = "opsfn.handler.lambda_handler"
# Policy actions that allow sending trace segments, and AWS managed policies that do.
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:*", "*"})
XRAY_MANAGED_POLICIES = ("AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess")


# S3 notification event names and the detail-type S3 sends to EventBridge for them.
S3_DETAIL_TYPES: dict[str, str] = {
    "ObjectCreated": "Object Created",
    "ObjectRemoved": "Object Deleted",
    "ObjectRestore": "Object Restore Completed",
    "ObjectTagging": "Object Tags Added",
}

def parse_yaml(text: str) -> Any:
    """YAML with CloudFormation's short-form tags (``!Ref X``) turned into their long form."""
    yaml: Any = load("yaml")  # PyYAML (a dependency of cfn-lint and moto; untyped here)
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


def opsfn_functions(resources: dict[str, Any]) -> list[str]:
    """The logical ids of the functions whose handler is opsfn's (one, or one per group)."""
    return [name for name, res in resources.items()
            if isinstance(res, dict) and res.get("Type") in ("AWS::Serverless::Function",
                                                             "AWS::Lambda::Function")
            and (res.get("Properties") or {}).get("Handler") == HANDLER]


def find_function(resources: dict[str, Any]) -> str:
    """The logical id of the one function whose handler is opsfn's."""
    found = opsfn_functions(resources)
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


def _listed_roles(value: Any) -> list[Any]:
    """The roles a policy names, in either branch of an ``Fn::If``."""
    if isinstance(value, dict) and "Fn::If" in value:
        branches = value["Fn::If"][1:] if isinstance(value["Fn::If"], list) else []
        return [role for branch in branches for role in _listed_roles(branch)]
    return list(value) if isinstance(value, list) else [] if value is None else [value]


def _role_documents(resources: dict[str, Any], role: str) -> list[Any]:
    """The policy documents of a role: its inline policies and the ``AWS::IAM::Policy``s on it."""
    documents = [_dict(p).get("PolicyDocument") for p in
                 _dict(_dict(resources.get(role)).get("Properties")).get("Policies") or []]
    documents += [_dict(r.get("Properties")).get("PolicyDocument") for r in resources.values()
                  if isinstance(r, dict) and r.get("Type") == "AWS::IAM::Policy"
                  and role in {ref_target(x) for x in _listed_roles(_dict(r.get("Properties")).get(
                      "Roles"))}]
    return documents


def role_allows(resources: dict[str, Any], role: str, actions: set[str], target: str) -> bool:
    """Whether an IAM role of the template allows one of ``actions`` on ``target`` (a logical id,
    named by its ``Ref``/``GetAtt``) or on every resource."""
    for document in _role_documents(resources, role):
        statements = _dict(document).get("Statement")
        for entry in statements if isinstance(statements, list) else [statements]:
            statement = _dict(entry)
            allowed = statement.get("Action")
            allowed = [allowed] if isinstance(allowed, str) else allowed or []
            targets = statement.get("Resource")
            targets = targets if isinstance(targets, list) else [targets]
            if statement.get("Effect") == "Allow" and actions & set(allowed) and \
                    any(t == "*" or target in referenced(t) for t in targets):
                return True
    return False


def role_may_invoke(resources: dict[str, Any], role: str, function: str) -> bool:
    """Whether an IAM role of the template allows ``lambda:InvokeFunction`` on ``function`` (the
    logical id of the function or of the alias that is invoked)."""
    return role_allows(resources, role, {"lambda:InvokeFunction", "lambda:*", "*"}, function)


def role_trusts(resources: dict[str, Any], role: str, principal: str) -> bool:
    """Whether ``role``'s trust policy lets the role ``principal`` (a logical id) assume it."""
    document = _dict(_dict(_dict(resources.get(role)).get("Properties")).get(
        "AssumeRolePolicyDocument"))
    statements = document.get("Statement")
    for entry in statements if isinstance(statements, list) else [statements]:
        statement = _dict(entry)
        allowed = statement.get("Action")
        allowed = [allowed] if isinstance(allowed, str) else allowed or []
        if statement.get("Effect") == "Allow" and "sts:AssumeRole" in allowed and \
                principal in referenced(_dict(statement.get("Principal")).get("AWS")):
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


def declared_triggers(template: dict[str, Any], function: str | None = None) -> Declared:
    """Collect the function's events, standalone schedules/rules and its custom resources."""
    resources: dict[str, Any] = template["Resources"]
    function = function or find_function(resources)
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
