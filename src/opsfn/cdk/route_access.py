"""The role's route policies, made at synth time from the routes' ``access=`` declarations.

The construct's helpers set the variables a feature needs (the relay's bucket, the export's key);
when the template is synthesized, each domain's grants are resolved against those variables, the
ARNs the construct knows and the stack's partition, region and account. A grant whose settings are
not set is left out, as the SAM template leaves it out under its condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsii
from aws_cdk import Aws, Fn, IStableAnyProducer, Token
from aws_cdk import aws_iam as iam

from opsfn.core.access import Grant
from opsfn.core.access_policy import Resolver, statements
from opsfn.core.settings import setting_default

PSEUDO = {"partition": Aws.PARTITION, "region": Aws.REGION, "account": Aws.ACCOUNT_ID}


def _domain(address: str) -> str:
    """The domain of an address, also of one known only at deploy time."""
    if Token.is_unresolved(address):
        return Fn.select(1, Fn.split("@", address))
    return address.rsplit("@", 1)[1]


def synth_resolver(values: Mapping[str, str], arns: Mapping[str, str]) -> Resolver:
    """Declarations resolved against the construct's variables and ARNs, as they are at synth."""
    return Resolver(lambda name: values.get(name) or None, PSEUDO, arns.get, {"domain": _domain},
                    setting_default)


@jsii.implements(IStableAnyProducer)
class RoutePolicies:
    """The role's inline policies: the construct's own, then one per domain of routes."""

    def __init__(self, own: Callable[[], list[dict[str, Any]]], domains: dict[str, list[Grant]],
                 values: Mapping[str, str], arns: Mapping[str, str]) -> None:
        self._own = own
        self._domains = domains
        self._values = values
        self._arns = arns

    def produce(self) -> Any:
        resolver = synth_resolver(self._values, self._arns)
        policies = self._own()
        for domain, grants in self._domains.items():
            found = statements(grants, resolver)
            if found:
                policies.append({"PolicyName": domain, "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": found}})
        return policies


def documents(inline: Mapping[str, iam.PolicyDocument]) -> Callable[[], list[dict[str, Any]]]:
    """The construct's own inline policies as CloudFormation writes them."""
    def render() -> list[dict[str, Any]]:
        return [{"PolicyName": name, "PolicyDocument": document.to_json()}
                for name, document in inline.items()]
    return render
