"""What a template must get right that no route can say: the operations rules.

Events, environment and route IAM are generated from the routes (``opsfn infra template``, the
CDK construct), so they cannot drift; what is checked is the hand-written rest, SAM or plain
CloudFormation: alarms to the alert topic on every failure signal, dead-letter queues on
schedules, custom resources through the alias; access logs without request content or caller,
tracing agreeing with ``OPSFN_TRACING``, SnapStart never with EFS, a Duration alarm below the
timeout, reserved concurrency above 0, an assumable routes role; and the base agreeing with the
function (CORS, the default authorizer, a signed function URL, the relay's receipt rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opsfn.core.cors import ALLOW_HEADERS
from opsfn.core.groups import limited
from opsfn.core.observability import NAMESPACE, SERVICE, UNDELIVERED_ANSWERS
from opsfn.core.router import HttpSpec
from opsfn.core.settings import parse, setting_fields
from opsfn.tooling.role_rules import routes_role_problems
from opsfn.tooling.template_reader import (
    ApiAuth,
    _dict,
    branch_target,
    declared_triggers,
    opsfn_functions,
    ref_target,
    referenced,
    role_may_trace,
)

if TYPE_CHECKING:
    from opsfn.core.app import App

# Buckets browsers upload to directly (by the setting naming them) and the methods they use.
BROWSER_UPLOAD_BUCKETS: dict[str, tuple[str, ...]] = {"UPLOAD_BUCKET": ("PUT", "POST")}
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


class Checker:
    """The operations rules of one template, for one app's routes (with ``function``: for that
    function and the routes its ``OPSFN_ROUTES`` keeps)."""

    def __init__(self, app: App, template: dict[str, Any], function: str | None = None) -> None:
        functions = [function] if function else opsfn_functions(template["Resources"])
        self.template, self.whole, self.others = template, app, functions[1:]
        self.found = declared_triggers(template, functions[0] if functions else None)
        routes = self.found.env.get("OPSFN_ROUTES")
        self.app = limited(app, routes if isinstance(routes, str) else None)
        self.problems: list[str] = []

    def run(self) -> list[str]:
        """Every problem, of every opsfn function; empty means the template is sound."""
        for other in self.others:
            self.problems += Checker(self.whole, self.template, other).run()
        self._function_urls_are_signed()
        self._default_auth_agrees()
        self._cors_agrees()
        self._check_relay_storage()
        self._mail_reaches_the_relay()
        _failures_are_visible(self)
        _operations_are_sound(self)
        return self.problems

    def _mail_reaches_the_relay(self) -> None:
        """The receipt rules and their permission are the base's: an SES route needs both, and
        a rule that invokes the function needs a route (else its mail goes nowhere)."""
        routes, found = self.app.registry.ses, self.found
        if routes and not found.receipt_rules:
            self.problems.append(f"ses:receipt: no AWS::SES::ReceiptRule with a LambdaAction on "
                                 f"{found.function}")
        elif routes and not found.ses_may_invoke:
            self.problems.append(f"ses:receipt: no AWS::Lambda::Permission lets "
                                 f"ses.amazonaws.com invoke {found.function}")
        elif found.receipt_rules and not routes:
            names = [rule.resource for rule in found.receipt_rules]
            self.problems.append(f"receipt rules {names}: invoke the function but no SES route "
                                 "serves them")

    def _default_auth_agrees(self) -> None:
        """A route with auth ``default`` is admitted by the API's default authorizer, which the
        function checks again as ``OPSFN_DEFAULT_AUTH``: the two must name the same callers."""
        declared = self.found.env.get("OPSFN_DEFAULT_AUTH")
        for route in self.app.registry.routes:
            spec = route.spec
            if not isinstance(spec, HttpSpec) or spec.auth != "default":
                continue
            trigger = self.found.http.get(
                (spec.method, "/" + "/".join(p for p in spec.path.split("/") if p)))
            if trigger is None:
                continue
            api = self.found.apis.get(trigger.api, ApiAuth(None, frozenset()))
            admits = trigger.effective or api.kind(trigger.authorizer)
            if admits != declared:
                self.problems.append(f"route {route.label}: {trigger.event} admits {admits} but "
                                     f"the function's OPSFN_DEFAULT_AUTH is {declared!r}")

    def _function_urls_are_signed(self) -> None:
        if any(isinstance(r.spec, HttpSpec) and r.spec.auth != "public"
               for r in self.app.registry.routes):
            for name, auth_type in self.found.function_urls.items():
                if auth_type != "AWS_IAM":
                    self.problems.append(f"function URL {name}: AuthType {auth_type} would let "
                                         "anyone reach routes that require auth; use AWS_IAM")

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

    def _cors_agrees(self) -> None:
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
    """Alarms to the alert topic on every failure signal, required of a function that has an
    alert topic (``ALERT_TOPIC_ARN``); dead-letter queues for schedules; custom resources through
    the alias the triggers use."""
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
    checker.problems += routes_role_problems(checker.template["Resources"], checker.found.function,
                                             checker.found.env)


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
    """SnapStart on published versions and an EFS mount never deploy together (Lambda refuses):
    refused here when both are literal, else some ``Rules`` entry must name a parameter of each
    conditional side (what it asserts is not evaluated, that it exists is the check)."""
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
