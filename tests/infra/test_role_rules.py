"""``opsfn infra check``: a function's routes role is one its role may assume and that trusts it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from opsfn.handler import app as builtin_app
from opsfn.tooling.generate.template import generate
from opsfn.tooling.ops_rules import Checker
from opsfn.tooling.template_reader import parse_yaml

BASE = Path(__file__).resolve().parents[2] / "infra" / "base.yaml"


@pytest.fixture(scope="module")
def split() -> dict[str, Any]:
    return generate(builtin_app, parse_yaml(BASE.read_text()),
                    groups={"ImagingFunction": {"routes": ["imaging"]}})


def test_the_check_wants_the_routes_role_assumable_and_trusting(
        split: dict[str, Any]) -> None:
    assert [p for p in Checker(builtin_app, split).run() if "routes role" in p] == []
    broken = copy.deepcopy(split)
    del broken["Resources"]["AssumeRoutesRole"]
    broken["Resources"]["ImagingFunctionRoutesRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
    problems = [p for p in Checker(builtin_app, broken).run() if "routes role" in p]
    assert problems == [
        "function ImagingFunction: the routes role ImagingFunctionRoutesRole does not trust its "
        "role ImagingFunctionRole (AssumeRolePolicyDocument)",
        "function OpsFunction: its role OpsFunctionRole may not sts:AssumeRole the routes role "
        "RoutesRole its OPSFN_ROUTES_ROLE_ARN names"]
