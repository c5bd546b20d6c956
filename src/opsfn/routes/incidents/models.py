"""The incident payload the incident backend sends, and the priorities it uses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["low", "medium", "high", "critical"]
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high", "critical")


class IncidentDetails(BaseModel):
    """What a human reads about the incident; both parts may be missing."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    title: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=20_000)


class IncidentRequest(BaseModel):
    """``{"action", "target", "incidentId", "priority", "incidentDetails"?}`` (action is the route).

    ``target`` may be null (or left out) for actions that act on no target (``notify_human``,
    ``none``); the actions that need one say so naming ``payload.target`` and the valid names.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    target: str | None = Field(default=None, min_length=1, max_length=128,
                               description="A configured target name (INCIDENT_TARGETS); null "
                                           "for notify_human and none.")
    incident_id: str = Field(alias="incidentId", min_length=1, max_length=128,
                             pattern=r"^[A-Za-z0-9._:@/+=-]+$")
    priority: Priority
    incident_details: IncidentDetails | None = Field(default=None, alias="incidentDetails")
    dry_run: bool = Field(default=False, alias="dryRun")
