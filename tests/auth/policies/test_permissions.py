"""Every route against every role, allowed and denied, on a real server.

The table names each route once; a test fails if the application grows a route the table does
not cover, so no route escapes the permission review.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from tests.conftest import Live, Session, problem

ROLES_ORDER = [
    "peer_keyworker",
    "therapist",
    "employment_specialist",
    "supervisor",
    "admin",
    "client",
    "outsider",  # a therapist of the same trust who is on no care team and supervises nobody
    "partner_admin",  # the admin of the employment provider
]
ROLES = frozenset(ROLES_ORDER)
CLINICAL = {"peer_keyworker", "therapist", "employment_specialist", "supervisor"}
STAFF = CLINICAL | {"admin", "outsider", "partner_admin"}
CARE = CLINICAL | {"client"}  # those related to the demo client Alex Morgan
BENEFIT_RECORDERS = {"peer_keyworker", "employment_specialist"}  # on Alex's care team


@dataclass
class World:
    live: Live
    ids: dict[str, str] = field(default_factory=dict)

    def session(self, role: str) -> Session:
        if role == "outsider":
            return self.live.as_email(self.ids["outsider_email"])
        if role == "partner_admin":
            return self.live.as_email("admin@northern-employment.example")
        return self.live.as_role(role)

    def fresh_staff(self, role: str = "therapist") -> str:
        made = self.live.new_account(
            f"{role}-{uuid.uuid4().hex[:8]}@tyneside.example", "Fresh Colleague", role
        )
        return str(made["id"])


@pytest.fixture(scope="module")
def world(live: Live) -> World:
    w = World(live)
    admin = live.as_role("admin")
    outsider_email = f"outsider-{live.backend}@tyneside.example"
    live.new_account(outsider_email, "Olu Outside", "therapist")
    w.ids["outsider_email"] = outsider_email
    clients = live.as_role("peer_keyworker").get("/api/v1/clients").json()["items"]
    by_name = {c["display_name"]: c for c in clients}
    w.ids["client"] = by_name["Alex Morgan"]["id"]
    w.ids["team"] = by_name["Alex Morgan"]["team_id"]
    w.ids["organisation"] = by_name["Alex Morgan"]["organisation_id"]
    users = admin.get("/api/v1/users", params={"limit": 200}).json()["items"]
    w.ids["therapist_user"] = next(u["id"] for u in users if u["email"].startswith("tom."))
    keyworker = live.as_role("peer_keyworker")
    opened = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": w.ids["team"]}
    )
    assert opened.status_code == 200, opened.text
    w.ids["conversation"] = opened.json()["id"]
    w.ids["meeting"] = new_case_meeting(w)["meeting_id"]
    # The partner's admin has a team in Tyne and Wear, so reads that cluster's reports and
    # targets whichever rules have run before theirs (one rule alone with -k included).
    made = w.session("partner_admin").post(
        "/api/v1/teams", json={"name": "Partner cluster team", "area_cluster": "Tyne and Wear"}
    )
    assert made.status_code == 201, made.text
    return w


def past_day(days_back: int) -> str:
    """A date that has happened (the IPS journey refuses dates after today)."""
    return str(date.fromordinal(date.today().toordinal() - days_back))


def fresh_job(w: World) -> dict[str, str]:
    """A job Alex started a week ago, recorded by his keyworker."""
    made = w.live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{w.ids['client']}/jobs",
        json={
            "employer": "Tyne Foods",
            "role": "Packer",
            "hours_per_week": 16,
            "started_on": past_day(7),
        },
    )
    assert made.status_code == 201, made.text
    return {"job_id": made.json()["id"]}


def fresh_claim(w: World) -> dict[str, str]:
    """An open Universal Credit claim of Alex's, recorded by his keyworker."""
    made = w.live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{w.ids['client']}/benefits/claims",
        json={
            "benefit": "universal_credit",
            "uc_regime": "intensive_work_search",
            "started_on": past_day(60),
            "source": "client_reported",
        },
    )
    assert made.status_code == 201, made.text
    return {"claim_id": made.json()["id"]}


def fresh_employer_contact(w: World) -> dict[str, str]:
    """An employer contact for Alex that Erin (the employment specialist) logged yesterday."""
    made = w.live.as_role("employment_specialist").post(
        "/api/v1/employer-contacts",
        json={
            "employer": "Tyne Foods",
            "contacted_on": past_day(1),
            "outcome": "Asked about packing shifts",
            "client_id": w.ids["client"],
        },
    )
    assert made.status_code == 201, made.text
    return {"contact_id": made.json()["id"]}


def fresh_employer(w: World) -> dict[str, str]:
    """An employer Erin added to her organisation's directory."""
    made = w.live.as_role("employment_specialist").post(
        "/api/v1/employers", json={"name": f"Metro {uuid.uuid4().hex[:6]}", "sector": "H"}
    )
    assert made.status_code == 201, made.text
    return {"employer_id": made.json()["id"]}


def fresh_vacancy(w: World) -> dict[str, str]:
    """An open vacancy from a fresh employer of Erin's directory."""
    employer = fresh_employer(w)["employer_id"]
    made = w.live.as_role("employment_specialist").post(
        f"/api/v1/employers/{employer}/vacancies",
        json={"title": "Warehouse operative", "hours_per_week": 20, "hourly_pay_pence": 1350},
    )
    assert made.status_code == 201, made.text
    return {"vacancy_id": made.json()["id"]}


def fresh_application(w: World) -> dict[str, str]:
    """Alex's application to a fresh vacancy, recorded by Erin today."""
    made = w.live.as_role("employment_specialist").post(
        f"/api/v1/clients/{w.ids['client']}/applications",
        json={"vacancy_id": fresh_vacancy(w)["vacancy_id"], "applied_on": past_day(0)},
    )
    assert made.status_code == 201, made.text
    return {"application_id": made.json()["id"]}


