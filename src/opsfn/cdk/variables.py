"""A function's environment variables, read at synth time (the construct's and each group's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import IStableAnyProducer


@jsii.implements(IStableAnyProducer)
class Variables:
    """The environment, read at synth time: helpers may still add (or drop) variables."""

    def __init__(self, variables: Callable[[], dict[str, str]]) -> None:
        self._variables = variables

    def produce(self) -> Any:
        return dict(sorted(self._variables().items()))
