"""The HTTP API (payload 2.0): one route per HTTP route of the registry, each with the
authorization it declares.

Routes whose auth is ``default`` take the API's default authorizer (IAM, or JWT with
``default_auth="jwt"``), which the function checks again against ``OPSFN_DEFAULT_AUTH``.
"""

from __future__ import annotations

from typing import Literal, cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk.aws_apigatewayv2_authorizers import HttpIamAuthorizer, HttpJwtAuthorizer
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from opsfn.core.router import HttpSpec, Route

DefaultAuth = Literal["iam", "jwt"]
# what the image page sends, and what a signed (SigV4) or JWT caller adds
CORS_HEADERS = ("content-type", "authorization", "x-amz-date", "x-amz-security-token", "x-api-key")


def _jwt_authorizer(scope: Construct, issuer: str | None,
                    audience: str | None) -> HttpJwtAuthorizer:
    """A JWT authorizer for ``issuer``; without one, for a Cognito user pool made here."""
    if issuer is None:
        pool = cognito.UserPool(
            scope, "UserPool", self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.OPTIONAL, mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            password_policy=cognito.PasswordPolicy(min_length=12, require_lowercase=True,
                                                   require_uppercase=True, require_digits=True,
                                                   require_symbols=True))
        client = pool.add_client("UserPoolClient", generate_secret=False,
                                 auth_flows=cognito.AuthFlow(user_srp=True))
        issuer = f"https://cognito-idp.{Stack.of(scope).region}.amazonaws.com/{pool.user_pool_id}"
        audience = client.user_pool_client_id
    if audience is None:
        raise ValueError("jwt_audience is required with jwt_issuer")
    return HttpJwtAuthorizer("JwtAuthorizer", issuer, jwt_audience=[audience],
                             identity_source=["$request.header.Authorization"])


class HttpRoutes:
    """The API, its CORS rules and throttling, and the routes added to it: one per HTTP route,
    each with the authorizer it declares (made once and shared by every function's routes)."""

    def __init__(self, scope: Construct, *, allowed_origin: str, default_auth: DefaultAuth,
                 jwt_issuer: str | None, jwt_audience: str | None) -> None:
        self._scope = scope
        self._jwt = (jwt_issuer, jwt_audience)
        self._made: dict[str, apigw.IHttpRouteAuthorizer] = {}
        self.api = apigw.HttpApi(
            scope, "HttpApi", default_authorizer=self.authorizer_for(default_auth),
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=allowed_origin.split(","),  # one origin, *, or a comma-separated list
                allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST,
                               apigw.CorsHttpMethod.OPTIONS],
                allow_headers=list(CORS_HEADERS), max_age=Duration.seconds(600)))
        stage = self.api.default_stage
        if stage is not None:
            cast(apigw.CfnStage, stage.node.default_child).add_property_override(
                "DefaultRouteSettings", {"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 20})

    def authorizer_for(self, auth: str) -> apigw.IHttpRouteAuthorizer:
        """The authorizer of an auth mode (``public`` admits anyone)."""
        if auth not in self._made:
            self._made[auth] = (
                apigw.HttpNoneAuthorizer() if auth == "public" else HttpIamAuthorizer()
                if auth == "iam" else _jwt_authorizer(self._scope, *self._jwt))
        return self._made[auth]

    def add(self, function: lambda_.IFunction, routes: list[Route],
            integration_id: str = "OpsFunction") -> None:
        """A route to ``function`` for each HTTP route of ``routes``."""
        integration = HttpLambdaIntegration(integration_id, function)
        for route in routes:
            spec = route.spec
            if isinstance(spec, HttpSpec):
                self.api.add_routes(
                    path=spec.path, methods=[apigw.HttpMethod(spec.method)],
                    integration=integration,
                    authorizer=None if spec.auth == "default" else self.authorizer_for(spec.auth))