def fresh_alert(w: World) -> dict[str, str]:
    """An urgent alert to Alex's therapist (his PHQ-9 item 9 answered above 0)."""
    answers = {str(n): 1 for n in range(1, 10)}
    sent = w.live.as_role("client").post(
        f"/api/v1/clients/{w.ids['client']}/measures",
        json={"instrument": "phq9", "answers": answers},
    )
    assert sent.status_code == 201, sent.text
    alerts = w.live.as_role("therapist").get("/api/v1/alerts").json()
    return {"alert_id": alerts[0]["id"]}


def current_plan(w: World) -> tuple[dict[str, Any], str]:
    """The plan as it stands and its ETag (saving it unchanged is allowed and changes nothing)."""
    read = w.live.as_role("peer_keyworker").get(f"/api/v1/clients/{w.ids['client']}/plan")
    return read.json()["content"], read.headers["etag"]


def new_case_meeting(w: World) -> dict[str, str]:
    """A case meeting about Alex, arranged by his keyworker (no one else invited)."""
    made = w.live.as_role("peer_keyworker").post(
        "/api/v1/meetings",
        json={
            "kind": "case_meeting",
            "title": "Review",
            "client_id": w.ids["client"],
            "starts_at": "2030-01-07T10:00:00Z",
            "ends_at": "2030-01-07T11:00:00Z",
        },
    )
    assert made.status_code == 201, made.text
    return {"meeting_id": made.json()["id"]}


def new_client_session(w: World) -> dict[str, str]:
    """Alex's own session with his keyworker, which guests may be brought into."""
    made = w.live.as_role("peer_keyworker").post(
        "/api/v1/meetings",
        json={
            "kind": "client_session",
            "title": "Session",
            "client_id": w.ids["client"],
            "starts_at": "2030-01-09T10:00:00Z",
            "ends_at": "2030-01-09T11:00:00Z",
        },
    )
    assert made.status_code == 201, made.text
    return {"meeting_id": made.json()["id"]}


def new_guest_link(w: World) -> dict[str, str]:
    """A guest link for the client into a session of his (to revoke)."""
    meeting = new_client_session(w)
    made = w.live.as_role("peer_keyworker").post(
        f"/api/v1/meetings/{meeting['meeting_id']}/guest-links", json={"kind": "client"}
    )
    assert made.status_code == 201, made.text
    return {**meeting, "link_id": made.json()["id"]}


# Documents (tests/app/documents/): what a chunk sends is the JSON of this text, so an upload of
# its encoded length is complete after one chunk.
CHUNK_TEXT = "A short note for the permission table."
CHUNK_BYTES = len(json.dumps(CHUNK_TEXT).encode())


def fresh_upload(w: World) -> dict[str, str]:
    """An upload to Alex's record that his keyworker started (uploads are their starter's)."""
    started = w.live.as_role("peer_keyworker").post(
        "/api/v1/documents/uploads",
        json={"client_id": w.ids["client"], "filename": "note.txt", "size": CHUNK_BYTES},
    )
    assert started.status_code == 201, started.text
    return {"upload_id": started.json()["id"], "offset": "0"}


def sent_upload(w: World) -> dict[str, str]:
    """An upload of the keyworker's whose every byte has arrived, to complete."""
    upload = fresh_upload(w)
    sent = w.live.as_role("peer_keyworker").put(
        f"/api/v1/documents/uploads/{upload['upload_id']}/chunks/0", json=CHUNK_TEXT
    )
    assert sent.status_code == 200, sent.text
    return upload


def fresh_document(w: World) -> dict[str, str]:
    """A document on Alex's record, uploaded by his keyworker and shared with him."""
    keyworker = w.live.as_role("peer_keyworker")
    started = keyworker.post(
        "/api/v1/documents/uploads",
        json={
            "client_id": w.ids["client"],
            "filename": "note.txt",
            "size": CHUNK_BYTES,
            "shared_with_client": True,
        },
    )
    assert started.status_code == 201, started.text
    upload = {"upload_id": started.json()["id"]}
    assert (
        keyworker.put(
            f"/api/v1/documents/uploads/{upload['upload_id']}/chunks/0", json=CHUNK_TEXT
        ).status_code
        == 200
    )
    done = keyworker.post(f"/api/v1/documents/uploads/{upload['upload_id']}/complete")
    assert done.status_code == 201, done.text
    return {"document_id": done.json()["id"], "number": "1"}


def shared_document(w: World) -> dict[str, str]:
    """One document of ``fresh_document``'s kind, made once, for the rules that only read."""
    if "document" not in w.ids:
        w.ids["document"] = fresh_document(w)["document_id"]
    return {"document_id": w.ids["document"], "number": "1"}


Factory = Callable[[World], Any]


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    allowed: frozenset[str]
    ok: int = 200
    body: Factory | None = None
    # Who is refused with 404 rather than 403 (things outside their organisation are invisible).
    hidden: frozenset[str] = frozenset()
    params: Factory | None = None
    query: dict[str, str] | Factory | None = None  # a factory: a query naming the world's ids
    headers: Factory | None = None


NOTIFICATION_SETTINGS = {
    "kinds": {
        kind: {"email": True, "push": True, "sms": False}
        for kind in (
            "messages",
            "urgent_alerts",
            "meetings",
            "questionnaires",
            "journey_work",
            "check_ins",
        )
    },
    "time_zone": "Europe/London",
    "quiet_hours": {"start": "21:00", "end": "08:00"},
    "sms_number": None,
}


def fixed(value: Any) -> Factory:
    return lambda _w: value


def team_member_to_remove(w: World) -> dict[str, str]:
    fresh = w.fresh_staff()
    added = w.session("admin").post(
        f"/api/v1/teams/{w.ids['team']}/members", json={"user_id": fresh}
    )
    assert added.status_code == 201, added.text
    return {"user_id": fresh}


def proposed_team_member(w: World) -> dict[str, str]:
    """A colleague the admin proposes for the demo team: waiting for its supervisor."""
    fresh = w.fresh_staff()
    added = w.session("admin").post(
        f"/api/v1/teams/{w.ids['team']}/members", json={"user_id": fresh}
    )
    assert added.status_code == 201, added.text
    return {"user_id": fresh}


