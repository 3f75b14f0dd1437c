"""The home page's read, ``GET /api/v1/me/today``, over real HTTP: each role gets its own day,
and nothing on it reaches further than the page it links to (risk alerts only for those who
see item answers, no clinical content for admins, talk requests only for supervisors)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import Settings
from app.demo import DEMO_SESSION_LENGTH
from tests.conftest import Live, Session, problem
from tests.support.builders import arrange_meeting, client_id_of, days_ago, new_client

PHQ9_ITEM9 = {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 1}
DEMO_SESSION = "Weekly check-in with Alex"
PARTS = {
    "role", "now", "meetings", "unread", "alerts", "due_work", "check_in", "talk_requests",
    "client", "admin",
}  # fmt: skip


def today(session: Session) -> dict[str, Any]:
    reply = session.get("/api/v1/me/today")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == PARTS
    return body


def test_staff_see_todays_session_and_their_own_parts(live: Live) -> None:
    for role in ("peer_keyworker", "therapist", "employment_specialist", "supervisor"):
        day = today(live.as_role(role))
        assert day["role"] == role
        titles = [m["title"] for m in day["meetings"]]
        assert DEMO_SESSION in titles, role
        assert isinstance(day["alerts"], list) and isinstance(day["due_work"], list)
        assert day["check_in"] is not None and day["client"] is None and day["admin"] is None
        assert (day["talk_requests"] is not None) == (role == "supervisor"), role


def test_due_work_is_from_the_persons_own_care_teams(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    team_id = keyworker.get("/api/v1/clients").json()["items"][0]["team_id"]
    name = f"Dee Due {uuid.uuid4().hex[:6]}"
    client_id = new_client(keyworker, name, team_id=team_id, referred_on=days_ago(40))
    # Met 40 days ago, no employer contact since: the 30-day rule is overdue.
    met = keyworker.post(
        f"/api/v1/clients/{client_id}/milestones",
        json={"kind": "first_meeting", "occurred_on": days_ago(40)},
    )
    assert met.status_code == 201, met.text
    due = [w for w in today(keyworker)["due_work"] if w["client_id"] == client_id]
    assert [(w["kind"], w["client_name"], w["overdue"]) for w in due] == [
        ("first_employer_contact_overdue", name, True)
    ]
    # Not on the care team (the therapist), or only supervising it (the supervisor): not theirs.
    for role in ("therapist", "supervisor"):
        assert client_id not in {w["client_id"] for w in today(live.as_role(role))["due_work"]}
    # Each client listed is an audited read of their record.
    events = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={
            "client_id": client_id,
            "actor_id": keyworker.user["id"],
            "action": "home.due_work",
        },
    )
    assert events.status_code == 200, events.text
    assert events.json()["items"], "the due work read was not audited"


def test_a_risk_alert_is_on_the_home_of_those_who_see_item_answers_only(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    saved = live.as_role("therapist").post(
        f"/api/v1/clients/{client_id}/measures",
        json={"instrument": "phq9", "answers": PHQ9_ITEM9},
    )
    assert saved.status_code == 201, saved.text
    risk = [
        a
        for a in today(live.as_role("therapist"))["alerts"]
        if a["kind"] == "phq9_item9" and a["client_id"] == client_id
    ]
    assert risk and all(a["urgent"] for a in risk)
    for role in ("peer_keyworker", "employment_specialist"):
        alerts = today(live.as_role(role))["alerts"]
        assert not [a for a in alerts if a["kind"] == "phq9_item9"], role
    for role in ("admin", "client"):
        assert today(live.as_role(role))["alerts"] is None, role


def test_the_client_sees_their_next_session_and_the_questionnaires_asked(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    made = live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{client_id}/measure-links", json={"instrument": "gad7"}
    )
    assert made.status_code == 201, made.text
    client = live.as_role("client")
    day = today(client)
    mine = day["client"]
    assert mine["client_id"] == client_id and mine["display_name"] == "Alex Morgan"
    assert mine["next_session"]["kind"] == "client_session"
    assert DEMO_SESSION in [m["title"] for m in day["meetings"]]
    due = [q for q in mine["questionnaires_due"] if q["instrument"] == "gad7"]
    assert len(due) == 1 and due[0]["name"] == "GAD-7"
    assert day["due_work"] is None and day["check_in"] is None and day["admin"] is None
    # Reading one's own record from home is audited against it.
    events = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id, "actor_id": client.user["id"], "action": "home.read"},
    )
    assert events.status_code == 200 and events.json()["items"], events.text


def test_the_admin_sees_what_they_administer_and_no_clinical_content(live: Live) -> None:
    admin = live.as_role("admin")
    before = today(admin)
    assert before["meetings"] is None and before["alerts"] is None
    assert before["due_work"] is None and before["client"] is None
    assert before["talk_requests"] is None
    counts = before["admin"]
    assert counts["teams"] >= 1 and counts["active_accounts"] >= 5
    partner = live.as_email("admin@northern-employment.example")
    partner_before = today(partner)["admin"]["pending_invitations"]
    email = f"home-{uuid.uuid4().hex[:8]}@tyneside.example"
    invited = admin.post(
        "/api/v1/invitations",
        json={"email": email, "role": "therapist", "display_name": "Ida Invited"},
    )
    assert invited.status_code == 201, invited.text
    assert today(admin)["admin"]["pending_invitations"] == counts["pending_invitations"] + 1
    # The partner's admin counts their own organisation's only (compared with their own count
    # before, as other tests may have invited people to the partner).
    assert today(partner)["admin"]["pending_invitations"] == partner_before


def test_a_supervisor_sees_a_supervisees_wish_to_talk(live: Live) -> None:
    therapist = live.as_role("therapist")
    made = therapist.post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": 2, "workload": 4, "stress": 4, "support": 3, "wants_to_talk": True},
    )
    assert made.status_code == 201, made.text
    talks = today(live.as_role("supervisor"))["talk_requests"]
    assert made.json()["id"] in [t["check_in_id"] for t in talks]
    assert today(therapist)["talk_requests"] is None
    # Settled, so other tests see the supervisor's talk requests as they were.
    settled = live.as_role("supervisor").post(
        f"/api/v1/wellbeing/talk-requests/{made.json()['id']}/acknowledge"
    )
    assert settled.status_code == 200, settled.text


def test_meetings_within_the_home_horizon_only(live: Live) -> None:
    """TEAMWELL_HOME_MEETINGS_HOURS at its edge: a meeting starting just inside it is listed,
    one starting just after it is not (a minute either side of the server's now)."""
    hours = Settings().home_meetings_hours
    keyworker = live.as_role("peer_keyworker")
    client_id = client_id_of(live, "Alex Morgan")
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    for name, offset in (("inside", -timedelta(minutes=2)), ("outside", timedelta(minutes=2))):
        starts = now + timedelta(hours=hours) + offset
        arrange_meeting(
            keyworker,
            kind="case_meeting",
            title=f"Horizon {name} {tag}",
            client_id=client_id,
            starts_at=starts,
            ends_at=starts + DEMO_SESSION_LENGTH,
        )
    titles = [m["title"] for m in today(keyworker)["meetings"]]
    assert f"Horizon inside {tag}" in titles
    assert f"Horizon outside {tag}" not in titles


def test_signed_out_is_refused(live: Live) -> None:
    with live.client() as anonymous:
        problem(anonymous.get("/api/v1/me/today"), 401)
