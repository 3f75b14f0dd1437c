"""Who changes and cancels a meeting, over real HTTP: its host only, not every colleague who may
join it; the others are refused, the refusal audited, and nothing changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.meetings.schemas import MAX_INVITEES
from app.users.models import Role, User
from auth.policies import meetings as meeting_policies
from tests.conftest import Live, Session, problem
from tests.support.builders import client_id_of


def _refusals(live: Live, user_agent: str, actor: Session) -> list[dict[str, Any]]:
    """The ``route.refused`` events of one person's attempts, as the trust's supervisor reads
    the audit trail."""
    reply = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"limit": "200", "actor_id": actor.user["id"], "action": "route.refused"},
    )
    assert reply.status_code == 200, reply.text
    return [e for e in reply.json()["items"] if e["user_agent"] == user_agent]


def test_only_the_host_changes_or_cancels_a_meeting(live: Live) -> None:
    host = live.as_role("peer_keyworker")
    therapist = live.as_role("therapist")
    supervisor = live.as_role("supervisor")
    made = host.post(
        "/api/v1/meetings",
        json={
            "kind": "case_meeting",
            "title": "Care team review",
            "client_id": client_id_of(live, "Alex Morgan"),
            "starts_at": "2030-04-01T10:00:00Z",
            "ends_at": "2030-04-01T11:00:00Z",
            "invitee_ids": [therapist.user["id"]],
        },
    )
    assert made.status_code == 201, made.text
    meeting = made.json()
    path = f"/api/v1/meetings/{meeting['id']}"

    # Colleagues on the care team (and the supervisor of its members) run the call with the
    # host, and may see the meeting, but neither move nor cancel it.
    for colleague in (therapist, supervisor):
        assert colleague.get(path).status_code == 200
        ua = f"not-the-host-{uuid.uuid4().hex[:10]}"
        headers = {"User-Agent": ua}
        moved = problem(
            colleague.patch(
                path,
                json={"title": "Moved by someone else", "starts_at": "2030-04-01T10:30:00Z"},
                headers=headers,
            ),
            403,
        )
        assert "host" in moved["detail"]
        problem(colleague.post(f"{path}/cancel", headers=headers), 403)
        refused = _refusals(live, ua, colleague)
        assert sorted(e["resource_id"] for e in refused) == [f"PATCH {path}", f"POST {path}/cancel"]
        assert {e["outcome"] for e in refused} == {"denied"}

    unchanged = host.get(path).json()
    assert unchanged == meeting  # same title, time, sequence, and not cancelled

    moved = host.patch(path, json={"title": "Care team review (moved)"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["title"] == "Care team review (moved)"
    assert moved.json()["ical_sequence"] == 1
    cancelled = host.post(f"{path}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_at"] is not None


def _person(role: Role) -> User:
    return User(
        id=uuid.uuid4(),
        organisation_id=uuid.uuid4(),
        email="someone@example.org",
        display_name="Someone",
        role=role,
    )


def test_the_change_policy_wants_the_host_who_still_runs_the_meeting() -> None:
    host = _person(Role.peer_keyworker)
    colleague = _person(Role.therapist)
    assert meeting_policies.can_change_meeting(host, host_id=host.id, runs_it=True)
    assert not meeting_policies.can_change_meeting(colleague, host_id=host.id, runs_it=True)
    # A host taken off the care team (or deactivated) no longer changes the client's meetings.
    left = meeting_policies.can_change_meeting(host, host_id=host.id, runs_it=False)
    assert not left and "care team" in left.reason


def test_meeting_times_and_fields_are_taken_only_as_documented(live: Live) -> None:
    """docs/meetings.md, "Request bodies": a time is an RFC 3339 string with its offset, and a
    field the body does not have is refused rather than ignored."""
    host = live.as_role("peer_keyworker")
    body = {
        "kind": "case_meeting",
        "title": "Care team review",
        "client_id": client_id_of(live, "Alex Morgan"),
        "starts_at": "2030-04-03T10:00:00Z",
        "ends_at": "2030-04-03T11:00:00Z",
    }
    wrong: list[tuple[dict[str, Any], list[str]]] = [
        # Without an offset the time would be some zone's local time.
        (
            {"starts_at": "2030-04-03T10:00:00", "ends_at": "2030-04-03T11:00:00"},
            ["starts_at", "ends_at"],
        ),
        # Numbers (or strings of them) are not taken for seconds since 1970.
        ({"starts_at": 1901440800}, ["starts_at"]),
        ({"ends_at": "1901444400"}, ["ends_at"]),
        ({"starts_at": "2030-04-03"}, ["starts_at"]),
        ({"host_id": host.user["id"]}, ["host_id"]),
    ]
    for change, fields in wrong:
        refused = problem(host.post("/api/v1/meetings", json={**body, **change}), 422)
        assert [e["field"] for e in refused["errors"]] == [f"body.{f}" for f in fields], refused
    # At most MAX_INVITEES (50) invitees: 51 is refused by validation, 50 gets as far as looking
    # the people up (these ids are no one's).
    many = [str(uuid.uuid4()) for _ in range(MAX_INVITEES + 1)]
    too_many = problem(host.post("/api/v1/meetings", json={**body, "invitee_ids": many}), 422)
    assert [e["field"] for e in too_many["errors"]] == ["body.invitee_ids"]
    at_most = host.post("/api/v1/meetings", json={**body, "invitee_ids": many[:MAX_INVITEES]})
    assert "No active person" in problem(at_most, 404)["detail"]
    made = host.post("/api/v1/meetings", json={**body, "starts_at": "2030-04-03T11:00:00+01:00"})
    assert made.status_code == 201, made.text
    starts = datetime.fromisoformat(made.json()["starts_at"])
    assert starts == datetime(2030, 4, 3, 10, tzinfo=UTC)
    path = f"/api/v1/meetings/{made.json()['id']}"
    problem(host.patch(path, json={"ends_at": "2030-04-03T12:00:00"}), 422)
    problem(host.patch(path, json={"title": "Moved", "cancelled": True}), 422)
    problem(host.patch(path, json={"invitee_ids": many}), 422)
    assert host.patch(path, json={"ends_at": None, "title": "Moved"}).json()["title"] == "Moved"


def _emails_to(live: Live, email: str) -> list[str]:
    """The subjects and bodies of the emails sent to ``email``, from the server's log (the test
    servers send email with the log backend, before answering)."""
    assert live.server.log_path is not None
    text = live.server.log_path.read_text(errors="replace")
    marker = f"email to {email.strip().lower()}:"
    return [part.split("\n[attachment", 1)[0] for part in text.split(marker)[1:]]


def test_the_host_changes_who_is_invited_and_those_taken_off_are_told(live: Live) -> None:
    host = live.as_role("peer_keyworker")
    therapist = live.as_role("therapist")
    specialist = live.as_role("employment_specialist")
    title = f"Invitees {uuid.uuid4().hex[:6]}"
    made = host.post(
        "/api/v1/meetings",
        json={
            "kind": "case_meeting",
            "title": title,
            "client_id": client_id_of(live, "Alex Morgan"),
            "starts_at": "2030-05-01T10:00:00Z",
            "ends_at": "2030-05-01T11:00:00Z",
            "invitee_ids": [therapist.user["id"]],
        },
    )
    assert made.status_code == 201, made.text
    path = f"/api/v1/meetings/{made.json()['id']}"
    before = {
        who: len(_emails_to(live, s.email)) for who, s in (("t", therapist), ("e", specialist))
    }

    added = host.patch(path, json={"invitee_ids": [specialist.user["id"]]})
    assert added.status_code == 200, added.text
    assert added.json()["invitee_ids"] == [specialist.user["id"]]
    assert added.json()["ical_sequence"] == 1

    to_therapist = _emails_to(live, therapist.email)[before["t"] :]
    to_specialist = _emails_to(live, specialist.email)[before["e"] :]
    assert len(to_therapist) == 1 and len(to_specialist) == 1
    assert to_therapist[0].startswith(" Teamwell meeting cancelled\n")
    assert "no longer invited" in to_therapist[0]
    assert to_specialist[0].startswith(" Teamwell meeting updated\n")
    for sent in to_therapist + to_specialist:
        assert title not in sent  # no clinical detail leaves Teamwell in email

    # A change that keeps the list tells no one they were taken off.
    kept = host.patch(path, json={"title": f"{title} (moved)"})
    assert kept.status_code == 200, kept.text
    assert len(_emails_to(live, therapist.email)) == before["t"] + 1


def test_the_demo_has_a_past_case_meeting_with_its_attendance(live: Live) -> None:
    """A fresh demo shows a past case meeting and who came to it (app/demo.py)."""
    keyworker = live.as_role("peer_keyworker")
    found = keyworker.get(
        "/api/v1/meetings", params={"client_id": client_id_of(live, "Alex Morgan")}
    )
    assert found.status_code == 200, found.text
    (held,) = [m for m in found.json() if m["title"] == "Case review: Alex Morgan"]
    assert held["kind"] == "case_meeting"
    assert held["state"] == "ended" and held["cancelled_at"] is None
    assert datetime.fromisoformat(held["ends_at"]) < datetime.now(UTC)
    rows = keyworker.get(f"/api/v1/meetings/{held['id']}/attendance")
    assert rows.status_code == 200, rows.text
    minutes = {row["name"]: row["minutes"] for row in rows.json()}
    assert minutes == {"Priya Shah": 45.0, "Tom Okafor": 43.0, "Erin Walsh": 32.0}
    assert {row["state"] for row in rows.json()} == {"left"}
