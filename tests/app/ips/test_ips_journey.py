"""The IPS employment journey through the API: milestones and jobs with their in-work support
window and sustainment checks, employer contacts, the journey's alerts reaching the care team
once, and caseloads with the supervisor's override beyond the limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Live, Session, live_server, problem
from tests.support import builders
from tests.support.builders import client_id_of, days_ago, edit_plan, share_with_specialist, today


def new_client(live: Live, name: str) -> str:
    """A client referred today by the keyworker (who is then their care team)."""
    return builders.new_client(live.as_role("peer_keyworker"), name, reason="Wants work")


def journey(session: Session, client_id: str) -> dict[str, Any]:
    reply = session.get(f"/api/v1/clients/{client_id}/journey")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def alerts_about(session: Session, client_id: str, kind: str, **params: Any) -> list[Any]:
    listed = session.get("/api/v1/alerts", params=params).json()
    return [a for a in listed if a["client_id"] == client_id and a["kind"] == kind]


def test_milestones_and_jobs_show_support_window_and_sustainment(live: Live) -> None:
    client_id = new_client(live, "Jo Journey")
    keyworker = live.as_role("peer_keyworker")
    base = f"/api/v1/clients/{client_id}"
    met = keyworker.post(
        f"{base}/milestones",
        json={"kind": "first_meeting", "occurred_on": days_ago(250), "note": "Video call"},
    )
    assert met.status_code == 201, met.text
    assert met.json()["recorded_by_name"] == "Priya Shah"
    problem(
        keyworker.post(
            f"{base}/milestones", json={"kind": "first_meeting", "occurred_on": days_ago(1)}
        ),
        409,
    )
    problem(
        keyworker.post(
            f"{base}/milestones", json={"kind": "job_start", "occurred_on": days_ago(1)}
        ),
        422,
    )
    problem(
        keyworker.post(
            f"{base}/milestones", json={"kind": "referral", "occurred_on": days_ago(-1)}
        ),
        422,
    )

    # A job held for 100 days: in the support window, sustained at 13 weeks.
    started = today() - timedelta(days=100)
    current = keyworker.post(
        f"{base}/jobs",
        json={
            "employer": "Tyne Foods",
            "role": "Packer",
            "hours_per_week": 16,
            "started_on": started.isoformat(),
        },
    )
    assert current.status_code == 201, current.text
    job = current.json()
    assert job["in_work_support"] == {
        "until": (started + timedelta(days=181)).isoformat(),
        "open": True,
        "last_review_on": None,
        "next_review_due_on": (started + timedelta(days=14)).isoformat(),
    }
    assert [(c["weeks"], c["status"]) for c in job["sustainment"]] == [
        (13, "sustained"),
        (26, "not_yet"),
        (52, "not_yet"),
    ]
    problem(keyworker.patch(f"{base}/jobs/{job['id']}", json={"ended_on": days_ago(101)}), 422)

    # An earlier job that ended after 105 days: sustained at 13 weeks, not at 26 or 52.
    earlier = keyworker.post(
        f"{base}/jobs",
        json={
            "employer": "Quayside Café",
            "role": "Barista",
            "hours_per_week": 20.5,
            "started_on": days_ago(200),
        },
    ).json()
    ended = keyworker.patch(
        f"{base}/jobs/{earlier['id']}", json={"ended_on": days_ago(95), "note": "Moved on"}
    )
    assert ended.status_code == 200, ended.text
    assert [c["status"] for c in ended.json()["sustainment"]] == [
        "sustained",
        "ended_before",
        "ended_before",
    ]
    assert ended.json()["in_work_support"]["open"] is False
    assert ended.json()["in_work_support"]["until"] == days_ago(95)
    problem(keyworker.patch(f"{base}/jobs/{earlier['id']}", json={"ended_on": days_ago(90)}), 409)

    seen = journey(keyworker, client_id)
    assert (seen["joined_on"], seen["joined_from"]) == (days_ago(250), "first_meeting")
    assert seen["today"] == today().isoformat()
    assert [m["kind"] for m in seen["milestones"]] == [
        "first_meeting",
        "job_start",
        "job_start",
        "job_end",
    ]
    assert seen["first_employer_contact_on"] == days_ago(200)  # a job start counts as contact
    assert seen["first_employer_contact_from"] == "job_start"
    assert [j["employer"] for j in seen["jobs"]] == ["Quayside Café", "Tyne Foods"]
    review_alerts = [a for a in seen["alerts"] if a["kind"] == "support_review_overdue"]
    assert len(review_alerts) == 1 and review_alerts[0]["job_id"] == job["id"]
    assert review_alerts[0]["days_past_due"] == 86 and review_alerts[0]["overdue"]
    assert not [a for a in seen["alerts"] if a["kind"] == "first_employer_contact_overdue"]
    assert len(alerts_about(keyworker, client_id, "support_review_overdue")) == 1

    reviewed = keyworker.post(f"{base}/jobs/{job['id']}/reviews", json={"reviewed_on": days_ago(0)})
    assert reviewed.status_code == 201, reviewed.text
    problem(
        keyworker.post(f"{base}/jobs/{job['id']}/reviews", json={"reviewed_on": days_ago(101)}), 422
    )
    after = journey(keyworker, client_id)
    assert not [a for a in after["alerts"] if a["kind"] == "support_review_overdue"]
    support = next(j for j in after["jobs"] if j["id"] == job["id"])["in_work_support"]
    assert support["last_review_on"] == days_ago(0)
    assert support["next_review_due_on"] == (today() + timedelta(days=14)).isoformat()
    events = (
        live.as_role("supervisor")
        .get("/api/v1/audit-events", params={"client_id": client_id, "action": "journey.job_end"})
        .json()["items"]
    )
    assert events and events[0]["actor_name"] == "Priya Shah"


def test_first_contact_alert_reaches_the_care_team_once_then_clears(live: Live) -> None:
    client_id = new_client(live, "Kit Contact")
    share_with_specialist(live, client_id)
    keyworker, erin = live.as_role("peer_keyworker"), live.as_role("employment_specialist")
    joined = keyworker.post(
        f"/api/v1/clients/{client_id}/milestones",
        json={"kind": "first_meeting", "occurred_on": days_ago(40)},
    )
    assert joined.status_code == 201, joined.text

    seen = journey(erin, client_id)
    first = [a for a in seen["alerts"] if a["kind"] == "first_employer_contact_overdue"]
    assert len(first) == 1
    assert (first[0]["due_on"], first[0]["days_past_due"]) == (days_ago(10), 10)
    for member in (keyworker, erin):
        assert len(alerts_about(member, client_id, "first_employer_contact_overdue")) == 1
    # Reading again raises nothing new; nor once the alert is acknowledged (it settled that lapse).
    journey(keyworker, client_id)
    [alert] = alerts_about(keyworker, client_id, "first_employer_contact_overdue")
    acked = keyworker.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "Booked"})
    assert acked.status_code == 200, acked.text
    journey(keyworker, client_id)
    assert alerts_about(keyworker, client_id, "first_employer_contact_overdue") == []
    kept = alerts_about(
        keyworker, client_id, "first_employer_contact_overdue", include_acknowledged=True
    )
    assert len(kept) == 1

    logged = erin.post(
        "/api/v1/employer-contacts",
        json={
            "employer": "Metro Logistics",
            "contacted_on": days_ago(0),
            "outcome": "Vacancy for a warehouse operative; CV sent",
            "client_id": client_id,
        },
    )
    assert logged.status_code == 201, logged.text
    assert (
        logged.json()["client_id"] == client_id and logged.json()["specialist_name"] == "Erin Walsh"
    )
    mine = erin.get("/api/v1/employer-contacts").json()["items"]
    assert logged.json()["id"] in [c["id"] for c in mine]
    supervised = live.as_role("supervisor").get("/api/v1/employer-contacts").json()["items"]
    assert logged.json()["id"] in [c["id"] for c in supervised]

    cleared = journey(erin, client_id)
    assert cleared["first_employer_contact_on"] == days_ago(0)
    assert [c["employer"] for c in cleared["employer_contacts"]] == ["Metro Logistics"]
    assert not [a for a in cleared["alerts"] if a["kind"] == "first_employer_contact_overdue"]
    events = (
        live.as_role("supervisor")
        .get(
            "/api/v1/audit-events",
            params={"client_id": client_id, "action": "employer_contact.create"},
        )
        .json()["items"]
    )
    assert events and events[0]["actor_name"] == "Erin Walsh"


def test_a_specialist_corrects_her_own_employer_contact(live: Live) -> None:
    client_id = new_client(live, "Cam Correct")
    share_with_specialist(live, client_id)
    erin, supervisor = live.as_role("employment_specialist"), live.as_role("supervisor")
    logged = erin.post(
        "/api/v1/employer-contacts",
        json={
            "employer": "Tyne Foods",
            "contacted_on": days_ago(3),
            "contact_type": "phone",
            "outcome": "Spoke to the manager",
            "client_id": client_id,
        },
    )
    assert logged.status_code == 201, logged.text
    assert logged.json()["contact_type"] == "phone"
    seen = journey(erin, client_id)
    assert (seen["first_employer_contact_on"], seen["first_employer_contact_from"]) == (
        days_ago(3),
        "employer_contact",
    )
    path = f"/api/v1/employer-contacts/{logged.json()['id']}"

    changed = erin.patch(
        path,
        json={"contacted_on": days_ago(1), "contact_type": "face_to_face", "outcome": "Met her"},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["contacted_on"], body["contact_type"], body["outcome"]) == (
        days_ago(1),
        "face_to_face",
        "Met her",
    )
    assert (body["employer"], body["client_id"]) == ("Tyne Foods", client_id)
    [shown] = journey(erin, client_id)["employer_contacts"]
    assert (shown["contacted_on"], shown["contact_type"]) == (days_ago(1), "face_to_face")
    assert journey(erin, client_id)["first_employer_contact_on"] == days_ago(1)
    # The type may be cleared; nothing else may, and only known types, past days and these
    # fields are taken.
    assert erin.patch(path, json={"contact_type": None}).json()["contact_type"] is None
    assert erin.patch(path, json={}).status_code == 200
    assert problem(erin.patch(path, json={"employer": None}), 422)["errors"][0]["field"] == (
        "body.employer"
    )
    problem(erin.patch(path, json={"contacted_on": days_ago(-1)}), 422)
    problem(erin.patch(path, json={"contact_type": "in person"}), 422)
    problem(erin.patch(path, json={"client_id": client_id}), 422)
    problem(erin.patch(path, json={"outcome": ""}), 422)

    # Only the specialist who logged it: not another specialist, not her supervisor.
    other_email = f"es-{today().isoformat()}-{client_id[:8]}@tyneside.example"
    live.new_account(other_email, "Other Specialist", "employment_specialist")
    refused = problem(live.as_email(other_email).patch(path, json={"outcome": "Mine now"}), 403)
    assert "only the specialist who logged" in refused["detail"]
    problem(supervisor.patch(path, json={"outcome": "Edited"}), 403)
    problem(live.as_role("therapist").patch(path, json={"outcome": "Edited"}), 403)
    problem(
        erin.patch("/api/v1/employer-contacts/00000000-0000-4000-8000-000000000000", json={}), 404
    )
    assert journey(erin, client_id)["employer_contacts"][0]["outcome"] == "Met her"

    events = supervisor.get(
        "/api/v1/audit-events",
        params={"client_id": client_id, "action": "employer_contact.update"},
    ).json()["items"]
    outcomes = sorted((e["actor_name"], e["outcome"]) for e in events)
    assert ("Other Specialist", "denied") in outcomes
    assert [e["detail"] for e in events if e["outcome"] == "success"].count(
        "changed: contact_type, contacted_on, outcome"
    ) == 1

    # Taken off the client's care team, she no longer changes what she logged for them.
    team = live.as_role("peer_keyworker").get(f"/api/v1/clients/{client_id}/care-team").json()
    member = next(m for m in team if m["user_id"] == erin.user["id"] and m["until"] is None)
    ended = live.as_role("peer_keyworker").delete(
        f"/api/v1/clients/{client_id}/care-team/{member['id']}"
    )
    assert ended.status_code == 204, ended.text
    problem(erin.patch(path, json={"outcome": "After leaving"}), 403)


def test_an_overdue_plan_action_is_raised(live: Live) -> None:
    client_id = new_client(live, "Lee Late")
    keyworker = live.as_role("peer_keyworker")
    actions = [
        {"text": "Update the CV", "due_on": days_ago(3)},
        {"text": "Visit the job fair", "due_on": days_ago(5), "status": "done"},
        {"text": "Call the college", "due_on": days_ago(0)},
    ]
    saved = edit_plan(keyworker, client_id, lambda content: content.update(actions=actions))
    overdue = [
        a for a in journey(keyworker, client_id)["alerts"] if a["kind"] == "plan_action_overdue"
    ]
    assert len(overdue) == 1 and overdue[0]["days_past_due"] == 3
    assert overdue[0]["action_id"] == saved["content"]["actions"][0]["id"]
    [raised] = alerts_about(keyworker, client_id, "plan_action_overdue")
    assert "Update the CV" in raised["detail"]


def test_who_may_log_and_read(live: Live) -> None:
    erin = live.as_role("employment_specialist")
    contact = {"employer": "Tyne Foods", "contacted_on": days_ago(1), "outcome": "Met the manager"}
    problem(live.as_role("client").post("/api/v1/employer-contacts", json=contact), 403)
    problem(live.as_role("therapist").post("/api/v1/employer-contacts", json=contact), 403)
    problem(live.as_role("client").get("/api/v1/employer-contacts"), 403)
    # A linked client must be one Erin may read.
    stranger = new_client(live, "Nat Notmine")
    problem(erin.post("/api/v1/employer-contacts", json={**contact, "client_id": stranger}), 403)
    problem(
        erin.post(
            "/api/v1/employer-contacts",
            json={**contact, "client_id": "00000000-0000-4000-8000-000000000000"},
        ),
        404,
    )
    problem(
        erin.post("/api/v1/employer-contacts", json={**contact, "contacted_on": days_ago(-2)}), 422
    )
    unlinked = erin.post("/api/v1/employer-contacts", json=contact)
    assert unlinked.status_code == 201 and unlinked.json()["client_id"] is None
    # Admins see no clinical content; a client reads their own journey but does not record on it.
    alex = client_id_of(live, "Alex Morgan")
    problem(live.as_role("admin").get(f"/api/v1/clients/{alex}/journey"), 403)
    assert live.as_role("client").get(f"/api/v1/clients/{alex}/journey").status_code == 200
    problem(
        live.as_role("client").post(
            f"/api/v1/clients/{alex}/milestones",
            json={"kind": "referral", "occurred_on": days_ago(1)},
        ),
        403,
    )
    problem(live.as_role("admin").get("/api/v1/caseloads"), 403)


# --- caseloads, on a server with a limit of 2 (a warning above 1) ---------------------------------


@pytest.fixture(scope="module")
def small_caseload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(
        tmp_path_factory,
        "live-caseload",
        extra_env={"TEAMWELL_CASELOAD_LIMIT": "2", "TEAMWELL_CASELOAD_WARN_ABOVE": "1"},
    ) as running:
        yield running


def test_assigning_beyond_the_limit_needs_a_supervisors_recorded_override(
    small_caseload: Live,
) -> None:
    live = small_caseload
    casey = live.new_account(
        "casey.byrne@tyneside.example", "Casey Byrne", "employment_specialist"
    )["id"]
    keyworker, supervisor = live.as_role("peer_keyworker"), live.as_role("supervisor")
    clients = [new_client(live, f"Client {n}") for n in (1, 2, 3)]

    def assign(session: Session, client_id: str, **extra: str) -> Any:
        return session.post(
            f"/api/v1/clients/{client_id}/employment-specialist", json={"user_id": casey, **extra}
        )

    states = []
    for client_id in clients[:2]:
        done = assign(keyworker, client_id)
        assert done.status_code == 201, done.text
        assert done.json()["override"] is None
        assert casey in [m["user_id"] for m in done.json()["care_team"]]
        states.append((done.json()["caseload"]["active_clients"], done.json()["caseload"]["state"]))
    assert states == [(1, "ok"), (2, "at_limit")]
    listed = {c["specialist_id"]: c for c in keyworker.get("/api/v1/caseloads").json()}
    assert listed[casey]["active_clients"] == 2 and listed[casey]["limit"] == 2
    assert listed[casey]["warn_above"] == 1 and listed[casey]["state"] == "at_limit"
    assert listed[casey]["ips25_caseload_score"] == 5

    full = problem(assign(keyworker, clients[2]), 409)
    assert full["type"].endswith("/caseload-limit") and (full["caseload"], full["limit"]) == (2, 2)
    assert "supervisor" in full["detail"]
    problem(assign(keyworker, clients[2], override_reason="Continuity of care"), 409)
    no_reason = problem(assign(supervisor, clients[2]), 409)
    assert "override_reason" in no_reason["detail"]

    reason = "Continuity: Casey supported this client's sister; review at supervision"
    overridden = assign(supervisor, clients[2], override_reason=reason)
    assert overridden.status_code == 201, overridden.text
    body = overridden.json()
    assert body["override"]["reason"] == reason
    assert body["override"]["supervisor_id"] == supervisor.user["id"]
    assert (body["override"]["caseload_before"], body["override"]["caseload_limit"]) == (2, 2)
    assert body["caseload"]["state"] == "over_limit" and body["caseload"]["overrides_in_force"] == 1
    seen = {c["specialist_id"]: c for c in supervisor.get("/api/v1/caseloads").json()}
    assert seen[casey]["active_clients"] == 3 and seen[casey]["state"] == "over_limit"
    # Erin (another organisation) is there because Sofia supervises her.
    assert live.as_role("employment_specialist").user["id"] in seen
    events = supervisor.get(
        "/api/v1/audit-events", params={"client_id": clients[2], "action": "caseload.override"}
    ).json()["items"]
    assert len(events) == 1 and events[0]["actor_name"] == "Sofia Lind"
    assert reason in events[0]["detail"]

    problem(assign(keyworker, clients[0]), 409)  # already on the care team
    tom = live.as_role("therapist").user["id"]
    problem(
        keyworker.post(
            f"/api/v1/clients/{clients[2]}/employment-specialist", json={"user_id": tom}
        ),
        422,
    )
    problem(live.as_role("client").get("/api/v1/caseloads"), 403)