def care_team_member_to_remove(w: World) -> dict[str, str]:
    admin_added = w.session("supervisor").post(
        f"/api/v1/clients/{w.ids['client']}/care-team", json={"user_id": w.fresh_staff()}
    )
    assert admin_added.status_code == 201, admin_added.text
    member = next(m for m in admin_added.json() if m["display_name"] == "Fresh Colleague")
    return {"member_id": member["id"]}


def pending_invitation(w: World) -> dict[str, str]:
    made = w.session("admin").post(
        "/api/v1/invitations",
        json={"email": f"pending-{uuid.uuid4().hex[:8]}@example.org", "role": "therapist"},
    )
    assert made.status_code == 201, made.text
    return {"invitation_id": made.json()["id"]}


def proposed_supervisor(w: World) -> dict[str, str]:
    """A pending link proposing a supervisor for the outsider (who alone may decide it): the
    demo supervisor or a second one, whichever is not already in force."""
    if "second_supervisor" not in w.ids:
        made = w.live.new_account(
            f"supervisor-{uuid.uuid4().hex[:8]}@tyneside.example", "Second Supervisor", "supervisor"
        )
        w.ids["second_supervisor"] = str(made["id"])
    outsider = w.session("outsider")
    active = {
        x["supervisor_id"]
        for x in outsider.get("/api/v1/supervision/links").json()
        if x["status"] == "active" and x["supervisee_id"] == outsider.user["id"]
    }
    supervisor = next(
        s
        for s in (str(w.session("supervisor").user["id"]), w.ids["second_supervisor"])
        if s not in active
    )
    proposed = w.session("admin").put(
        f"/api/v1/users/{outsider.user['id']}/supervisor", json={"supervisor_id": supervisor}
    )
    assert proposed.status_code == 200 and proposed.json()["status"] == "pending", proposed.text
    return {"link_id": proposed.json()["id"]}


SSO_SETTINGS = {
    "issuer": "https://login.tyneside.example/realms/staff",
    "client_id": "teamwell",
    "client_secret": "a-client-secret-from-the-provider",
    "enabled": False,
}


def sso_configured(w: World) -> dict[str, str]:
    put = w.session("admin").put(
        f"/api/v1/auth/sso/organisations/{w.ids['organisation']}", json=SSO_SETTINGS
    )
    assert put.status_code == 200, put.text
    return {}


def no_open_trial(w: World) -> dict[str, str]:
    """Close the organisation's open evaluation trial, if any, so another may be opened."""
    supervisor = w.session("supervisor")
    for trial in supervisor.get("/api/v1/evaluation/trials").json():
        if trial["open"]:
            closed = supervisor.post(f"/api/v1/evaluation/trials/{trial['id']}/close")
            assert closed.status_code == 200, closed.text
    return {}


def open_trial(w: World) -> dict[str, str]:
    no_open_trial(w)
    made = w.session("supervisor").post(
        "/api/v1/evaluation/trials", json={"name": "Permission review", "stratify_by": "team"}
    )
    assert made.status_code == 201, made.text
    return {"trial_id": made.json()["id"]}


def closed_trial(w: World) -> dict[str, str]:
    """One trial, opened and closed once, so no new client of other tests is allocated."""
    if "trial" not in w.ids:
        trial_id = open_trial(w)["trial_id"]
        no_open_trial(w)
        w.ids["trial"] = trial_id
    return {"trial_id": w.ids["trial"]}


def fresh_talk_request(w: World) -> dict[str, str]:
    """Tom (the demo therapist, supervised by Sofia) asks to talk in a check-in."""
    made = w.live.as_role("therapist").post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": 2, "workload": 4, "stress": 4, "support": 3, "wants_to_talk": True},
    )
    assert made.status_code == 201, made.text
    return {"check_in_id": made.json()["id"]}


def fresh_supervision_record(w: World) -> dict[str, str]:
    """A one-to-one Sofia held with Tom yesterday, with an action Tom owns."""
    made = w.live.as_role("supervisor").post(
        "/api/v1/supervision/records",
        json={
            "kind": "one_to_one",
            "held_on": past_day(1),
            "supervisee_ids": [w.ids["therapist_user"]],
            "notes": "Talked through a difficult week.",
            "actions": [{"text": "Take a day off", "owner_id": w.ids["therapist_user"]}],
        },
    )
    assert made.status_code == 201, made.text
    return {"record_id": made.json()["id"], "action_id": made.json()["actions"][0]["id"]}


def fidelity_review_body(w: World) -> dict[str, Any]:
    """An IPS-25 review of the demo team, the day before its earliest (one per team and day)."""
    from app.supervision.rules import FIDELITY_ITEMS

    listed = w.session("supervisor").get(f"/api/v1/teams/{w.ids['team']}/fidelity-reviews")
    assert listed.status_code == 200, listed.text
    days = [date.fromisoformat(r["reviewed_on"]) for r in listed.json()]
    earliest = min(days, default=date.today())
    return {
        "reviewed_on": str(date.fromordinal(earliest.toordinal() - 1)),
        "scores": {item: 4 for item in FIDELITY_ITEMS},
    }


def fresh_fidelity_review(w: World) -> dict[str, str]:
    made = w.session("supervisor").post(
        f"/api/v1/teams/{w.ids['team']}/fidelity-reviews", json=fidelity_review_body(w)
    )
    assert made.status_code == 201, made.text
    return {"review_id": made.json()["id"]}


# The trust's programme report: its supervisors and admin only (not the partner's admin).
REPORT_QUERY = {
    "scope": "organisation",
    "scope_id": "tyneside-nhs",
    "from": "2026-01-01",
    "to": "2026-06-30",
}
REPORT_READERS = frozenset({"supervisor", "admin", "partner_admin"})


