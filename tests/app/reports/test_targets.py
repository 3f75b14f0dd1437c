"""Quarterly targets per team and area cluster, and progress against them, on a real server."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from app.reports.targets import quarter_days, quarter_of
from tests.conftest import Live, problem
from tests.support import builders

TARGETS = "/api/v1/reports/targets"


def test_quarters() -> None:
    assert quarter_days("2026-Q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarter_days("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_of(date(2026, 12, 7)) == "2026-Q4"
    assert quarter_of(date(2027, 4, 1)) == "2027-Q2"


def test_progress_against_targets_with_suppression_and_off_flow_not_yet_measured(
    live: Live,
) -> None:
    admin = live.as_role("admin")
    keyworker = live.as_role("peer_keyworker")
    cluster = f"Targets cluster {uuid.uuid4().hex[:6]}"
    big = builders.new_team(live, f"Targets A {cluster}", cluster, members=[keyworker.user["id"]])
    small = builders.new_team(live, f"Targets B {cluster}", cluster, members=[keyworker.user["id"]])
    for n in range(4):
        builders.new_client(keyworker, f"Target client A{n}", team_id=big)
    for n in range(2):
        builders.new_client(keyworker, f"Target client B{n}", team_id=small)
    quarter = quarter_of(builders.today())

    def put(scope: str, scope_id: str, measure: str, target: object) -> Any:
        return admin.put(
            TARGETS,
            json={
                "scope": scope,
                "scope_id": scope_id,
                "quarter": quarter,
                "measure": measure,
                "target": target,
            },
        )

    set_ = put("team", big, "referrals", 10)
    assert set_.status_code == 200, set_.text
    assert put("team", big, "off_flow", 3).status_code == 200
    assert put("team", big, "referrals", 12).status_code == 200
    report = admin.get(TARGETS, params={"scope": "team", "scope_id": big, "quarter": quarter})
    assert report.status_code == 200, report.text
    by = {p["measure"]: p for p in report.json()["progress"]}
    assert (by["referrals"]["target"], by["referrals"]["actual"]) == (12, 4)  # replaced
    assert by["referrals"]["status"] == "measured"
    assert (by["job_entries"]["target"], by["job_entries"]["actual"]) == (None, 0)
    assert by["off_flow"] == {**by["off_flow"], "target": 3, "actual": None}
    assert by["off_flow"]["status"] == "not_yet_measured"

    small_report = admin.get(
        TARGETS, params={"scope": "team", "scope_id": small, "quarter": quarter}
    ).json()
    referrals = next(p for p in small_report["progress"] if p["measure"] == "referrals")
    assert referrals["actual"] is None and referrals["status"] == "suppressed"  # 2 withheld

    assert put("area_cluster", cluster, "job_entries", 5).status_code == 200
    whole = admin.get(
        TARGETS, params={"scope": "area_cluster", "scope_id": cluster, "quarter": quarter}
    ).json()
    assert next(p for p in whole["progress"] if p["measure"] == "referrals")["actual"] == 6


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"quarter": "2026-Q5"}, 422),
        ({"quarter": "Q4-2026"}, 422),
        ({"target": -1}, 422),
        ({"target": "10"}, 422),
        ({"target": 100_001}, 422),
        ({"measure": "happiness"}, 422),
        ({"scope": "organisation"}, 422),
    ],
)
def test_bad_targets_are_problems(live: Live, change: dict[str, object], status: int) -> None:
    admin = live.as_role("admin")
    team = builders.demo_team_id(admin)
    body = {"scope": "team", "scope_id": team, "quarter": "2026-Q4", "measure": "referrals"}
    body["target"] = 100_000
    assert admin.put(TARGETS, json=body).status_code == 200  # the edge is allowed
    assert problem(admin.put(TARGETS, json={**body, **change}), status)


def test_clinical_staff_and_clients_set_no_targets(live: Live) -> None:
    team = builders.demo_team_id(live.as_role("admin"))
    body = {
        "scope": "team",
        "scope_id": team,
        "quarter": "2026-Q4",
        "measure": "referrals",
        "target": 5,
    }
    for role in ("peer_keyworker", "therapist", "client"):
        assert problem(live.as_role(role).put(TARGETS, json=body), 403), role
