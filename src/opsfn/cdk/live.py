"""The ``live`` alias: each deploy that changes the function publishes a version behind it, and
every trigger invokes it (the SAM template's AutoPublishAlias, SnapStart applies to versions)."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ALIAS = "live"  # the SAM template's AutoPublishAlias


def publish_live(scope: Construct, function: lambda_.Function, failure_destination: str
                 ) -> lambda_.Alias:
    """The alias on the function's current version, with the asynchronous invocations' retries
    and their failure destination (the template's EventInvokeConfig)."""
    alias = lambda_.Alias(scope, "LiveAlias", alias_name=ALIAS, version=function.current_version)
    invoke_config = lambda_.CfnEventInvokeConfig(
        scope, "EventInvokeConfig", function_name=function.function_name, qualifier=ALIAS,
        maximum_retry_attempts=2, maximum_event_age_in_seconds=21600,
        destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
            on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                destination=failure_destination)))
    invoke_config.node.add_dependency(alias)  # the qualifier must exist first
    return alias
