"""An admin never sees clinical content, not even through the accounts it manages.

The attack an outside review found: the admin makes a supervisor account, names it a therapist's
supervisor, and reads the therapist's clients' plans and case threads through it. The admin
controls everything about an account it makes, its email address included, so each defence here
assumes the admin can sign in as any account it made: what stops it is that a supervision link
opens nothing until the supervisee (who already holds the clinical relationship, and whom the
admin does not control) accepts it, that no admin ever sets a password, that an admin cannot
turn an account into a clinician or itself into one, and that admins and other organisations'
people are never put on a team. Every step runs over HTTP against a real server.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import PARTNER_ADMIN_EMAIL, Live, Session, problem
from tests.support.builders import arrange_meeting, client_id_of


def _case_thread(live: Live, client_id: str) -> str:
    opened = live.as_role("peer_keyworker").post(
        "/api/v1/conversations", json={"kind": "case", "client_id": client_id}
    )
    assert opened.status_code == 200, opened.text
    return str(opened.json()["id"])


def _user_id(live: Live, email: str) -> str:
    users = live.as_role("admin").get("/api/v1/users", params={"limit": 200}).json()["items"]
    return str(next(u["id"] for u in users if u["email"] == email))


def _denied(live: Live, action: str, actor_id: str) -> list[dict[str, Any]]:
    reply = live.as_role("admin").get(
        "/api/v1/audit-events", params={"action": action, "actor_id": actor_id, "limit": "200"}
    )
    assert reply.status_code == 200, reply.text
    return [e for e in reply.json()["items"] if e["outcome"] == "denied"]


def _reads_nothing_of(session: Session, client_id: str, thread: str) -> None:
    problem(session.get(f"/api/v1/clients/{client_id}"), 403)
    problem(session.get(f"/api/v1/clients/{client_id}/plan"), 403)
    problem(session.get(f"/api/v1/conversations/{thread}/messages"), 403)
    listed = session.get("/api/v1/clients", params={"limit": 200})
    assert listed.status_code == 200, listed.text
    assert client_id not in {c["id"] for c in listed.json()["items"]}


def test_an_admin_cannot_read_records_through_a_supervisor_account_it_made(live: Live) -> None:
    admin = live.as_role("admin")
    alex = client_id_of(live, "Alex Morgan")
    thread = _case_thread(live, alex)
    tom = live.as_role("therapist")  # on Alex's care team
    tom_id = str(tom.user["id"])

    # No admin sets a password: the account the attack began with cannot be made.
    email = f"shadow-supervisor-{uuid.uuid4().hex[:8]}@tyneside.example"
    with_password = admin.post(
        "/api/v1/users",
        json={
            "email": email,
            "display_name": "Sofia Lind",
            "role": "supervisor",
            "password": "chosen-by-the-admin-1",
        },
    )
    problem(with_password, 422)

    # The admin invites an address it owns and so accepts the link itself: it now runs a
    # supervisor account, signed in with a second factor it enrolled.
    shadow = live.new_account(email, "Sofia Lind", "supervisor")
    as_shadow = live.sign_in(email)

    # The attack: name it Tom's supervisor, then read Alex's plan and case thread through it.
    proposed = admin.put(f"/api/v1/users/{tom_id}/supervisor", json={"supervisor_id": shadow["id"]})
    assert proposed.status_code == 200, proposed.text
    link = proposed.json()
    assert (link["status"], link["accepted_at"], link["proposed_by"]) == (
        "pending",
        None,
        admin.user["id"],
    )
    _reads_nothing_of(as_shadow, alex, thread)
    problem(as_shadow.get(f"/api/v1/wellbeing/people/{tom_id}/check-ins"), 403)
    supervisees = as_shadow.get("/api/v1/supervision/supervisees")
    assert supervisees.status_code == 200 and supervisees.json() == [], supervisees.text

    # Nobody but Tom decides: not the proposed supervisor, not the admin. Both are audited.
    for session in (as_shadow, admin):
        problem(session.post(f"/api/v1/supervision/links/{link['id']}/accept"), 403)
    assert _denied(live, "supervision.link_accept", shadow["id"])
    assert _denied(live, "supervision.link_accept", str(admin.user["id"]))

    # Tom sees who was proposed (by name and email) and declines; nothing changed for him.
    mine = {x["id"]: x for x in tom.get("/api/v1/supervision/links").json()}
    assert mine[link["id"]]["status"] == "pending"
    assert mine[link["id"]]["supervisor_email"] == email
    declined = tom.post(f"/api/v1/supervision/links/{link['id']}/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    problem(tom.post(f"/api/v1/supervision/links/{link['id']}/accept"), 409)
    _reads_nothing_of(as_shadow, alex, thread)
    # Tom's own supervisor is still his supervisor.
    assert tom_id in {
        s["user_id"]
        for s in live.as_role("supervisor").get("/api/v1/supervision/supervisees").json()
    }


def test_a_supervisor_reads_the_records_only_once_the_supervisee_accepted(live: Live) -> None:
    """The control: the same link, accepted by the supervisee, opens the records, so the
    refusal above comes from the missing acceptance and nothing else."""
    alex = client_id_of(live, "Alex Morgan")
    thread = _case_thread(live, alex)
    suffix = uuid.uuid4().hex[:8]
    therapist = live.new_account(f"tess-{suffix}@tyneside.example", "Tess Hale", "therapist")
    added = live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{alex}/care-team", json={"user_id": therapist["id"]}
    )
    assert added.status_code == 201, added.text
    supervisor = live.new_account(f"sam-{suffix}@tyneside.example", "Sam Reid", "supervisor")
    as_supervisor = live.sign_in(f"sam-{suffix}@tyneside.example")
    as_therapist = live.sign_in(f"tess-{suffix}@tyneside.example")

    proposed = live.as_role("admin").put(
        f"/api/v1/users/{therapist['id']}/supervisor", json={"supervisor_id": supervisor["id"]}
    )
    assert proposed.status_code == 200, proposed.text
    _reads_nothing_of(as_supervisor, alex, thread)

    accepted = as_therapist.post(f"/api/v1/supervision/links/{proposed.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active" and accepted.json()["accepted_at"]
    assert as_supervisor.get(f"/api/v1/clients/{alex}/plan").status_code == 200
    assert as_supervisor.get(f"/api/v1/conversations/{thread}/messages").status_code == 200
    events = live.as_role("admin").get(
        "/api/v1/audit-events",
        params={"action": "supervision.link_accept", "actor_id": therapist["id"]},
    )
    assert [e["outcome"] for e in events.json()["items"]] == ["success"]


def test_an_admin_cannot_make_itself_or_another_admin_a_clinician(live: Live) -> None:
    admin = live.as_role("admin")
    me = str(admin.user["id"])
    for role in ("supervisor", "therapist"):
        problem(admin.patch(f"/api/v1/users/{me}", json={"role": role}), 403)
    assert admin.get("/api/v1/auth/me").json()["role"] == "admin"
    # Nor a client's login into staff.
    client = _user_id(live, "alex.morgan@example.org")
    problem(admin.patch(f"/api/v1/users/{client}", json={"role": "therapist"}), 403)
    assert len(_denied(live, "user.update", me)) >= 3
    # Among the clinical roles a role still changes.
    suffix = uuid.uuid4().hex[:8]
    person = live.new_account(f"kim-{suffix}@tyneside.example", "Kim Ray", "peer_keyworker")
    changed = admin.patch(f"/api/v1/users/{person['id']}", json={"role": "therapist"})
    assert changed.status_code == 200 and changed.json()["role"] == "therapist", changed.text


def test_a_team_takes_only_clinical_staff_of_its_own_organisation(live: Live) -> None:
    admin = live.as_role("admin")
    teams = admin.get("/api/v1/teams", params={"limit": 200}).json()["items"]
    team = next(t["id"] for t in teams if t["name"] == "Newcastle IPS Team")
    members = f"/api/v1/teams/{team}/members"
    partner_admin = _user_id_of(live.as_email(PARTNER_ADMIN_EMAIL))
    # Another organisation's admin (or anyone of it) is not found from here, as everywhere.
    problem(admin.post(members, json={"user_id": partner_admin}), 404)
    # An admin does not join a team (its members read the team's conversation), itself or
    # another.
    problem(admin.post(members, json={"user_id": str(admin.user["id"])}), 403)
    assert _denied(live, "team.member_add", str(admin.user["id"]))
    on_team = {m["user_id"] for m in admin.get(members).json()}
    assert partner_admin not in on_team and str(admin.user["id"]) not in on_team


def _user_id_of(session: Session) -> str:
    return str(session.user["id"])


def test_an_admin_put_on_a_team_reads_nothing_of_it_until_the_team_confirms(live: Live) -> None:
    """The admin invites an account onto a team (``team_id``), accepts the link itself (it
    controls the address), signs in with the second factor, and tries the team's conversation,
    meetings and colleagues: all refused while the membership is only proposed. Once the team's
    supervisor confirms it, the same account reads them (the control)."""
    admin = live.as_role("admin")
    suffix = uuid.uuid4().hex[:8]
    team = admin.post(
        "/api/v1/teams", json={"name": f"Gated team {suffix}", "area_cluster": "Tyne and Wear"}
    )
    assert team.status_code == 201, team.text
    team_id = str(team.json()["id"])
    lead_email = f"lead-{suffix}@tyneside.example"
    lead_id = str(live.new_account(lead_email, "Lena Lead", "supervisor")["id"])
    # The first member of a new, empty team is in force at once: nothing there yet to read.
    [first] = live.join_team(team_id, lead_id, admin=admin)
    assert first["status"] == "active"
    lead = live.as_email(lead_email)
    chat = lead.post("/api/v1/conversations", json={"kind": "team", "team_id": team_id})
    assert chat.status_code == 200, chat.text
    conversation = str(chat.json()["id"])
    meeting = arrange_meeting(
        lead,
        kind="case_meeting",
        title="Team huddle",
        team_id=team_id,
        starts_at="2030-01-07T10:00:00Z",
        ends_at="2030-01-07T11:00:00Z",
    )
    meeting_id = str(meeting["id"])

    # The admin's account: invited with the team, accepted by the admin with its own password.
    email = f"mole-{suffix}@tyneside.example"
    made = live.new_account(
        email, "Mo Le", "therapist", admin=admin, password="admin-chose-this-one", team_id=team_id
    )
    mole_id = str(made["id"])
    mole = live.sign_in(email, "admin-chose-this-one")

    def reach() -> dict[str, int]:
        return {
            "open": mole.post(
                "/api/v1/conversations", json={"kind": "team", "team_id": team_id}
            ).status_code,
            "read": mole.get(f"/api/v1/conversations/{conversation}/messages").status_code,
            "listed": int(
                conversation in {c["id"] for c in mole.get("/api/v1/conversations").json()["items"]}
            ),
            "meeting": mole.get(f"/api/v1/meetings/{meeting_id}").status_code,
            "meetings": int(meeting_id in {m["id"] for m in mole.get("/api/v1/meetings").json()}),
            # Who may be messaged directly is who is a contact: the presence audience.
            "colleague": mole.post(
                "/api/v1/conversations", json={"kind": "direct", "user_id": lead_id}
            ).status_code,
            "team view": mole.get(f"/api/v1/teams/{team_id}/members").status_code,
        }

    refused = reach()
    assert refused["open"] == 403 and refused["read"] in (403, 404), refused
    assert refused["listed"] == 0 and refused["meetings"] == 0, refused
    assert refused["meeting"] in (403, 404) and refused["colleague"] == 403, refused
    # Neither the admin nor its account confirms; the lead sees the proposal, named.
    problem(admin.post(f"/api/v1/teams/{team_id}/members/{mole_id}/confirm"), 403)
    problem(mole.post(f"/api/v1/teams/{team_id}/members/{mole_id}/confirm"), 403)
    assert _denied(live, "team.member_confirm", str(admin.user["id"]))
    assert _denied(live, "team.member_confirm", mole_id)
    waiting = lead.get("/api/v1/teams/pending-members").json()
    assert [(p["user_id"], p["email"]) for p in waiting if p["team_id"] == team_id] == [
        (mole_id, email)
    ]
    assert admin.get("/api/v1/teams/pending-members").json() == []

    # The control: once the team's supervisor confirms, the same calls succeed.
    confirmed = lead.post(f"/api/v1/teams/{team_id}/members/{mole_id}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    problem(lead.post(f"/api/v1/teams/{team_id}/members/{mole_id}/confirm"), 409)
    allowed = reach()
    assert allowed["open"] == 200 and allowed["read"] == 200 and allowed["listed"] == 1, allowed
    assert allowed["meeting"] == 200 and allowed["meetings"] == 1, allowed
    assert allowed["colleague"] == 200, allowed
