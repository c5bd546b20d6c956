"""The long fuzz run: the properties of tests/hardening/test_fuzz_routes.py with many more examples.

    python bench/fuzz.py [--examples N] [--seconds S] [--seed SEED] [--only TEXT]

Every event kind (mutated and wrapped) and every route of the real app (inputs from its model,
through its own source) is a target. Each target gets up to ``--examples`` events and an equal
share of ``--seconds``. Runs against moto in process. Prints, per target, the events tried, the
failures found and the most common outcomes, then a few failing events; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "CRITICAL",
})
os.environ.pop("AWS_ENDPOINT_URL", None)


class OutOfTime(BaseException):
    """Ends a target's run when its share of the time is used (not an Exception: Hypothesis
    lets it through instead of treating it as a failure)."""


@dataclass
class Target:
    """One thing to fuzz and what happened to it."""

    name: str
    strategy: Any
    tried: int = 0
    failures: list[tuple[list[str], str]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


def targets(app: Any, env: dict[str, str]) -> list[Target]:
    """Every event kind and every route of ``app``."""
    from tests.hardening import fuzz_strategies as fz

    from opsfn.events import KINDS

    names = fz.Names.from_app(app, env)
    found = [Target(f"kind {kind}", fz.any_event(names, kinds=(kind,))) for kind in KINDS]
    found += [Target(f"route {route.label}", fz.route_events(route, env))
              for route in app.registry.routes]
    return found


def run_target(target: Target, harness: Any, examples: int, seconds: float, seed: int) -> None:
    """Feed up to ``examples`` events of ``target`` to the harness, for at most ``seconds``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seed_with
    from tests.hardening import fuzz_strategies as fz

    stop_at = time.monotonic() + seconds

    @seed_with(seed)
    @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(target.strategy)
    def fuzz(case: Any) -> None:
        if time.monotonic() > stop_at:
            raise OutOfTime
        if isinstance(case, fz.Case):
            harness.store(case.objects)
            label, event = case.how, case.event
        else:
            label, event = case
        problems = harness.run(event)
        target.tried += 1
        target.outcomes[f"{label}: {harness.outcome}"] += 1
        if problems:
            target.failures.append((problems, fz.describe(event)))

    try:
        fuzz()
    except OutOfTime:
        pass


def main(argv: list[str] | None = None) -> int:
    """Run every target; print the table; 1 if anything failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="events per target at most")
    parser.add_argument("--seconds", type=float, default=600.0, help="time for the whole run")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="Hypothesis seed")
    parser.add_argument("--only", default="", help="only targets whose name contains this")
    args = parser.parse_args(argv)

    from moto import mock_aws
    from tests.hardening import fuzz_strategies as fz

    from opsfn.handler import app
    from opsfn.services import aws

    started = time.monotonic()
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        aws.reset()
        env = fz.build_world(Path(tmp))
        os.environ.update(env)
        chosen = [tg for tg in targets(app, env) if args.only in tg.name]
        share = args.seconds / max(len(chosen), 1)
        print(f"fuzzing {len(chosen)} targets, up to {args.examples} events and {share:.1f} s "
              f"each, seed {args.seed}")
        with fz.Harness(app) as harness:
            for target in chosen:
                run_target(target, harness, args.examples, share, args.seed)
                common = ", ".join(f"{k} {v}" for k, v in target.outcomes.most_common(3))
                print(f"{target.name:<58} tried {target.tried:>6}  failures "
                      f"{len(target.failures):>4}  | {common}", flush=True)
    tried = sum(tg.tried for tg in chosen)
    failed = [tg for tg in chosen if tg.failures]
    print(f"\n{tried} events tried in {time.monotonic() - started:.0f} s, "
          f"{sum(len(tg.failures) for tg in chosen)} failures in {len(failed)} targets")
    for target in failed:
        seen: set[tuple[str, ...]] = set()
        for problems, event in target.failures:
            if tuple(problems) in seen or len(seen) >= 3:
                continue
            seen.add(tuple(problems))
            print(f"\n{target.name}: {problems}\n  event: {event}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
