"""Job quality through the API: a job start records its hourly pay (strict whole pence), the
wage threshold in force, contract, competitive or not and sector; the journey shows them with
what they are judged by; a team's programme report shows job quality beside job entry and
counts only competitive jobs in sustainment."""

from __future__ import annotations

from typing import Any

from tests.conftest import Live, Session, problem
from tests.support.builders import days_ago, new_client, new_team


def start(session: Session, client_id: str, **quality: Any) -> dict[str, Any]:
    body = {
        "employer": "Quayside Café",
        "role": "Barista",
        "hours_per_week": 16,
        "started_on": days_ago(100),
        **quality,
    }
    made = session.post(f"/api/v1/clients/{client_id}/jobs", json=body)
    assert made.status_code == 201, made.text
    job: dict[str, Any] = made.json()
    return job


def test_a_job_start_records_its_quality_strictly(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    client_id = new_client(keyworker, "Quinn Quality")
    job = start(
        keyworker,
        client_id,
        hourly_pay_pence=1345,
        contract_type="permanent",
        competitive=True,
        sector="I",
    )
    # The default threshold is the Real Living Wage, £13.45: pay equal to it meets it.
    assert job["hourly_pay_pence"] == 1345
    assert job["wage_threshold_pence"] == 1345
    assert job["meets_wage_threshold"] is True
    assert (job["contract_type"], job["competitive"], job["sector"]) == ("permanent", True, "I")
    below = start(keyworker, client_id, hourly_pay_pence=1344, competitive=False)
    assert below["meets_wage_threshold"] is False and below["competitive"] is False
    unknown = start(keyworker, client_id)
    assert unknown["hourly_pay_pence"] is None and unknown["wage_threshold_pence"] is None
    assert unknown["meets_wage_threshold"] is None and unknown["competitive"] is True

    journey = keyworker.get(f"/api/v1/clients/{client_id}/journey").json()
    quality = journey["job_quality"]
    assert quality["wage_threshold_name"] == "Real Living Wage"
    assert quality["wage_threshold_pence"] == 1345
    assert quality["sustainment_competitive_only"] is True
    assert [s["code"] for s in quality["sectors"]] == [chr(c) for c in range(ord("A"), ord("V"))]
    assert quality["contract_types"] == [
        "permanent",
        "fixed_term",
        "zero_hours",
        "self_employed",
        "apprenticeship",
    ]
    assert [j["hourly_pay_pence"] for j in journey["jobs"]] == [1345, 1344, None]

    path = f"/api/v1/clients/{client_id}/jobs"
    base = {"employer": "E", "role": "R", "hours_per_week": 10, "started_on": days_ago(1)}
    # Whole pence only: a string, a decimal, true and 0 are refused; 100000 (£1,000) is the edge.
    for bad in ("1345", 13.45, True, 0, 100_001):
        found = problem(keyworker.post(path, json={**base, "hourly_pay_pence": bad}), 422)
        assert "hourly_pay_pence" in str(found), bad
    assert start(keyworker, client_id, hourly_pay_pence=100_000)["meets_wage_threshold"] is True
    for field, bad in (
        ("sector", "V"),
        ("sector", "i"),
        ("contract_type", "casual"),
        ("competitive", "yes"),
        ("competitive", 1),
    ):
        found = problem(keyworker.post(path, json={**base, field: bad}), 422)
        assert field in str(found), (field, bad)


def cells(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        f["key"]: (
            f["overall"]["value"],
            f["overall"]["numerator"],
            f["overall"]["denominator"],
        )
        for f in report["figures"]
    }


def test_the_report_shows_job_quality_and_sustains_only_competitive_jobs(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    team_id = new_team(live, "Job Quality Team", members=[keyworker.user["id"]])
    client_id = new_client(keyworker, "Rowan Report", team_id=team_id)
    # Five jobs started 100 days ago (their 13-week point 9 days ago):
    start(keyworker, client_id, hourly_pay_pence=1345, contract_type="permanent", hours_per_week=16)
    start(
        keyworker, client_id, hourly_pay_pence=1344, contract_type="zero_hours", hours_per_week=20
    )
    # Not competitive: a job start, but never a sustainment outcome.
    start(
        keyworker,
        client_id,
        hourly_pay_pence=1500,
        contract_type="permanent",
        hours_per_week=30,
        competitive=False,
    )
    ended = start(
        keyworker, client_id, hourly_pay_pence=2000, contract_type="permanent", hours_per_week=10
    )
    ok = keyworker.patch(
        f"/api/v1/clients/{client_id}/jobs/{ended['id']}", json={"ended_on": days_ago(50)}
    )
    assert ok.status_code == 200, ok.text
    start(keyworker, client_id, hourly_pay_pence=1400, contract_type="permanent", hours_per_week=25)

    reply = live.as_role("admin").get(
        "/api/v1/reports/programme",
        params={"scope": "team", "scope_id": team_id, "from": days_ago(120), "to": days_ago(0)},
    )
    assert reply.status_code == 200, reply.text
    found = cells(reply.json())
    assert found["job_entries"] == (5, 5, None)
    assert found["job_entries_competitive"] == (0.8, 4, 5)
    # 1345, 1500, 2000 and 1400 meet £13.45; 1344 does not.
    assert found["job_entries_at_wage_threshold"] == (0.8, 4, 5)
    assert found["job_entries_median_hours"] == (20.0, None, 5)  # 10, 16, 20, 25, 30
    assert found["job_entries_permanent"] == (4, 4, None)
    assert found["job_entries_zero_hours"] == (None, None, None)  # 1: withheld
    assert found["job_entries_fixed_term"] == (0, 0, None)
    # Competitive jobs at 13 weeks: three held, one ended 50 days ago; the sheltered job is
    # left out (with it, 4 of 5).
    assert found["sustained_13_weeks"] == (0.75, 3, 4)