RULES: list[Rule] = [
    Rule("GET", "/api/v1/organisations", ROLES),
    Rule(
        "POST",
        "/api/v1/organisations",
        frozenset({"admin", "partner_admin"}),
        201,
        body=lambda _w: {
            "slug": f"org-{uuid.uuid4().hex[:8]}",
            "name": "Council",
            "kind": "local_authority",
        },
    ),
    Rule("GET", "/api/v1/organisations/{organisation_id}", ROLES),
    Rule(
        "PATCH",
        "/api/v1/organisations/{organisation_id}",
        frozenset({"admin"}),
        body=fixed({"name": "Tyneside NHS Foundation Trust"}),
    ),
    Rule("GET", "/api/v1/teams", frozenset(STAFF)),
    Rule(
        "POST",
        "/api/v1/teams",
        frozenset({"admin", "partner_admin"}),
        201,
        body=fixed({"name": "Gateshead IPS Team", "area_cluster": "Tyne and Wear"}),
    ),
    Rule(
        "GET",
        "/api/v1/teams/{team_id}",
        frozenset(STAFF - {"partner_admin"}),
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "GET",
        "/api/v1/teams/{team_id}/members",
        frozenset(STAFF - {"partner_admin"}),
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "POST",
        "/api/v1/teams/{team_id}/members",
        frozenset({"admin"}),
        201,
        body=lambda w: {"user_id": w.fresh_staff()},
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "PATCH",
        "/api/v1/teams/{team_id}",
        frozenset({"admin"}),
        body=fixed({"area_cluster": "Tyne and Wear"}),
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "DELETE",
        "/api/v1/teams/{team_id}/members/{user_id}",
        frozenset({"admin"}),
        params=team_member_to_remove,
        hidden=frozenset({"partner_admin"}),
    ),
    # Everyone on staff asks; the list holds only what they may confirm (empty for most).
    Rule("GET", "/api/v1/teams/pending-members", frozenset(STAFF)),
    # The demo team has a supervisor in force: she alone confirms or declines who joins.
    Rule(
        "POST",
        "/api/v1/teams/{team_id}/members/{user_id}/confirm",
        frozenset({"supervisor"}),
        params=proposed_team_member,
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "POST",
        "/api/v1/teams/{team_id}/members/{user_id}/decline",
        frozenset({"supervisor"}),
        params=proposed_team_member,
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "GET",
        "/api/v1/users/{user_id}/supervisor",
        frozenset({"admin"}),
        hidden=frozenset({"partner_admin"}),
    ),
    Rule("GET", "/api/v1/users", frozenset(STAFF)),
    Rule(
        "POST",
        "/api/v1/users",
        frozenset({"admin", "partner_admin"}),
        201,
        body=lambda _w: {
            "email": f"n-{uuid.uuid4().hex[:8]}@example.org",
            "display_name": "New Person",
            "role": "peer_keyworker",
        },
    ),
    Rule(
        "GET",
        "/api/v1/users/{user_id}",
        frozenset(STAFF - {"partner_admin", "employment_specialist"}),
        hidden=frozenset({"partner_admin", "employment_specialist"}),
    ),
    Rule(
        "PATCH",
        "/api/v1/users/{user_id}",
        frozenset({"admin"}),
        body=fixed({"display_name": "Tom Okafor"}),
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "PUT",
        "/api/v1/users/{user_id}/supervisor",
        frozenset({"admin"}),
        body=lambda w: {"supervisor_id": w.session("supervisor").user["id"]},
        hidden=frozenset({"partner_admin"}),
    ),
    Rule("GET", "/api/v1/clients", ROLES - {"admin", "partner_admin"}),
    Rule(
        "POST",
        "/api/v1/clients",
        frozenset(CLINICAL - {"employment_specialist"} | {"outsider"}),
        201,
        body=lambda w: {
            "display_name": "Gus Hale",
            "team_id": w.ids["team"],
            "referral": {
                "source": "self",
                "referred_on": str(date.today()),
                "reason": "Wants help finding work",
            },
        },
    ),
    Rule("GET", "/api/v1/clients/{client_id}", frozenset(CARE)),
    Rule(
        "PATCH",
        "/api/v1/clients/{client_id}",
        frozenset(CLINICAL),
        body=fixed({"status": "active"}),
    ),
    Rule("GET", "/api/v1/clients/{client_id}/care-team", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/care-team",
        frozenset(CLINICAL),
        201,
        body=lambda w: {"user_id": w.fresh_staff()},
    ),
    Rule(
        "DELETE",
        "/api/v1/clients/{client_id}/care-team/{member_id}",
        frozenset(CLINICAL),
        204,
        params=care_team_member_to_remove,
    ),
    Rule("GET", "/api/v1/clients/{client_id}/referrals", frozenset(CARE)),
    Rule("GET", "/api/v1/eligibility-questions", frozenset(CLINICAL | {"outsider"})),
    Rule("GET", "/api/v1/clients/{client_id}/benefits", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/benefits/claims",
        frozenset(BENEFIT_RECORDERS),
        201,
        body=lambda _w: {"benefit": "jsa", "started_on": past_day(30), "source": "verified"},
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/benefits/claims/{claim_id}/end",
        frozenset(BENEFIT_RECORDERS),
        body=lambda _w: {"ended_on": past_day(1)},
        params=fresh_claim,
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/benefits/better-off-calculations",
        frozenset(BENEFIT_RECORDERS),
        201,
        body=lambda _w: {"done_on": past_day(2), "outcome": "about_the_same"},
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/referrals",
        frozenset(CLINICAL),
        201,
        body=fixed(
            {
                "source": "jobcentre",
                "referred_on": "2026-02-01",
                "reason": "Re-referred after a short break",
            }
        ),
    ),
    Rule("GET", "/api/v1/clients/{client_id}/consents", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/consents",
        frozenset(CARE),
        201,
        body=lambda w: {
            "organisation_id": w.ids["organisation"],
            "purpose": "evaluation",
            "state": "granted",
        },
    ),
    Rule(
        "POST",
        "/api/v1/invitations",
        frozenset({"admin", "partner_admin"}),
        201,
        body=lambda _w: {
            "email": f"invitee-{uuid.uuid4().hex[:8]}@example.org",
            "role": "therapist",
        },
    ),
    Rule("GET", "/api/v1/invitations", frozenset({"admin", "partner_admin"})),
    Rule(
        "POST",
        "/api/v1/invitations/{invitation_id}/revoke",
        frozenset({"admin"}),
        params=pending_invitation,
        hidden=frozenset({"partner_admin"}),
    ),
    Rule(
        "PUT",
        "/api/v1/auth/sso/organisations/{organisation_id}",
        frozenset({"admin"}),
        body=fixed(SSO_SETTINGS),
    ),
    Rule(
        "GET",
        "/api/v1/auth/sso/organisations/{organisation_id}",
        frozenset({"admin"}),
        params=sso_configured,
    ),
    Rule(
        "DELETE",
        "/api/v1/auth/sso/organisations/{organisation_id}",
        frozenset({"admin"}),
        204,
        params=sso_configured,
    ),
    Rule("GET", "/api/v1/clients/{client_id}/plan", frozenset(CARE)),
    Rule(
        "PUT",
        "/api/v1/clients/{client_id}/plan",
        frozenset(CARE),
        body=lambda w: current_plan(w)[0],
        headers=lambda w: {"If-Match": current_plan(w)[1]},
    ),
    Rule("GET", "/api/v1/clients/{client_id}/plan/history", frozenset(CARE)),
    Rule("GET", "/api/v1/clients/{client_id}/plan/comments", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/plan/comments",
        frozenset(CARE),
        201,
        body=fixed({"item_id": "goals", "text": "Agreed at the review"}),
    ),
    Rule("GET", "/api/v1/clients/{client_id}/journey", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/milestones",
        frozenset(CLINICAL),
        201,
        body=lambda _w: {"kind": "referral", "occurred_on": past_day(1)},
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/jobs",
        frozenset(CLINICAL),
        201,
        body=lambda _w: {
            "employer": "Quayside Café",
            "role": "Barista",
            "hours_per_week": 20,
            "started_on": past_day(3),
        },
    ),
    Rule(
        "PATCH",
        "/api/v1/clients/{client_id}/jobs/{job_id}",
        frozenset(CLINICAL),
        body=lambda _w: {"ended_on": past_day(1)},
        params=fresh_job,
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/jobs/{job_id}/reviews",
        frozenset(CLINICAL),
        201,
        body=lambda _w: {"reviewed_on": past_day(1)},
        params=fresh_job,
    ),
    Rule("GET", "/api/v1/employer-contacts", frozenset({"employment_specialist", "supervisor"})),
    Rule(
        "POST",
        "/api/v1/employer-contacts",
        frozenset({"employment_specialist"}),
        201,
        body=lambda w: {
            "employer": "Metro Logistics",
            "contacted_on": past_day(1),
            "outcome": "Asked about warehouse vacancies",
            "client_id": w.ids["client"],
        },
    ),
    Rule(
        "PATCH",
        "/api/v1/employer-contacts/{contact_id}",
        frozenset({"employment_specialist"}),
        body=fixed({"contact_type": "face_to_face"}),
        params=fresh_employer_contact,
    ),
    Rule("GET", "/api/v1/caseloads", frozenset(CLINICAL | {"outsider"})),
    Rule("GET", "/api/v1/employers", frozenset({"employment_specialist", "supervisor"})),
    Rule(
        "POST",
        "/api/v1/employers",
        frozenset({"employment_specialist"}),
        201,
        body=lambda _w: {"name": f"Tyne Foods {uuid.uuid4().hex[:6]}", "location": "Newcastle"},
    ),
    Rule(
        "GET",
        "/api/v1/employers/{employer_id}",
        frozenset({"employment_specialist", "supervisor"}),
        params=fresh_employer,
    ),
    Rule(
        "PATCH",
        "/api/v1/employers/{employer_id}",
        frozenset({"employment_specialist"}),
        body=fixed({"location": "Gateshead"}),
        params=fresh_employer,
    ),
    Rule(
        "POST",
        "/api/v1/employers/{employer_id}/vacancies",
        frozenset({"employment_specialist"}),
        201,
        body=fixed({"title": "Packer", "hours_per_week": 16}),
        params=fresh_employer,
    ),
    Rule("GET", "/api/v1/vacancies", frozenset({"employment_specialist", "supervisor"})),
    Rule(
        "PATCH",
        "/api/v1/vacancies/{vacancy_id}",
        frozenset({"employment_specialist"}),
        body=fixed({"status": "filled"}),
        params=fresh_vacancy,
    ),
    Rule("GET", "/api/v1/clients/{client_id}/vacancy-matches", frozenset(CARE)),
    Rule("GET", "/api/v1/clients/{client_id}/applications", frozenset(CARE)),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/applications",
        frozenset({"employment_specialist"}),
        201,
        body=lambda w: {"vacancy_id": fresh_vacancy(w)["vacancy_id"], "applied_on": past_day(0)},
    ),
    Rule(
        "PATCH",
        "/api/v1/clients/{client_id}/applications/{application_id}",
        frozenset({"employment_specialist"}),
        body=lambda _w: {"status": "interview", "status_on": past_day(0)},
        params=fresh_application,
    ),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/employment-specialist",
        frozenset(CLINICAL),
        201,
        body=lambda w: {"user_id": w.fresh_staff("employment_specialist")},
    ),
    Rule("GET", "/api/v1/clients/{client_id}/fhir", frozenset(CARE)),
    Rule("GET", "/api/v1/clients/{client_id}/subject-access", frozenset({"client", "supervisor"})),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/measure-links",
        frozenset(CLINICAL),
        201,
        body=fixed({"instrument": "phq9"}),
    ),
    # Alex joined before any trial opened, so he is in none: those who may ask learn that (404).
    Rule("GET", "/api/v1/clients/{client_id}/allocation", frozenset(CARE), 404),
    Rule("GET", "/api/v1/evaluation/trials", frozenset({"supervisor"})),
    Rule(
        "GET",
        "/api/v1/evaluation/trials/{trial_id}",
        frozenset({"supervisor"}),
        params=closed_trial,
    ),
    Rule(
        "POST",
        "/api/v1/evaluation/trials/{trial_id}/verify",
        frozenset({"supervisor"}),
        params=closed_trial,
    ),
    Rule(
        "POST",
        "/api/v1/evaluation/trials/{trial_id}/close",
        frozenset({"supervisor"}),
        params=open_trial,
    ),
    # After the closing rule: each role's turn first closes the trial the supervisor opened.
    Rule(
        "POST",
        "/api/v1/evaluation/trials",
        frozenset({"supervisor"}),
        201,
        params=no_open_trial,
        body=fixed({"name": "Permission review", "stratify_by": "area_cluster"}),
    ),
    Rule(
        "POST",
        "/api/v1/wellbeing/check-ins",
        frozenset(STAFF),
        201,
        body=fixed({"mood": 3, "workload": 3, "stress": 3, "support": 3}),
    ),
    Rule("GET", "/api/v1/wellbeing/check-ins", frozenset(STAFF)),
    Rule("GET", "/api/v1/wellbeing/prompt", frozenset(STAFF)),
    Rule(
        "GET",
        "/api/v1/wellbeing/people/{user_id}/check-ins",
        frozenset({"therapist", "supervisor"}),
    ),
    Rule("GET", "/api/v1/wellbeing/talk-requests", frozenset({"supervisor"})),
    Rule(
        "POST",
        "/api/v1/wellbeing/talk-requests/{check_in_id}/acknowledge",
        frozenset({"supervisor"}),
        params=fresh_talk_request,
    ),
    Rule("GET", "/api/v1/supervision/supervisees", frozenset({"supervisor"})),
    Rule("GET", "/api/v1/supervision/links", frozenset(STAFF)),
    Rule(
        "POST",
        "/api/v1/supervision/links/{link_id}/accept",
        frozenset({"outsider"}),
        params=proposed_supervisor,
    ),
    Rule(
        "POST",
        "/api/v1/supervision/links/{link_id}/decline",
        frozenset({"outsider"}),
        params=proposed_supervisor,
    ),
    Rule(
        "PUT",
        "/api/v1/supervision/supervisees/{user_id}/cadence",
        frozenset({"supervisor"}),
        body=fixed({"check_in_days": 7, "supervision_days": 28}),
    ),
    Rule(
        "POST",
        "/api/v1/supervision/records",
        frozenset({"supervisor"}),
        201,
        body=lambda w: {
            "kind": "one_to_one",
            "held_on": past_day(1),
            "supervisee_ids": [w.ids["therapist_user"]],
        },
    ),
    Rule("GET", "/api/v1/supervision/records", frozenset(STAFF)),
    Rule(
        "GET",
        "/api/v1/supervision/records/{record_id}",
        frozenset({"therapist", "supervisor"}),
        params=fresh_supervision_record,
    ),
    Rule(
        "PATCH",
        "/api/v1/supervision/records/{record_id}",
        frozenset({"supervisor"}),
        body=fixed({"notes": "Agreed to review the caseload."}),
        headers=fixed({"If-Match": '"1"'}),  # a fresh record is at version 1
        params=fresh_supervision_record,
    ),
    Rule(
        "POST",
        "/api/v1/supervision/records/{record_id}/actions",
        frozenset({"supervisor"}),
        201,
        body=lambda w: {"text": "Read the policy", "owner_id": w.ids["therapist_user"]},
        params=fresh_supervision_record,
    ),
    Rule(
        "PATCH",
        "/api/v1/supervision/actions/{action_id}",
        frozenset({"therapist", "supervisor"}),
        body=fixed({"done": True}),
        params=fresh_supervision_record,
    ),
    Rule("GET", "/api/v1/teams/{team_id}/overview", frozenset({"supervisor"})),
    Rule("GET", "/api/v1/teams/{team_id}/fidelity-reviews", frozenset(CLINICAL)),
    Rule("GET", "/api/v1/teams/{team_id}/fidelity-reviews/draft", frozenset({"supervisor"})),
    Rule(
        "POST",
        "/api/v1/teams/{team_id}/fidelity-reviews",
        frozenset({"supervisor"}),
        201,
        body=fidelity_review_body,
    ),
    Rule(
        "GET",
        "/api/v1/teams/{team_id}/fidelity-reviews/{review_id}",
        frozenset(CLINICAL),
        params=fresh_fidelity_review,
    ),
    Rule("GET", "/api/v1/reports/definitions", REPORT_READERS),
    Rule("GET", "/api/v1/reports/scopes", REPORT_READERS),
    Rule(
        "GET", "/api/v1/reports/programme", frozenset({"supervisor", "admin"}), query=REPORT_QUERY
    ),
    Rule(
        "GET",
        "/api/v1/reports/programme/export",
        frozenset({"supervisor", "admin"}),
        query={**REPORT_QUERY, "format": "csv"},
    ),
    Rule(
        "GET",
        "/api/v1/reports/equality",
        frozenset({"supervisor", "admin"}),
        query={**REPORT_QUERY, "characteristic": "ethnicity"},
    ),
    Rule(
        "PUT",
        "/api/v1/reports/targets",
        frozenset({"supervisor", "admin"}),
        body=lambda w: {
            "scope": "team",
            "scope_id": w.ids["team"],
            "quarter": "2026-Q4",
            "measure": "referrals",
            "target": 12,
        },
    ),
    # The partner's admin has a team in Tyne and Wear (made with the world), so reads the
    # cluster's targets as they read its programme report.
    Rule(
        "GET",
        "/api/v1/reports/targets",
        frozenset({"supervisor", "admin", "partner_admin"}),
        query={"scope": "area_cluster", "scope_id": "Tyne and Wear", "quarter": "2026-Q4"},
    ),
    # Equality answers: the client's own; staff may only enter them, on the client's consent,
    # and get nothing back (tests/app/equality/test_equality.py).
    Rule("PUT", "/api/v1/me/equality", frozenset({"client"}), body=fixed({"sex": "male"})),
    Rule("GET", "/api/v1/me/equality", frozenset({"client"})),
    Rule("DELETE", "/api/v1/me/equality", frozenset({"client"}), 204),
    Rule(
        "PUT",
        "/api/v1/clients/{client_id}/equality",
        frozenset(CLINICAL),
        204,
        body=fixed({"client_consents": True, "answers": {"age_band": "25_34"}}),
    ),
    Rule(
        "GET",
        "/api/v1/evaluation/trials/{trial_id}/extract",
        frozenset({"supervisor"}),
        params=closed_trial,
    ),
    # The figures by arm are the programme lead's; clinicians see their own clients' arm only.
    Rule(
        "GET",
        "/api/v1/evaluation/trials/{trial_id}/figures",
        frozenset({"supervisor"}),
        params=closed_trial,
    ),
    Rule("GET", "/api/v1/instruments", ROLES),
    Rule(
        "POST",
        "/api/v1/clients/{client_id}/measures",
        frozenset(CARE),
        201,
        body=fixed({"instrument": "gad7", "answers": {str(n): 0 for n in range(1, 8)}}),
    ),
    Rule("GET", "/api/v1/clients/{client_id}/measures", frozenset(CARE)),
    Rule("GET", "/api/v1/clients/{client_id}/outcomes", frozenset(CARE)),
    Rule("GET", "/api/v1/alerts", frozenset(STAFF)),
    Rule(
        "POST",
        "/api/v1/alerts/{alert_id}/acknowledge",
        frozenset({"therapist"}),
        body=fixed({}),
        params=fresh_alert,
        hidden=frozenset(STAFF - {"therapist"}),
    ),
    Rule("GET", "/api/v1/conversations", ROLES),
    Rule("GET", "/api/v1/conversations/unread", ROLES),
    Rule(
        "POST",
        "/api/v1/conversations",
        frozenset(CLINICAL),
        body=lambda w: {"kind": "team", "team_id": w.ids["team"]},
    ),
    Rule("GET", "/api/v1/conversations/{conversation_id}", frozenset(CLINICAL)),
    Rule("GET", "/api/v1/conversations/{conversation_id}/messages", frozenset(CLINICAL)),
    Rule(
        "GET",
        "/api/v1/conversations/{conversation_id}/search",
        frozenset(CLINICAL),
        query={"q": "review"},
    ),
    Rule("POST", "/api/v1/conversations/{conversation_id}/call", frozenset(CLINICAL), 201),
    Rule("GET", "/api/v1/meetings/ice-servers", ROLES),
    Rule("GET", "/api/v1/meetings", ROLES),
    Rule("GET", "/api/v1/me/today", ROLES),
    Rule(
        "POST",
        "/api/v1/meetings",
        frozenset(CLINICAL),
        201,
        body=lambda w: {
            "kind": "supervision",
            "title": "Reflective practice",
            "team_id": w.ids["team"],
            "starts_at": "2030-01-08T10:00:00Z",
            "ends_at": "2030-01-08T11:00:00Z",
        },
    ),
    Rule("GET", "/api/v1/meetings/{meeting_id}", frozenset(CLINICAL)),
    # Only the host (the keyworker who arranged it) moves or cancels a meeting; colleagues on
    # the care team join it but do not rearrange it.
    Rule(
        "PATCH",
        "/api/v1/meetings/{meeting_id}",
        frozenset({"peer_keyworker"}),
        body=fixed({"title": "Review (moved)"}),
    ),
    Rule(
        "POST",
        "/api/v1/meetings/{meeting_id}/cancel",
        frozenset({"peer_keyworker"}),
        params=new_case_meeting,
    ),
    Rule("GET", "/api/v1/meetings/{meeting_id}/invite.ics", frozenset(CLINICAL)),
    Rule("GET", "/api/v1/meetings/{meeting_id}/attendance", frozenset(CLINICAL)),
    # Guest links into a client's own session: the staff who run it
    # (tests/app/meetings/test_meetings_guests.py).
    Rule(
        "POST",
        "/api/v1/meetings/{meeting_id}/guest-links",
        frozenset(CLINICAL),
        201,
        body=fixed({"kind": "client"}),
        params=new_client_session,
    ),
    Rule(
        "GET",
        "/api/v1/meetings/{meeting_id}/guest-links",
        frozenset(CLINICAL),
        params=new_client_session,
    ),
    Rule(
        "DELETE",
        "/api/v1/meetings/{meeting_id}/guest-links/{link_id}",
        frozenset(CLINICAL),
        204,
        params=new_guest_link,
    ),
    Rule("GET", "/api/v1/audit-events", frozenset({"supervisor", "admin", "partner_admin"})),
    Rule("GET", "/api/v1/audit-events/verify", frozenset({"supervisor", "admin", "partner_admin"})),
    Rule("GET", "/api/v1/admin/jobs", frozenset({"admin", "partner_admin"})),
    # A job nobody has: admins pass the rule and are answered 404 (tests/app/jobs/test_jobs_api.py
    # retries real failed jobs).
    Rule(
        "POST",
        "/api/v1/admin/jobs/{job_id}/retry",
        frozenset({"admin", "partner_admin"}),
        ok=404,
        params=fixed({"job_id": "00000000-0000-4000-8000-000000000000"}),
    ),
    # The state of the service (tests/app/system/test_system_api.py).
    Rule("GET", "/api/v1/admin/system", frozenset({"admin", "partner_admin"})),
    # Everyone has their own notification settings and devices
    # (tests/app/notifications/test_notifications_api.py).
    Rule("GET", "/api/v1/me/notifications", ROLES),
    Rule("PUT", "/api/v1/me/notifications", ROLES, body=fixed(NOTIFICATION_SETTINGS)),
    Rule(
        "POST",
        "/api/v1/me/notifications/push-subscriptions",
        ROLES,
        201,
        body=lambda _w: {
            "endpoint": f"https://push.example.org/{uuid.uuid4().hex}",
            "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
        },
    ),
    Rule(
        "GET",
        "/api/v1/users/{user_id}/notification-status",
        frozenset({"admin"}),
        hidden=frozenset({"partner_admin"}),
    ),
    # Documents: a record's readers (the client, documents shared with them); the conversation's
    # members; whoever sees the meeting. An upload is continued by its starter alone.
    Rule("GET", "/api/v1/clients/{client_id}/documents", frozenset(CARE)),
    Rule("GET", "/api/v1/conversations/{conversation_id}/documents", frozenset(CLINICAL)),
    Rule("GET", "/api/v1/meetings/{meeting_id}/documents", frozenset(CLINICAL)),
    Rule(
        "POST",
        "/api/v1/documents/uploads",
        frozenset(CARE),
        201,
        body=lambda w: {"client_id": w.ids["client"], "filename": "a.txt", "size": 10},
    ),
    # A file of one chunk in one request: the place in the query, the bytes as the body.
    Rule(
        "POST",
        "/api/v1/documents",
        frozenset(CARE),
        201,
        body=lambda _w: CHUNK_TEXT,
        query=lambda w: {"client_id": w.ids["client"], "filename": "a.txt"},
    ),
    Rule("GET", "/api/v1/documents/limits", ROLES),
    Rule(
        "GET",
        "/api/v1/documents/uploads/{upload_id}",
        frozenset({"peer_keyworker"}),
        params=fresh_upload,
    ),
    Rule(
        "PUT",
        "/api/v1/documents/uploads/{upload_id}/chunks/{offset}",
        frozenset({"peer_keyworker"}),
        body=lambda _w: CHUNK_TEXT,
        params=fresh_upload,
    ),
    Rule(
        "POST",
        "/api/v1/documents/uploads/{upload_id}/complete",
        frozenset({"peer_keyworker"}),
        201,
        params=sent_upload,
    ),
    Rule("GET", "/api/v1/documents/{document_id}", frozenset(CARE), params=shared_document),
    # Staff who may change the record rename and share; the client only what they uploaded.
    Rule(
        "PATCH",
        "/api/v1/documents/{document_id}",
        frozenset(CLINICAL),
        body=lambda _w: {"title": "Renamed in the permission table"},
        params=shared_document,
    ),
    Rule(
        "DELETE",
        "/api/v1/documents/{document_id}",
        frozenset(CLINICAL),
        body=lambda _w: {"reason": "Checked by the permission table"},
        params=fresh_document,
    ),
    Rule(
        "POST",
        "/api/v1/documents/{document_id}/versions/{number}/download",
        frozenset(CARE),
        201,
        body=lambda _w: {},
        params=shared_document,
    ),
]

