"""Pure rules of the incident actions without AWS: ladders, SNS subjects, secrets."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsfn.routes.incidents import cache_flush, ladders, notices
from opsfn.routes.incidents.models import IncidentRequest
from opsfn.services import alerts

LADDER = ["s", "m", "l", "xl"]
STEPS = {"low": 1, "medium": 1, "high": 1, "critical": 2}


@pytest.mark.parametrize(("current", "priority", "after"), [
    ("s", "low", "m"), ("s", "critical", "l"), ("l", "critical", "xl"), ("xl", "high", "xl")])
def test_ladder_climbs_and_stops_at_the_top(current: str, priority: str, after: str) -> None:
    step = ladders.next_on_ladder(current, LADDER, STEPS, priority)  # type: ignore[arg-type]
    assert step.after == after and step.changed == (current != after)


def test_off_ladder_is_refused() -> None:
    with pytest.raises(ladders.OffLadder):
        ladders.next_on_ladder("xxl", LADDER, STEPS, "high")


@given(current=st.integers(0, 50), goal=st.integers(0, 50), maximum=st.integers(1, 50))
def test_desired_count_never_goes_down_and_respects_the_cap(current: int, goal: int,
                                                            maximum: int) -> None:
    step = ladders.desired_count(current, {"high": goal}, "high", maximum)
    assert step.after >= current  # type: ignore[operator]
    assert step.after == current or step.after <= maximum  # type: ignore[operator]


def test_replicas_capped() -> None:
    assert ladders.replica_count(4, "critical", STEPS, 5).after == 5
    assert ladders.replica_count(5, "critical", STEPS, 3).after == 5  # never fewer


@given(st.text(max_size=300))
def test_subjects_are_always_acceptable_to_sns(text: str) -> None:
    subject = alerts.clean_subject(text)
    assert 0 < len(subject) < 100
    assert subject.isascii() and all(ch in string.printable and ch not in "\t\n\r\x0b\x0c"
                                      for ch in subject)
    assert subject[0].isalnum() or subject[0] in string.punctuation


def test_incident_subject_and_message() -> None:
    request = IncidentRequest.model_validate({
        "target": "api", "incidentId": "inc-7", "priority": "medium",
        "incidentDetails": {"title": "Latency\r\nspike"}})
    assert notices.incident_subject(request) == "[MEDIUM] Incident inc-7: Latency spike"
    assert "Description: (no description provided)" in notices.incident_message(request)


@pytest.mark.parametrize(("secret", "password", "username"), [
    ("plain-pass", "plain-pass", None),
    ('{"password": "p1"}', "p1", None),
    ('{"auth_token": "p2", "username": "app"}', "p2", "app"),
    ('{"authToken": "p3"}', "p3", None),
])
def test_parse_secret(secret: str, password: str, username: str | None) -> None:
    assert cache_flush.parse_secret(secret) == cache_flush.Credentials(password, username)


@pytest.mark.parametrize("secret", ["", "   ", "{", '{"user": "x"}', '{"password": 5}'])
def test_parse_secret_rejects(secret: str) -> None:
    assert cache_flush.parse_secret(secret) is None
