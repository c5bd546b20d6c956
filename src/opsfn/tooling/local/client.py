"""``opsfn invoke ACTION --local``: send an action to the running local stack."""

from __future__ import annotations

import json
import sys
import urllib.error
from typing import Any


def post_json(url: str, payload: Any, timeout: float = 900.0) -> Any:
    """POST JSON to the local stack and return the decoded reply."""
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - a URL the user gave for the local stack
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
        return json.loads(reply.read() or b"null")


def print_reply(reply: Any) -> int:
    """Print a ``{"ok", "result"|"error"}`` reply like the in-process path; exit status."""
    if isinstance(reply, dict) and reply.get("ok"):
        sys.stdout.write(json.dumps(reply.get("result"), indent=2, default=str) + "\n")
        return 0
    error = reply.get("error") if isinstance(reply, dict) else None
    error = error if isinstance(error, dict) else {}
    sys.stderr.write(f"error: {error.get('errorType', 'Error')}: {error.get('errorMessage', '')}\n")
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            sys.stderr.write(f"  {detail.get('loc')}: {detail.get('msg')}\n")
    return 1


def invoke_local(event: dict[str, Any], base_url: str) -> int:
    """Invoke ``event`` on the local stack at ``base_url``; prints the result or typed error."""
    try:
        reply = post_json(base_url.rstrip("/") + "/_local/invoke", event)
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"error: no local stack at {base_url} ({exc}); start it with "
                         "`opsfn local`\n")
        return 1
    return print_reply(reply)


def fire_local(name: str, base_url: str) -> int:
    """Fire the schedule ``name`` on the local stack."""
    try:
        reply = post_json(f"{base_url.rstrip('/')}/_local/schedules/{name}", {})
    except urllib.error.HTTPError as exc:
        return print_reply(json.loads(exc.read() or b"null"))
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"error: no local stack at {base_url} ({exc})\n")
        return 1
    return print_reply(reply)