# Routes every signed-in person (or anyone) uses for themselves, tested in their own modules.
SELF_SERVICE = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/login/mfa"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/mfa/enrol"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/mfa/recovery-codes"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # Public steps of invitations and single sign-on (tests/auth/invitations/test_invitations.py,
    # tests/auth/sso/test_sso.py).
    ("POST", "/api/v1/invitations/accept"),
    ("GET", "/api/v1/auth/sso/providers"),
    ("GET", "/api/v1/auth/sso/{slug}/login"),
    ("GET", "/api/v1/auth/sso/{slug}/callback"),
    ("GET", "/api/v1/auth/sso/failures/{failure}"),
    ("POST", "/api/v1/auth/sso/exchange"),
    # Public questionnaire links, opened and answered without signing in (test_measure_links.py).
    ("GET", "/api/v1/measure-links/{token}"),
    ("POST", "/api/v1/measure-links/{token}"),
    # Public guest links into a client session, opened without signing in
    # (tests/app/meetings/test_meetings_guests.py).
    ("GET", "/api/v1/guest-links/{token}"),
    ("POST", "/api/v1/guest-links/{token}/join"),
    # What the sign-in page shows before anyone signs in: the name, and in a demo the demo
    # logins (tests/app/meta/test_meta.py).
    ("GET", "/api/v1/meta"),
    # A file by its download token, which is its only authority (tests/app/documents/).
    ("GET", "/files/{token}"),
    # Removing one's own push subscription needs one of one's own (test_notifications_api.py).
    ("DELETE", "/api/v1/me/notifications/push-subscriptions/{subscription_id}"),
}


