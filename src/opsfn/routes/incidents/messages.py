"""The one sentence each successful incident reply carries in ``message``: what was done to what.

The incident backend shows ``message`` to a person, so it names the target and the change in
words; the typed fields beside it stay the machine-readable record.
"""

from __future__ import annotations

from typing import Any

_RESOURCES = {
    "ecs_service": "ECS service",
    "rds_instance": "RDS instance",
    "elasticache_replication_group": "ElastiCache replication group",
}
_SIZES = {
    "desiredCount": "desired task count",
    "instanceClass": "instance class",
    "cacheNodeType": "node type",
    "replicasPerShard": "replicas per shard",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _restart(target: str, outcome: dict[str, Any]) -> str:
    if "rebooted" in outcome:
        instances = list(outcome["rebooted"])
        return (f"Rebooted {_plural(len(instances), 'EC2 instance')} of target {target} "
                f"({', '.join(instances)}).")
    return (f"Restarted ECS service {outcome.get('service')} in cluster {outcome.get('cluster')} "
            f"for target {target} with a new deployment.")


def _scale(target: str, outcome: dict[str, Any]) -> str:
    before, after = dict(outcome.get("before") or {}), dict(outcome.get("after") or {})
    field = next(iter(after), "size")
    label = _SIZES.get(field, field)
    what = _RESOURCES.get(str(outcome.get("resource")), "resource")
    name = outcome.get("service") or outcome.get("instance") or outcome.get("group")
    where = f"{what} {name}" if name else what
    if not outcome.get("changed"):
        return f"Target {target} ({where}) is already at {label} {after.get(field)}; nothing was changed."
    return (f"Scaled up target {target} ({where}): {label} {before.get(field)} to "
            f"{after.get(field)}.")


def _clear(target: str, outcome: dict[str, Any]) -> str:
    dry = bool(outcome.get("dryRun"))
    if outcome.get("strategy") == "reboot":
        clusters = _plural(len(outcome.get("clusters") or []), "cache cluster")
        if dry:
            return f"Dry run: clearing target {target} would reboot {clusters}; nothing was rebooted."
        return f"Rebooted {clusters} of target {target} to clear its cache."
    if dry:
        return (f"Dry run: the Redis cache of target {target} holds "
                f"{_plural(int(outcome.get('keys') or 0), 'key')}; nothing was flushed.")
    removed = int((outcome.get("before") or {}).get("keys") or 0)
    scope = "database" if outcome.get("strategy") == "flushdb" else "cache"
    return f"Flushed the Redis {scope} of target {target} ({_plural(removed, 'key')} removed)."


def describe(action: str, incident_id: str, priority: str, target: str | None,
             outcome: dict[str, Any]) -> str:
    """The sentence for ``action``'s ``outcome`` on ``target`` (None: no target)."""
    if action == "none":
        return f"No action was taken for incident {incident_id}: the requested action was none."
    if action == "notify_human":
        about = f" about target {target}" if target else ""
        return (f"Notified the on-call humans of incident {incident_id} ({priority} priority)"
                f"{about}.")
    name = target or "(none)"
    if action == "restart_service":
        return _restart(name, outcome)
    if action == "scale_up":
        return _scale(name, outcome)
    if action == "clear_cache":
        return _clear(name, outcome)
    return f"Ran {action} on target {name}."
