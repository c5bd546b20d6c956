"""``OpsFunction``: the one opsfn function in a CDK app, wired as infra/template.yaml wires it.

The construct creates what the SAM template always creates (the function from ``opsfn package``'s
tree, a version behind the alias ``live`` on every deploy, its role, tables, buckets, queues, topic,
HTTP API, EventBridge rules, schedules and the action queue mapping). Every trigger invokes the
alias, as SAM's ``AutoPublishAlias`` has it, so SnapStart (which serves published versions only)
changes no wiring. Its helpers add what the template's parameters turn on, each with the same
environment variables, IAM statements and enabled schedule, and create the custom resources with
their real types (``Custom::SslMaterials``, ``Custom::SmtpCredential``,
``Custom::ActiveReceiptRuleSet``) and the alias's ARN as ``ServiceToken``: CDK's default
``AWS::CloudFormation::CustomResource`` reaches no route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from aws_cdk import CfnOutput, CustomResource, Duration, Lazy, Stack, Token
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from opsfn.cdk import arns, policies
from opsfn.cdk.access_logs import log_access
from opsfn.cdk.alarms import create_alarms
from opsfn.cdk.api import DefaultAuth, HttpRoutes
from opsfn.cdk.backups import table_backup_plan
from opsfn.cdk.code import code_path
from opsfn.cdk.encryption import allow_services, use_key
from opsfn.cdk.groups import RouteGroup, add_group
from opsfn.cdk.live import publish_live
from opsfn.cdk.nag import acknowledge_choices
from opsfn.cdk.nag_iam import acknowledge_iam
from opsfn.cdk.route_access import RoutePolicies, documents
from opsfn.cdk.routes_role import RoutesRole, create_routes_role, create_session_policies
from opsfn.cdk.routes_role import environment as routes_environment
from opsfn.cdk.storage import Storage, create_storage, private_bucket
from opsfn.cdk.triggers import action_queue_mapping, create_rules, create_schedules
from opsfn.cdk.variables import Variables
from opsfn.core.app import App
from opsfn.core.dead_letters import ACCESS as FRAMEWORK
from opsfn.core.discovery import load_reference
from opsfn.core.groups import grants_by_domain
from opsfn.core.router import ActionSpec, Route
from opsfn.core.settings import CoreSettings
from opsfn.routes.database.settings import DatabaseSettings
from opsfn.routes.etl.settings import EtlSettings
from opsfn.tooling.generate.groups import split_routes

HANDLER = "opsfn.handler.lambda_handler"
SERVICE = NAMESPACE = "opsfn"  # POWERTOOLS_SERVICE_NAME and _METRICS_NAMESPACE, as in the template
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
OWN_MOUNT = "/mnt/opsfn"  # the function's own access point (/opsfn) of an EFS
SSL_MOUNT = "/mnt/ssl"  # an SSL file system at its root
INBOUND_PREFIX = "inbound/"


@dataclass
class _Features:
    """What the helpers have configured so far."""

    mounted: efs.IFileSystem | None = None  # Lambda mounts one file system at most
    own_efs: efs.IFileSystem | None = None  # mount_efs(): /opsfn, the sync's source
    ssl_efs: efs.IFileSystem | None = None  # ssl_materials(fs): TLS materials only
    policies: dict[str, iam.Policy] = field(default_factory=dict)
    rule_set_activations: list[tuple[str, CustomResource]] = field(default_factory=list)
    relay_rules: list[tuple[str, ses.CfnReceiptRule]] = field(default_factory=list)
    smtp_user: bool = False
    secrets_keys: list[str] = field(default_factory=list)


def _registry_of(app: str | App | None) -> Any:
    """The registry of ``app`` (``module:attribute``, an App, or the built-in routes)."""
    if isinstance(app, App):
        return app.registry
    if app is None:
        from opsfn.handler import app as builtin_app

        return builtin_app.registry

    loaded: App = load_reference(app)
    return loaded.registry


def _name_of(rule_set: ses.IReceiptRuleSet | str) -> str:
    return rule_set if isinstance(rule_set, str) else rule_set.receipt_rule_set_name


def logging_config(log_format: str, application_log_level: str | None,
                   system_log_level: str | None) -> dict[str, Any]:
    """The function's LoggingConfig, as the SAM template's LogFormat, ApplicationLogLevel and
    SystemLogLevel set it (Lambda takes the two levels with the JSON format only)."""
    if log_format not in ("JSON", "Text"):
        raise ValueError("log_format must be JSON or Text")
    json_logs = log_format == "JSON"
    if not json_logs and (application_log_level or system_log_level):
        raise ValueError("application_log_level and system_log_level need log_format JSON")
    config: dict[str, Any] = {"logging_format": lambda_.LoggingFormat.JSON if json_logs
                              else lambda_.LoggingFormat.TEXT}
    if application_log_level:
        config["application_log_level_v2"] = lambda_.ApplicationLogLevel[
            application_log_level.upper()]
    if system_log_level:
        config["system_log_level_v2"] = lambda_.SystemLogLevel[system_log_level.upper()]
    return config


class OpsFunction(Construct):
    """The opsfn function, its resources and every trigger its routes declare.

    ``code`` is a prebuilt zip or tree (``opsfn package``); without it the tree is built (and
    cached) by :func:`opsfn.cdk.code.build_package`. ``vpc`` (private subnets with a route to
    CloudFormation's endpoint, for custom resource answers) is needed for any file system.
    ``snap_start`` (SnapStart on the published versions; never with a file system, which Lambda
    refuses), ``reserved_concurrency`` and ``api_access_logs`` are the template's ``SnapStart``,
    ``ReservedConcurrency`` and ``ApiAccessLogs``. The HIPAA-strict choices are options too:
    ``kms_key`` (a customer-managed key for the buckets, tables, queues, log groups and the
    environment), ``server_access_logs`` (a log bucket) and ``table_backups`` (an AWS Backup
    plan), the template's ``KmsKeyArn``, ``ServerAccessLogs`` and ``TableBackups``.
    """

    def __init__(self, scope: Construct, id: str, *, code: str | Path | None = None,
                 architecture: Literal["arm64", "x86_64"] = "arm64", memory_size: int = 2048,
                 timeout: Duration | None = None, log_level: str = "INFO",
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 vpc: ec2.IVpc | None = None, vpc_subnets: ec2.SubnetSelection | None = None,
                 security_groups: Sequence[ec2.ISecurityGroup] | None = None,
                 allowed_origin: str = "*", upload_expiry_days: int = 7,
                 quarantine_expiry_days: int = 30, landing_prefix: str | None = None,
                 action_queue_concurrency: int = 5, alert_email: str | None = None,
                 default_auth: DefaultAuth = "iam", jwt_issuer: str | None = None,
                 jwt_audience: str | None = None, function_url: bool = False,
                 tracing: bool = False, service_name: str = SERVICE,
                 metrics_namespace: str = NAMESPACE,
                 log_format: Literal["JSON", "Text"] = "JSON",
                 application_log_level: str | None = None, system_log_level: str | None = None,
                 log_group: logs.ILogGroup | None = None, app: str | App | None = None,
                 snap_start: bool = False, reserved_concurrency: int | None = None,
                 api_access_logs: bool = False,
                 groups: Mapping[str, RouteGroup] | None = None, kms_key: kms.IKey | None = None,
                 server_access_logs: bool = False, table_backups: bool = False) -> None:
        super().__init__(scope, id)

        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}")
        if reserved_concurrency is not None and reserved_concurrency < 1:
            raise ValueError("reserved_concurrency must be at least 1: 0 throttles every "
                             "invocation (None reserves nothing)")
        self._snap_start = snap_start
        self._vpc = vpc
        self._vpc_subnets = vpc_subnets
        self._features = _Features()
        self.routes: list[Route] = list(_registry_of(app).routes)
        self._split = split_routes(self.routes, {name: {"routes": list(group.routes)}
                                                 for name, group in (groups or {}).items()})
        self.environment: dict[str, str] = {}
        self.arns: dict[str, str] = {}  # settings whose resource's ARN is not made from its name
        quarantine = str(EtlSettings.fields()["quarantine_prefix"].default)
        self.storage: Storage = create_storage(
            self, allowed_origin=allowed_origin, upload_expiry_days=upload_expiry_days,
            quarantine_expiry_days=quarantine_expiry_days, quarantine_prefix=quarantine,
            kms_key=kms_key, server_access_logs=server_access_logs)
        # An existing group (log_group) instead of the function's own, as LogGroupName does.
        self.log_group: logs.ILogGroup = log_group or logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=kms_key)
        self.role = self._create_role(tracing)
        self.routes_role = self._create_routes_role()
        self.export_role = self._create_export_role()
        self.environment.update(self._base_environment(
            log_level, allowed_origin, default_auth, landing_prefix, tracing=tracing,
            service_name=service_name, metrics_namespace=metrics_namespace))
        if self._split.groups:  # the groups' routes are served by their own functions
            self.environment["OPSFN_ROUTES"] = self._split.rest_spec()
        self.tracing = tracing
        self.metric_names = (metrics_namespace, service_name)
        self.function_options: dict[str, Any] = {
            "code": lambda_.Code.from_asset(str(code_path(code, architecture))),
            "handler": HANDLER, "runtime": lambda_.Runtime.PYTHON_3_13,
            "architecture": ARCHITECTURES[architecture], "memory_size": memory_size,
            "timeout": timeout or Duration.seconds(900),
            "tracing": lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.PASS_THROUGH,
            "log_group": self.log_group,
            **logging_config(log_format, application_log_level, system_log_level),
            "snap_start": lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            "environment_encryption": kms_key,
            "vpc": vpc, "vpc_subnets": vpc_subnets,
            "security_groups": list(security_groups) if security_groups else None}
        self.function = lambda_.Function(
            self, "Function", **self.function_options, role=self._immutable_role(vpc is not None),
            description="opsfn - every trigger, typed routes",
            reserved_concurrent_executions=reserved_concurrency)
        self.function.node.add_dependency(self.routes_role.assume)
        self._cfn.environment = lambda_.CfnFunction.EnvironmentProperty(
            variables=Lazy.any(Variables(lambda: self.environment)))
        self.alias = publish_live(self, self.function, self.storage.failed_events.queue_arn)
        routes = self._split.rest
        self.http = HttpRoutes(self, allowed_origin=allowed_origin, default_auth=default_auth,
                               jwt_issuer=jwt_issuer, jwt_audience=jwt_audience)
        self.api: apigw.HttpApi = self.http.api
        self.http.add(self.alias, routes)
        self.api_access_logs: logs.LogGroup | None = log_access(
            self, self.api, retention=log_retention, kms_key=kms_key) if api_access_logs else None
        self.rules = create_rules(self, self.alias, self.storage.failed_events, routes,
                                  self.setting_value)
        self.schedules: dict[str, scheduler.CfnSchedule] = create_schedules(
            self, self.alias, self.storage.schedule_dead_letters, routes,
            function_arn=self.function.function_arn)
        if any(isinstance(r.spec, ActionSpec) and r.spec.queue for r in routes):
            action_queue_mapping(self, self.alias, self.storage.action_queue,
                                 action_queue_concurrency)
        if function_url:  # SigV4-signed callers only
            self.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        if alert_email:
            self.storage.alert_topic.add_subscription(subscriptions.EmailSubscription(alert_email))
        self.alarms = self._create_alarms(self.function.timeout or Duration.seconds(900))
        self.groups = {name: add_group(self, name, group, (groups or {})[name])
                       for name, group in self._split.groups.items()}
        CfnOutput(self, "FunctionName", value=self.function.function_name)
        CfnOutput(self, "FunctionAliasArn", value=self.alias.function_arn)
        CfnOutput(self, "ApiUrl", value=self.api.api_endpoint)
        CfnOutput(self, "ArchiveBucketName", value=self.storage.archive.bucket_name)
        self.backup_plan = self._harden(kms_key, server_access_logs, table_backups)

    def _group_roles(self) -> list[iam.IGrantable]:
        """Each group's function role, routes role and (when it has schedules) scheduler role."""
        found: list[iam.IGrantable] = []
        for name, group in self.groups.items():
            found += [group.role, group.routes_role.role]
            scheduler = self.node.find_child(name).node.try_find_child("SchedulerRole")
            if scheduler is not None:
                found.append(cast(iam.Role, scheduler))
        return found

    def _harden(self, kms_key: kms.IKey | None, server_access_logs: bool,
                table_backups: bool) -> backup.BackupPlan | None:
        """The strict options' remaining parts (key grants, the backup plan), then the answers to
        cdk-nag's packs for the options left off and the construct's own choices."""
        s = self.storage
        if kms_key:  # the schedules' role sends to the encrypted dead-letter queue
            # The routes roles too: a route's session uses the key with its own permissions.
            use_key(kms_key, [self.role, self.routes_role.role,
                              cast(iam.Role, self.node.find_child("SchedulerRole")),
                              *self._group_roles()])
            self.environment["OPSFN_KMS_KEY_ARN"] = kms_key.key_arn
            allow_services(self, kms_key)
        plan = table_backup_plan(self, [s.jobs, s.idempotency, s.locks, s.audit], kms_key) \
            if table_backups else None
        if kms_key and plan:  # the backup role reads the encrypted tables
            use_key(kms_key, [cast(iam.Role, self.node.find_child("TableBackupRole"))])
        acknowledge_iam(self)  # every role and policy here, the route policies' role among them
        acknowledge_choices(self, options_off=[name for name, on in (
            ("kms_key", kms_key), ("server_access_logs", server_access_logs),
            ("table_backups", table_backups)) if not on],
            dead_letter_queues=[s.action_dead_letters, s.failed_events, s.schedule_dead_letters])
        return plan

    # -- the parts every deployment has ----------------------------------------------------------
    def _create_alarms(self, timeout: Duration) -> list[Any]:
        s = self.storage
        namespace, service = self.metric_names
        return create_alarms(
            self, self.function, s.alert_topic, timeout=timeout, metrics_namespace=namespace,
            service_name=service, failure_queues={
                "FailedEventsAlarm": (s.failed_events,
                                      "an event failed after its retries (FailedEventsQueue)"),
                "ActionDeadLetterAlarm": (s.action_dead_letters, "an action work item failed "
                                          "5 times (ActionDeadLetterQueue)"),
                "ScheduleDeadLetterAlarm": (s.schedule_dead_letters, "a schedule could not "
                                            "invoke the function (ScheduleDeadLetterQueue)")})

    def setting_value(self, variable: str) -> str:
        """The value the construct sets for a setting a route's trigger names."""
        value = self.environment.get(variable)
        if not value:
            raise ValueError(f"a route listens to the resource named by {variable}, which the "
                             "construct does not set")
        return value

    @property
    def _cfn(self) -> lambda_.CfnFunction:
        return cast(lambda_.CfnFunction, self.function.node.default_child)

    def _create_role(self, tracing: bool) -> iam.Role:
        """The role: the construct's own policies (logs, the action queue's mapping, the failure
        destination, traces) and the framework's (at synth); the routes' are the routes role's."""
        s = self.storage
        own = {name: iam.PolicyDocument(statements=statements) for name, statements in
               policies.core_policies(self.log_group.log_group_arn, s.action_queue.queue_arn,
                                      s.failed_events.queue_arn, tracing=tracing).items()}
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        inline_policies=own)
        self.arns.update({
            "OPSFN_ACTION_QUEUE": s.action_queue.queue_arn,
            "OPSFN_FAILED_EVENTS_QUEUE": s.failed_events.queue_arn,
            "UPLOAD_BUCKET": s.upload.bucket_arn, "TABLE_NAME": s.jobs.table_arn,
            "LOCK_TABLE": s.locks.table_arn, "AUDIT_TABLE": s.audit.table_arn,
            "IDEMPOTENCY_TABLE": s.idempotency.table_arn, "SYNC_BUCKET": s.archive.bucket_arn,
            "RDS_EXPORT_BUCKET": s.archive.bucket_arn, "LANDING_BUCKET": s.landing.bucket_arn})
        cast(iam.CfnRole, role.node.default_child).add_property_override(
            "Policies", Lazy.any(RoutePolicies(documents(own), grants_by_domain([], FRAMEWORK),
                                               self.environment, self.arns)))
        return role

    def _create_routes_role(self) -> RoutesRole:
        """The role the routes' sessions are of (the domains' policies), the managed session
        policies of oversized domains, and the variables that name them to the function."""
        routes_role = create_routes_role(self, self.role, self._split.rest, self.environment,
                                         self.arns)
        self.session_policies = create_session_policies(self, self.routes, self.environment,
                                                        self.arns)
        self.environment.update(routes_environment(routes_role.role, self.session_policies,
                                                   self._split.rest))
        return routes_role

    def _immutable_role(self, in_vpc: bool) -> iam.IRole:
        """The role as the function sees it: CDK may not add statements to it on its own.

        (``lambda_.Function`` would add grants for what it wires; every statement here is
        explicit.) The VPC managed policy is attached only when the function is in a VPC.
        """
        if in_vpc:
            self.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AWSLambdaVPCAccessExecutionRole"))
        return iam.Role.from_role_arn(self, "FunctionRole", self.role.role_arn, mutable=False)

    def _create_export_role(self) -> iam.Role:
        """The role RDS assumes to write snapshot exports; it can only write under rds-exports/."""
        return iam.Role(
            self, "RdsExportRole",
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal("export.rds.amazonaws.com"),
                {"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}),
            inline_policies={"write-exports": iam.PolicyDocument(
                statements=policies.rds_export_role(self.storage.archive.bucket_arn))})

    def _base_environment(self, log_level: str, allowed_origin: str, default_auth: DefaultAuth,
                          landing_prefix: str | None, *, tracing: bool, service_name: str,
                          metrics_namespace: str) -> dict[str, str]:
        """What the SAM template sets on every deployment; the settings' defaults where it
        takes a parameter (so each variable reads the same in both)."""
        etl, database = EtlSettings.fields(), DatabaseSettings.fields()
        s = self.storage
        return {
            "POWERTOOLS_SERVICE_NAME": service_name, "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
            "OPSFN_TRACING": "true" if tracing else "false",
            "OPSFN_CORS_MAX_AGE": str(CoreSettings.fields()["cors_max_age"].default),
            "OPSFN_ACTION_QUEUE": s.action_queue.queue_url,
            "OPSFN_FAILED_EVENTS_QUEUE": s.failed_events.queue_url,  # permanent failures, parked once
            "OPSFN_CORS_ORIGIN": allowed_origin,
            "OPSFN_DEFAULT_AUTH": default_auth,  # the API's default authorizer, checked again inside
            "UPLOAD_BUCKET": s.upload.bucket_name, "TABLE_NAME": s.jobs.table_name,
            "LOCK_TABLE": s.locks.table_name, "AUDIT_TABLE": s.audit.table_name,
            "IDEMPOTENCY_TABLE": s.idempotency.table_name, "ALERT_TOPIC_ARN": s.alert_topic.topic_arn,
            "SYNC_BUCKET": s.archive.bucket_name, "SYNC_ENGINE": "function",
            "RDS_EXPORT_BUCKET": s.archive.bucket_name, "RDS_EXPORT_ROLE_ARN": self.export_role.role_arn,
            "RDS_EXPORT_SOURCE": "snapshot",
            "LANDING_BUCKET": s.landing.bucket_name,
            "LANDING_PREFIX": str(etl["landing_prefix"].default) if landing_prefix is None
            else landing_prefix,
            "LANDING_JSON_SUFFIXES": str(etl["landing_json_suffixes"].default),
            "LANDING_NDJSON_SUFFIXES": str(etl["landing_ndjson_suffixes"].default),
            **{database[name].env: str(database[name].default) for name in (
                "db_activity_signals", "db_activity_key_name", "db_activity_key_value",
                "db_activity_attribute")},
            "SES_INBOUND_PREFIX": INBOUND_PREFIX,
        }

    def _policy(self, name: str, statements: Sequence[iam.PolicyStatement]) -> iam.Policy:
        """Add statements to the feature policy ``name`` (made on first use, before the function)."""
        policy = self._features.policies.get(name)
        if policy is None:
            policy = iam.Policy(self, f"{name.title().replace('-', '')}Policy", policy_name=name,
                                roles=[self.role])
            self._features.policies[name] = policy
            self.function.node.add_dependency(policy)  # as inline policies are: in place first
        policy.add_statements(*statements)
        return policy

    def enable_schedule(self, name: str) -> None:
        """Switch a schedule on (each exists from the start, DISABLED)."""
        self.schedules[name].state = "ENABLED"

    def _custom_resource(self, id: str, resource_type: str,
                         properties: Mapping[str, Any]) -> CustomResource:
        return CustomResource(self, id, service_token=self.alias.function_arn,
                              resource_type=resource_type, properties=dict(properties))

    def _require_vpc(self, what: str) -> ec2.IVpc:
        if self._vpc is None:
            raise ValueError(f"{what} needs the function in a VPC (give vpc=...)")
        return self._vpc

    def _mount(self, file_system: efs.IFileSystem, access_point: efs.AccessPoint, path: str) -> None:
        """The function's one file system (Lambda mounts at most one, and none with SnapStart)."""
        if self._snap_start:
            raise ValueError("SnapStart does not support EFS: a function with snap_start=True "
                             "mounts no file system (sync one with sync_with_datasync)")
        if self._features.mounted is not None:
            raise ValueError("the function already mounts a file system; a Lambda function mounts "
                             "one (sync another one with sync_with_datasync)")
        self._features.mounted = file_system
        self._cfn.file_system_configs = [lambda_.CfnFunction.FileSystemConfigProperty(
            arn=access_point.access_point_arn, local_mount_path=path)]
        self.function.node.add_dependency(file_system.mount_targets_available)
        file_system.connections.allow_default_port_from(self.function)

    # -- file systems ------------------------------------------------------------------------------
    def mount_efs(self, file_system: efs.IFileSystem) -> efs.AccessPoint:
        """The function's own directory ``/opsfn`` of an EFS at ``/mnt/opsfn`` (uid/gid 1000).

        It is the in-function sync's source (``sync-efs-to-s3`` enabled) and, with
        :meth:`ssl_materials` without a file system, holds ``ssl/``.
        """
        self._require_vpc("mount_efs")
        access_point = efs.AccessPoint(
            self, "EfsAccessPoint", file_system=file_system, path="/opsfn",
            posix_user=efs.PosixUser(uid="1000", gid="1000"),
            create_acl=efs.Acl(owner_uid="1000", owner_gid="1000", permissions="0750"))
        self._mount(file_system, access_point, OWN_MOUNT)
        self._features.own_efs = file_system
        self._policy("efs", policies.mount_through(
            "MountThroughTheAccessPointOnly", file_system.file_system_arn,
            access_point.access_point_arn, as_root=False))
        self.environment["SYNC_SOURCE_DIR"] = OWN_MOUNT
        self.enable_schedule("sync-efs-to-s3")
        return access_point

    def ssl_materials(self, file_system: efs.IFileSystem | None = None, *, uid: int = 0,
                      gid: int = 0, common_name: str = "localhost",
                      subject_alt_names: Sequence[str] = ("localhost",),
                      properties: Mapping[str, Any] | None = None) -> CustomResource:
        """``Custom::SslMaterials`` and ``rotate-ssl-materials`` (every 2 days).

        With ``file_system``: a file system holding only the TLS materials at its root (the
        OpenEMR stack's SSL EFS, which its containers mount at ``/etc/ssl``), mounted at
        ``/mnt/ssl`` through an access point at ``/`` with the owner's ``uid``/``gid`` (0 there);
        uid or gid 0 adds ``elasticfilesystem:ClientRootAccess`` through that access point only.
        Without: ``ssl/`` of the file system given to :meth:`mount_efs`. ``properties`` adds
        other ``SslInput`` properties (``ValidityDays``, ``KeyType``...).
        """
        if file_system is None:
            if self._features.own_efs is None:
                raise ValueError("ssl_materials() without a file system needs mount_efs() first")
            self.environment.update(SSL_DIR=f"{OWN_MOUNT}/ssl", SSL_ACCESS_POINT_UID="1000",
                                    SSL_ACCESS_POINT_GID="1000")
        else:
            self._require_vpc("ssl_materials")
            access_point = efs.AccessPoint(
                self, "SslAccessPoint", file_system=file_system, path="/",
                posix_user=efs.PosixUser(uid=str(uid), gid=str(gid)))
            self._mount(file_system, access_point, SSL_MOUNT)
            self._features.ssl_efs = file_system
            self._policy("ssl-efs", policies.mount_through(
                "MountTheSslFileSystemThroughItsAccessPointOnly", file_system.file_system_arn,
                access_point.access_point_arn, as_root=uid == 0 or gid == 0))
            self.environment.update(SSL_DIR=SSL_MOUNT, SSL_ACCESS_POINT_UID=str(uid),
                                    SSL_ACCESS_POINT_GID=str(gid))
        self.enable_schedule("rotate-ssl-materials")
        return self._custom_resource("SslMaterials", "Custom::SslMaterials", {
            "CommonName": common_name, "SubjectAltNames": list(subject_alt_names),
            **(properties or {})})

    def sync_with_datasync(self, file_system: efs.IFileSystem | None = None, *,
                           subdirectory: str | None = None, subnet: ec2.ISubnet | None = None,
                           security_group: ec2.ISecurityGroup | None = None) -> iam.Role:
        """``SYNC_ENGINE=datasync``: ``sync-efs-to-s3`` starts a DataSync task (created once).

        ``file_system`` defaults to the one given to :meth:`mount_efs` (directory ``/opsfn``);
        another file system (the OpenEMR sites EFS) is copied from ``/`` unless ``subdirectory``
        says otherwise. The SSL file system (it holds the private key) is refused.
        DataSync reaches a mount target through ``subnet`` and ``security_group`` (default: the
        function's first), which the file system is told to accept NFS from. Returns the role
        DataSync assumes (read that file system, write only ``efs/`` of the archive bucket).
        """
        vpc = self._require_vpc("sync_with_datasync")
        source = file_system or self._features.own_efs
        if source is None:
            raise ValueError("sync_with_datasync() needs a file system (or mount_efs() first)")
        if _same(source, self._features.ssl_efs):
            raise ValueError("the SSL file system holds the private key; it is never synced")
        mounted = _same(source, self._features.own_efs)
        subnet = subnet or vpc.select_subnets(**self._subnet_selection()).subnets[0]
        group = security_group or self.function.connections.security_groups[0]
        source.connections.allow_default_port_from(group)
        account = Stack.of(self).account
        role = iam.Role(
            self, "DataSyncRole",
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal("datasync.amazonaws.com"),
                {"StringEquals": {"aws:SourceAccount": account},
                 "ArnLike": {"aws:SourceArn": arns.account_arn("datasync", "*")}}),
            inline_policies={"sync-copy": iam.PolicyDocument(statements=policies.datasync_role(
                self.storage.archive.bucket_arn, source.file_system_arn))})
        if self.storage.kms_key:  # DataSync writes into the encrypted archive bucket
            use_key(self.storage.kms_key, [role])
        if not mounted:
            self.environment.pop("SYNC_SOURCE_DIR", None)  # the walk has nothing to copy then
        self.environment.update(
            SYNC_ENGINE="datasync", SYNC_DATASYNC_EFS_ARN=source.file_system_arn,
            SYNC_DATASYNC_EFS_SUBDIRECTORY=subdirectory or ("/opsfn" if mounted else "/"),
            SYNC_DATASYNC_SUBNET_ARN=arns.subnet(subnet.subnet_id),
            SYNC_DATASYNC_SECURITY_GROUP_ARNS=arns.security_group(group.security_group_id),
            SYNC_DATASYNC_S3_ROLE_ARN=role.role_arn, SYNC_DATASYNC_EFS_ROLE_ARN=role.role_arn)
        self.enable_schedule("sync-efs-to-s3")
        return role

    def _subnet_selection(self) -> dict[str, Any]:
        selection = self._vpc_subnets
        if selection is None:
            return {}
        return {k: v for k, v in {
            "subnet_type": selection.subnet_type, "subnets": selection.subnets,
            "subnet_group_name": selection.subnet_group_name,
            "availability_zones": selection.availability_zones,
            "one_per_az": selection.one_per_az, "subnet_filters": selection.subnet_filters,
        }.items() if v is not None}

    # -- SES ----------------------------------------------------------------------------------------
    def smtp_credential(self, *, source_secret: secretsmanager.ISecret | None = None,
                        target_secret: secretsmanager.ISecret | None = None,
                        source_field: str = "SecretAccessKey", target_field: str | None = None,
                        kms_key: kms.IKey | None = None, user_name: str | None = None,
                        identity_arn: str | None = None,
                        secret_name: str | None = None) -> CustomResource:
        """``Custom::SmtpCredential`` in one of its two variants.

        Derive (the OpenEMR stack's): ``source_secret`` holds an IAM secret access key in
        ``source_field``; the SES SMTP password derived from it goes to ``target_secret`` (into
        ``target_field`` alone when given). The role may read only the source, read and write only
        the target, and use only their KMS key (``kms_key``, default the secrets' own) through
        Secrets Manager.

        User: opsfn creates the IAM user ``user_name``, allowed ``ses:SendRawEmail`` on
        ``identity_arn`` only, and the secret ``secret_name`` (default ``opsfn/<stack>/smtp``;
        the resource's ``SecretArn`` attribute); ``finish-smtp-rotation`` is enabled.
        """
        derive = source_secret is not None or target_secret is not None
        if derive == (user_name is not None):
            raise ValueError("give source_secret and target_secret (derive) or user_name and "
                             "identity_arn (opsfn's own SMTP user), not both")
        keys = [k for k in (kms_key, *(s.encryption_key for s in (source_secret, target_secret)
                                       if s is not None)) if k is not None]
        if derive:
            if source_secret is None or target_secret is None:
                raise ValueError("source_secret and target_secret go together")
            self.environment.update(SES_SMTP_SOURCE_SECRET_ARN=_full_arn(source_secret),
                                    SES_SMTP_TARGET_SECRET_ARN=_full_arn(target_secret))
            self._allow_secrets_keys(keys)
            props: dict[str, Any] = {"SourceSecretId": source_secret.secret_arn,
                                     "SourceSecretKeyField": source_field,
                                     "SecretName": target_secret.secret_arn}
            if target_field is not None:
                props["SecretField"] = target_field
            return self._custom_resource("SmtpDerivedCredential", "Custom::SmtpCredential", props)
        if identity_arn is None or user_name is None:
            raise ValueError("user_name needs identity_arn (the SES identity it may send as)")
        if self._features.smtp_user:
            raise ValueError("smtp_credential(user_name=...) is already configured")
        self._features.smtp_user = True
        name = secret_name or f"opsfn/{Stack.of(self).stack_name}/smtp"
        self._allow_secrets_keys(keys)
        self.environment.update(SES_SMTP_SECRET_ID=name, SES_SMTP_USER_NAME=user_name)
        self.enable_schedule("finish-smtp-rotation")
        return self._custom_resource("SmtpCredential", "Custom::SmtpCredential", {
            "UserName": user_name, "IdentityArn": identity_arn, "SecretName": name})

    def _allow_secrets_keys(self, keys: Sequence[kms.IKey]) -> None:
        """Every KMS key the SMTP secrets use, in the setting that names them."""
        for key in keys:
            if key.key_arn not in self._features.secrets_keys:
                self._features.secrets_keys.append(key.key_arn)
        if self._features.secrets_keys:
            self.environment["SES_SMTP_SECRETS_KMS_KEY_ARN"] = ",".join(self._features.secrets_keys)

    def active_receipt_rule_set(self, rule_set: ses.IReceiptRuleSet | str, *,
                                restore_previous_on_delete: bool = True) -> CustomResource:
        """``Custom::ActiveReceiptRuleSet``: make the set active (the previous one back on Delete).

        It waits for the relay rule of that set (:meth:`inbound_relay`), so no mail arrives at a
        set that would drop it.
        """
        name = _name_of(rule_set)
        self.environment.setdefault("SES_RECEIPT_RULE_SET", name)
        resource = self._custom_resource(
            f"ActiveReceiptRuleSet{len(self._features.rule_set_activations) or ''}",
            "Custom::ActiveReceiptRuleSet",
            {"RuleSetName": name, "RestorePreviousOnDelete": restore_previous_on_delete})
        self._features.rule_set_activations.append((name, resource))
        for set_name, rule in self._features.relay_rules:
            if set_name == name:
                resource.node.add_dependency(rule)
        return resource

    def inbound_relay(self, rule_set: ses.IReceiptRuleSet | str, *, forward_to: Sequence[str],
                      forward_from: str, recipients: Sequence[str] = (),
                      rule_name: str = "opsfn-relay", tls_policy: Literal["Require", "Optional"] =
                      "Require", mail_expiry_days: int = 30,
                      after: str | None = None) -> ses.CfnReceiptRule:
        """The inbound mail relay: a receipt rule that stores each message, then invokes the function.

        The rule (scanning on: the relay reads the spam and virus verdicts) has an S3 action into
        a bucket made here (``inbound/``, expiring after ``mail_expiry_days``; SES may write it for
        this rule only) and then a Lambda action (SES may invoke the function from this rule
        only). The function forwards to ``forward_to`` from the verified ``forward_from``
        (``ses:SendRawEmail`` only as that address).
        """
        if self.environment.get("SES_INBOUND_BUCKET"):
            raise ValueError("inbound_relay() is already configured")
        if not 1 <= len(forward_to) <= 50:
            raise ValueError("forward_to takes 1 to 50 addresses")
        if not Token.is_unresolved(forward_from) and forward_from.count("@") != 1:
            raise ValueError("forward_from must be one address (the verified identity to send as)")
        set_name = _name_of(rule_set)
        rule_arn = arns.receipt_rule(set_name, rule_name)
        account = Stack.of(self).account
        bucket = private_bucket(self, "InboundMailBucket", kms_key=self.storage.kms_key,
                                access_logs=self.storage.access_logs, lifecycle_rules=[s3.LifecycleRule(
            id="expire-received-mail", prefix=INBOUND_PREFIX,
            expiration=Duration.days(mail_expiry_days))])
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="SesStoresMailOfTheRelayRule", principals=[iam.ServicePrincipal("ses.amazonaws.com")],
            actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{INBOUND_PREFIX}*")],
            conditions={"StringEquals": {"aws:SourceAccount": account, "aws:SourceArn": rule_arn}}))
        permission = lambda_.CfnPermission(
            self, "RelayInvokePermission", function_name=self.alias.function_arn,
            action="lambda:InvokeFunction", principal="ses.amazonaws.com", source_account=account,
            source_arn=rule_arn)
        rule = ses.CfnReceiptRule(
            self, "InboundRelayRule", rule_set_name=set_name, after=after,
            rule=ses.CfnReceiptRule.RuleProperty(
                name=rule_name, enabled=True, scan_enabled=True, tls_policy=tls_policy,
                recipients=list(recipients) or None,
                actions=[
                    ses.CfnReceiptRule.ActionProperty(s3_action=ses.CfnReceiptRule.S3ActionProperty(
                        bucket_name=bucket.bucket_name, object_key_prefix=INBOUND_PREFIX)),
                    ses.CfnReceiptRule.ActionProperty(
                        lambda_action=ses.CfnReceiptRule.LambdaActionProperty(
                            function_arn=self.alias.function_arn, invocation_type="Event")),
                ]))
        policy = bucket.policy
        if policy is not None:  # SES checks at rule creation that it may write and invoke
            rule.node.add_dependency(policy)
        rule.node.add_dependency(permission)
        self.arns["SES_INBOUND_BUCKET"] = bucket.bucket_arn
        self.environment.update(SES_INBOUND_BUCKET=bucket.bucket_name,
                                SES_FORWARD_TO=",".join(forward_to), SES_FORWARD_FROM=forward_from)
        self._features.relay_rules.append((set_name, rule))
        for name, activation in self._features.rule_set_activations:
            if name == set_name:
                activation.node.add_dependency(rule)
        CfnOutput(self, "InboundMailBucketName", value=bucket.bucket_name)
        return rule

    # -- exports ------------------------------------------------------------------------------------
    def rds_export(self, *, kms_key: kms.IKey, cluster: rds.IDatabaseCluster | None = None,
                   instance: rds.IDatabaseInstance | None = None,
                   source: Literal["snapshot", "cluster"] = "snapshot") -> None:
        """``export-rds-snapshot`` (04:00 UTC daily) into ``rds-exports/`` of the archive bucket.

        ``source="cluster"`` exports the live ``cluster`` itself (SourceArn = its ARN, as the
        OpenEMR stack's export does); ``"snapshot"`` its newest snapshot, or the ``instance``'s.
        The function may pass only the construct's export role and grant only on ``kms_key``.
        """
        if (cluster is None) == (instance is None):
            raise ValueError("give cluster or instance")
        if source == "cluster" and cluster is None:
            raise ValueError("source='cluster' exports a DB cluster: give cluster")
        self.environment.update(RDS_EXPORT_KMS_KEY_ID=kms_key.key_arn, RDS_EXPORT_SOURCE=source)
        if cluster is not None:
            self.environment.update(RDS_EXPORT_CLUSTER_ID=cluster.cluster_identifier,
                                    RDS_EXPORT_CLUSTER_ARN=arns.db_cluster(cluster.cluster_identifier))
        if instance is not None:
            self.environment["RDS_EXPORT_INSTANCE_ID"] = instance.instance_identifier
        self.enable_schedule("export-rds-snapshot")


def _same(file_system: efs.IFileSystem, other: efs.IFileSystem | None) -> bool:
    return other is not None and file_system.file_system_id == other.file_system_id


def _full_arn(secret: secretsmanager.ISecret) -> str:
    """The secret's ARN with its suffix; a secret imported by name matches any suffix."""
    return secret.secret_full_arn or f"{secret.secret_arn}-??????"