def test_every_route_is_in_the_table(live: Live) -> None:
    with live.client() as http:
        spec = http.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    covered = {(r.method, r.path) for r in RULES} | SELF_SERVICE
    missing = routes - covered
    assert not missing, f"routes without a permission rule: {sorted(missing)}"


def _path(rule: Rule, w: World, extra: dict[str, str]) -> str:
    values = {
        "conversation_id": w.ids["conversation"],
        "meeting_id": w.ids["meeting"],
        "organisation_id": w.ids["organisation"],
        "team_id": w.ids["team"],
        "user_id": w.ids["therapist_user"],
        "client_id": w.ids["client"],
        **extra,
    }
    return rule.path.format(**values)


@pytest.mark.parametrize("role", ROLES_ORDER)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.method} {r.path}")
def test_route_by_role(world: World, rule: Rule, role: str) -> None:
    extra = rule.params(world) if rule.params else {}
    path = _path(rule, world, extra)
    kwargs = {"json": rule.body(world)} if rule.body else {}
    headers = rule.headers(world) if rule.headers else None
    query = rule.query(world) if callable(rule.query) else rule.query
    reply = world.session(role).http.request(
        rule.method, path, params=query, headers=headers, **kwargs
    )
    if role in rule.allowed:
        assert reply.status_code == rule.ok, f"{role} {rule.method} {path}: {reply.text}"
    elif role in rule.hidden:
        problem(reply, 404)
    else:
        problem(reply, 403)


