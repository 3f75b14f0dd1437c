"""Quarterly targets per team and area cluster, and progress against them, on a real server."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
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


def test_progress_against_targets_with_suppression(live: Live) -> None:
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
    assert by["off_flow"] == {**by["off_flow"], "target": 3, "actual": 0}  # no benefit history
    assert by["off_flow"]["status"] == "measured"

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


def _claim(by: Any, client_id: str, benefit: str, start: date, end: date | None) -> None:
    details = {
        "esa": {"esa_group": "work_related_activity"},
        "universal_credit": {"uc_regime": "intensive_work_search"},
        "working_enough": {"uc_regime": "working_enough"},
    }.get(benefit, {})
    body = {
        "benefit": "universal_credit" if benefit == "working_enough" else benefit,
        **details,
        "started_on": start.isoformat(),
        "ended_on": end.isoformat() if end else None,
        "source": "verified",
    }
    added = by.post(f"/api/v1/clients/{client_id}/benefits/claims", json=body)
    assert added.status_code == 201, added.text


def test_off_flow_progress_counts_confirmed_off_flows_in_the_quarter(live: Live) -> None:
    """Off-flow progress over the last whole quarter (so every day of it is past), from hand-built
    histories under the 28-day restart window: an off-flow counts when it is dated in the
    quarter and 28 days passed by the quarter's end with no new out-of-work claim."""
    admin = live.as_role("admin")
    keyworker = live.as_role("peer_keyworker")
    cluster = f"Off-flow cluster {uuid.uuid4().hex[:6]}"
    team = builders.new_team(live, f"Off-flow A {cluster}", cluster, members=[keyworker.user["id"]])
    lone = builders.new_team(live, f"Off-flow B {cluster}", cluster, members=[keyworker.user["id"]])
    quarter = quarter_of(quarter_days(quarter_of(builders.today()))[0] - timedelta(days=1))
    first, last = quarter_days(quarter)  # at least 90 days apart

    def day(n: int) -> date:
        return first + timedelta(days=n)

    histories: dict[str, list[tuple[str, date, date | None]]] = {
        # Counted: ESA ends on day 10, confirmed on day 38.
        "ended": [("esa", day(-200), day(10))],
        # Counted: Universal Credit (searching for work) ends on day 20.
        "uc": [("universal_credit", day(-100), day(20))],
        # Counted once: two spells, off-flows on days 1 and 50 (confirmed on day 78).
        "twice": [("esa", day(-50), day(1)), ("jsa", day(40), day(50))],
        # Counted: ends on day 60, confirmed on day 88, before the quarter's last day (>= 89).
        "late": [("jsa", day(-30), day(60))],
        # Not counted: ends on day 5 and restarts 10 days later (within the window): one spell.
        "restart": [("jsa", day(-60), day(5)), ("esa", day(15), None)],
        # Not counted: ends 10 days before the quarter's end, still pending at it.
        "pending": [("esa", day(-60), last - timedelta(days=10))],
        # Not counted: PIP and Universal Credit while working enough are not out-of-work.
        "pip": [("pip", day(-60), day(10))],
        "working": [("working_enough", day(-60), day(10))],
        # Not counted: the off-flow is dated before the quarter.
        "before": [("esa", day(-200), day(-40))],
    }
    for name, claims in histories.items():
        client_id = builders.new_client(keyworker, f"Off-flow {name}", team_id=team)
        for benefit, start, end in claims:
            _claim(keyworker, client_id, benefit, start, end)
    expected = 4  # ended, uc, twice, late
    one = builders.new_client(keyworker, "Off-flow alone", team_id=lone)
    _claim(keyworker, one, "esa", day(-100), day(10))

    def off_flow(scope: str, scope_id: str) -> Any:
        report = admin.get(
            TARGETS, params={"scope": scope, "scope_id": scope_id, "quarter": quarter}
        )
        assert report.status_code == 200, report.text
        return next(p for p in report.json()["progress"] if p["measure"] == "off_flow")

    assert off_flow("team", team) == {**off_flow("team", team), "actual": expected}
    assert off_flow("team", team)["status"] == "measured"
    assert off_flow("team", lone) == {  # 1 withheld
        **off_flow("team", lone),
        "actual": None,
        "status": "suppressed",
    }
    assert off_flow("area_cluster", cluster)["actual"] == expected + 1


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
