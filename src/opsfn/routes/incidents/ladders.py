"""Pure sizing decisions: how far up a ladder, how many tasks or replicas, for a priority.

Every function only ever moves up (or stays): an incident never shrinks what is running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from opsfn.routes.incidents.models import Priority

Size = TypeVar("Size", str, int)  # an instance class name or a count


class OffLadder(ValueError):
    """The current size is not on the configured ladder, so "up" has no meaning."""


@dataclass(frozen=True, slots=True)
class Step(Generic[Size]):
    """A before/after pair; ``changed`` is False when already at the top or above the goal."""

    before: Size
    after: Size

    @property
    def changed(self) -> bool:
        """Whether anything needs to be applied."""
        return self.before != self.after


def next_on_ladder(current: str, ladder: Sequence[str], steps: Mapping[Priority, int],
                   priority: Priority) -> Step[str]:
    """``current`` moved ``steps[priority]`` rungs up ``ladder``, stopping at the top rung."""
    if current not in ladder:
        raise OffLadder(current)
    index = ladder.index(current)
    climb = max(0, steps.get(priority, 1))
    return Step(current, ladder[min(len(ladder) - 1, index + climb)])


def desired_count(current: int, by_priority: Mapping[Priority, int], priority: Priority,
                  maximum: int) -> Step[int]:
    """The priority's task count, capped at ``maximum``, never below ``current``."""
    goal = min(by_priority.get(priority, current), maximum)
    return Step(current, max(current, goal))


def replica_count(current: int, priority: Priority, steps: Mapping[Priority, int],
                  maximum: int) -> Step[int]:
    """``current`` replicas plus ``steps[priority]``, capped at ``maximum``, never fewer."""
    goal = min(current + max(0, steps.get(priority, 1)), maximum)
    return Step(current, max(current, goal))