def test_refusals_are_audited(world: World) -> None:
    outsider = world.session("outsider")
    problem(outsider.get(f"/api/v1/clients/{world.ids['client']}"), 403)
    events = (
        world.session("supervisor")
        .get(
            "/api/v1/audit-events",
            params={"client_id": world.ids["client"], "actor_id": outsider.user["id"]},
        )
        .json()["items"]
    )
    assert events and events[0]["outcome"] == "denied" and events[0]["action"] == "client.read"


def test_changing_another_organisation_is_refused_and_audited(world: World) -> None:
    """The partner's admin may not rename the trust: 403 in the policy's words, in the trail."""
    partner = world.session("partner_admin")
    trust = world.ids["organisation"]
    refused = partner.patch(f"/api/v1/organisations/{trust}", json={"name": "Taken Over"})
    problem(refused, 403)
    assert refused.json()["detail"] == (
        "You do not have access to this: admins manage their own organisation only."
    )
    events = partner.get(
        "/api/v1/audit-events",
        params={"actor_id": partner.user["id"], "action": "organisation.update"},
    ).json()["items"]
    assert events and events[0]["outcome"] == "denied", events
    assert events[0]["resource_id"] == trust, events[0]
    shown = world.session("admin").get(f"/api/v1/organisations/{trust}").json()
    assert shown["name"] != "Taken Over"
