"""opsfn in a CDK app: ``OpsFunction(scope, id, ...)`` (``pip install 'opsfn[cdk]'``).

Like :mod:`opsfn.tooling`, this runs on the deployer's machine, never in Lambda: ``opsfn package``
leaves it out of the zip (aws-cdk-lib is not there). See docs/openemr.md for a whole stack and
infra/cdk/app.py for an app that synthesizes one. The construct's triggers and IAM come from an
app's route registry (``app="module:attribute"``, the built-in routes by default). The construct
is imported on first use, so :mod:`opsfn.cdk.code` (the package build) works without aws-cdk-lib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsfn.lazy import attributes

if TYPE_CHECKING:
    from opsfn.cdk.code import build_package
    from opsfn.cdk.construct import OpsFunction
    from opsfn.cdk.groups import RouteGroup

__all__ = ["OpsFunction", "RouteGroup", "build_package"]

__getattr__, __dir__ = attributes(globals(), {
    "OpsFunction": "opsfn.cdk.construct:OpsFunction", "RouteGroup": "opsfn.cdk.groups:RouteGroup",
    "build_package": "opsfn.cdk.code:build_package"})
