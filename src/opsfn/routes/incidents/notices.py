"""The notice a human receives for ``notify_human``: subject and body, cleaned for SNS."""

from __future__ import annotations

from opsfn.routes.incidents.models import IncidentRequest
from opsfn.services.alerts import clean_message, clean_subject


def incident_subject(request: IncidentRequest) -> str:
    """``[CRITICAL] Incident <id>: <title>``, cleaned for SNS."""
    title = request.incident_details.title if request.incident_details else None
    head = f"[{request.priority.upper()}] Incident {request.incident_id}"
    return clean_subject(f"{head}: {title}" if title else f"{head} requires attention")


def incident_message(request: IncidentRequest) -> str:
    """The notice body; missing details are said to be missing rather than printed as None."""
    details = request.incident_details
    title = details.title if details and details.title else "(no title provided)"
    description = (details.description if details and details.description
                   else "(no description provided)")
    return clean_message(
        "INCIDENT ALERT\n\n"
        f"Incident ID: {request.incident_id}\n"
        f"Priority: {request.priority}\n"
        f"Target: {request.target or '(none)'}\n\n"
        f"Title: {title}\n"
        f"Description: {description}\n\n"
        "This incident requires human attention. "
        "Please review it in the incident management system."
    )
