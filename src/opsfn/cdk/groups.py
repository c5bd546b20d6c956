"""A group of routes deployed by the construct as a function of its own.

The group's function is built from the same code, with the construct's environment and
``OPSFN_ROUTES`` naming the group; it gets the group's triggers (its API routes on the same API,
its rules and schedules), its own alarms, its own memory, timeout and reserved concurrency, a
role of its own (its log stream, the failure destination, traces) and a routes role of its own
holding the group's declarations.
The main function leaves the group's routes out. What :func:`split_routes` refuses in a group
(custom resources, the SES relay, queued actions) stays with the main function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_cdk import Duration, Lazy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from opsfn.cdk import policies
from opsfn.cdk.alarms import create_alarms
from opsfn.cdk.live import publish_live
from opsfn.cdk.route_access import RoutePolicies, documents
from opsfn.cdk.routes_role import POLICIES_SETTING, RoutesRole, create_routes_role, environment
from opsfn.cdk.triggers import create_rules, create_schedules
from opsfn.cdk.variables import Variables
from opsfn.core.dead_letters import ACCESS as FRAMEWORK
from opsfn.core.groups import SETTING, grants_by_domain

if TYPE_CHECKING:
    from opsfn.cdk.construct import OpsFunction
    from opsfn.tooling.generate.groups import Group


@dataclass(frozen=True)
class RouteGroup:
    """Routes (domains, route keys or route functions) deployed as a function of their own."""

    routes: Sequence[str]
    memory_size: int | None = None
    timeout: Duration | None = None
    reserved_concurrency: int | None = None


@dataclass
class GroupFunction:
    """What the construct made for one group."""

    function: lambda_.Function
    alias: lambda_.Alias
    role: iam.Role
    routes_role: RoutesRole


def _role(scope: Construct, ops: OpsFunction, group: Group) -> iam.Role:
    own = {name: iam.PolicyDocument(statements=statements) for name, statements in
           policies.core_policies(ops.log_group.log_group_arn, None,
                                  ops.storage.failed_events.queue_arn,
                                  tracing=ops.tracing).items()}
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    inline_policies=own)
    cast(iam.CfnRole, role.node.default_child).add_property_override(
        "Policies", Lazy.any(RoutePolicies(documents(own), grants_by_domain([], FRAMEWORK),
                                           ops.environment, ops.arns)))
    if ops.function_options.get("vpc") is not None:
        role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(
            "service-role/AWSLambdaVPCAccessExecutionRole"))
    return role


def add_group(ops: OpsFunction, name: str, group: Group, options: RouteGroup) -> GroupFunction:
    """The group's function, alias, role, triggers and alarms, under ``ops``/``name``."""
    if options.reserved_concurrency is not None and options.reserved_concurrency < 1:
        raise ValueError(f"group {name}: reserved_concurrency must be at least 1")
    scope = Construct(ops, name)
    role = _role(scope, ops, group)
    routes_role = create_routes_role(scope, role, group.routes, ops.environment, ops.arns)
    own = {SETTING: ",".join(group.entries), POLICIES_SETTING: None,
           **environment(routes_role.role, ops.session_policies, group.routes)}
    settings: dict[str, Any] = {**ops.function_options}
    if options.memory_size is not None:
        settings["memory_size"] = options.memory_size
    if options.timeout is not None:
        settings["timeout"] = options.timeout
    function = lambda_.Function(
        scope, "Function", **settings,
        role=iam.Role.from_role_arn(scope, "FunctionRole", role.role_arn, mutable=False),
        description=f"opsfn - the {name} routes",
        reserved_concurrent_executions=options.reserved_concurrency)
    function.node.add_dependency(routes_role.assume)
    cast(lambda_.CfnFunction, function.node.default_child).environment = \
        lambda_.CfnFunction.EnvironmentProperty(variables=Lazy.any(Variables(lambda: {
            k: v for k, v in {**ops.environment, **own}.items() if v is not None})))
    alias = publish_live(scope, function, ops.storage.failed_events.queue_arn)
    ops.http.add(alias, group.routes, integration_id=f"{name}Function")
    create_rules(scope, alias, ops.storage.failed_events, group.routes, ops.setting_value)
    ops.schedules.update(create_schedules(scope, alias, ops.storage.schedule_dead_letters,
                                          group.routes, function_arn=function.function_arn))
    namespace, service = ops.metric_names
    create_alarms(scope, function, ops.storage.alert_topic,
                  timeout=settings["timeout"], failure_queues={}, metrics_namespace=namespace,
                  service_name=service)
    return GroupFunction(function, alias, role, routes_role)
