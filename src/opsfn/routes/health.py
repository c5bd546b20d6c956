"""Health: version, routes per source and the cold-start flag, by action and by ``GET /health``."""

from __future__ import annotations

from typing import Any

from opsfn import Context, Router, __version__

router = Router()

def health_report(context: Context) -> dict[str, Any]:
    """What the function serves, without touching AWS."""
    return {"status": "ok", "version": __version__, "cold_start": context.cold_start,
            **context.served()}


@router.action("health", description="Version, route counts per source, cold-start flag.")
def health_action(context: Context) -> dict[str, Any]:
    """The health report for direct invokes."""
    return health_report(context)


@router.get("/health", auth="public")
def health_http(context: Context) -> dict[str, Any]:
    """The health report over HTTP."""
    return health_report(context)
