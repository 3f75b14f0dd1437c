"""Wellbeing check-ins and supervision through the API, on a real server: who may read a
person's check-ins, the text sealed at rest, "I'd like to talk" reaching the supervisor live,
the cadence, supervision records seen only by their supervisor and attendees, and overdue
supervision by the cadence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.messaging.keyring import KEY_FILE_NAME, MessageKeyring, UndecryptableMessage
from app.supervision.check_ins import check_in_aad
from app.supervision.records import notes_aad
from tests.conftest import Live, Session, problem, teamwell_cli
from tests.support.builders import (
    Person,
    arrange_meeting,
    days_from_today,
    new_staff,
    new_team,
    supervise,
)
from tests.support.net import wait_until
from tests.support.ws import WsClient

TEXT_MAX = 2000  # TEAMWELL_WELLBEING_TEXT_MAX_CHARS, default
NOTES_MAX = 20_000  # TEAMWELL_SUPERVISION_NOTES_MAX_CHARS, default


@dataclass
class Cast:
    supervisor: Person
    keyworker: Person  # supervised by `supervisor`
    therapist: Person  # supervised by `supervisor`
    colleague: Person  # supervised by `other_supervisor`
    other_supervisor: Person


@pytest.fixture(scope="module")
def cast(live: Live) -> Cast:
    people = Cast(
        supervisor=new_staff(live, "supervisor", "Sasha Supervisor"),
        keyworker=new_staff(live, "peer_keyworker", "Kai Keyworker"),
        therapist=new_staff(live, "therapist", "Tess Therapist"),
        colleague=new_staff(live, "therapist", "Cal Colleague"),
        other_supervisor=new_staff(live, "supervisor", "Otto Othersup"),
    )
    supervise(live, people.supervisor, people.keyworker)
    supervise(live, people.supervisor, people.therapist)
    supervise(live, people.other_supervisor, people.colleague)
    return people


def check_in(person: Person, **fields: Any) -> dict[str, Any]:
    body = {"mood": 3, "workload": 3, "stress": 3, "support": 3, **fields}
    made = person.session.post("/api/v1/wellbeing/check-ins", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def history(session: Session, person_id: str) -> list[dict[str, Any]]:
    reply = session.get(f"/api/v1/wellbeing/people/{person_id}/check-ins")
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def audit_events(live: Live, actor: Person, action: str) -> list[dict[str, Any]]:
    reply = live.as_role("admin").get(
        "/api/v1/audit-events", params={"actor_id": actor.id, "action": action}
    )
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def stored_row(live: Live, table: str, columns: str, row_id: str) -> tuple[Any, ...]:
    """A row as the database holds it (what no API shows). The request's transaction commits
    as its response goes out, so this waits (boundedly) for the row to be there."""
    url = live.env["TEAMWELL_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    key = uuid.UUID(row_id) if live.backend == "postgres" else uuid.UUID(row_id).hex
    engine = sa.create_engine(url)
    found: list[sa.Row[Any]] = []

    def read() -> bool:
        with engine.connect() as connection:
            found.extend(
                connection.execute(
                    sa.text(f"SELECT {columns} FROM {table} WHERE id = :id"), {"id": key}
                ).all()
            )
        return bool(found)

    try:
        assert wait_until(read, timeout=10), f"no {table} row {row_id}"
    finally:
        engine.dispose()
    return tuple(found[0])


def keyring_of(live: Live) -> MessageKeyring:
    return MessageKeyring.from_file(Path(live.data_dir) / KEY_FILE_NAME)


# --- check-ins -------------------------------------------------------------------------------


def test_a_check_in_is_kept_with_its_text_sealed_to_its_row(live: Live, cast: Cast) -> None:
    text = "Heavy caseload this week; two clients in crisis."
    made = check_in(cast.keyworker, mood=4, workload=5, stress=2, support=1, text=text)
    assert (made["mood"], made["workload"], made["stress"], made["support"]) == (4, 5, 2, 1)
    assert made["text"] == text and made["user_id"] == cast.keyworker.id
    assert made["wants_to_talk"] is False and made["supervisors_notified"] == 0

    mine = cast.keyworker.session.get("/api/v1/wellbeing/check-ins").json()["items"]
    assert mine[0]["id"] == made["id"] and mine[0]["text"] == text

    key_id, sealed = stored_row(
        live, "wellbeing_check_in", "text_key_id, text_ciphertext", made["id"]
    )
    assert text.encode() not in bytes(sealed)
    keyring = keyring_of(live)
    own_row = check_in_aad(uuid.UUID(made["id"]), uuid.UUID(cast.keyworker.id))
    assert keyring.decrypt(key_id, bytes(sealed), aad=own_row) == text
    # Sealed to this row and this person: on another row, or another person's, it does not open.
    with pytest.raises(UndecryptableMessage):
        keyring.decrypt(
            key_id, bytes(sealed), aad=check_in_aad(uuid.uuid4(), uuid.UUID(cast.keyworker.id))
        )
    with pytest.raises(UndecryptableMessage):
        keyring.decrypt(
            key_id, bytes(sealed), aad=check_in_aad(uuid.UUID(made["id"]), uuid.uuid4())
        )


def test_whitespace_only_text_is_no_text(live: Live, cast: Cast) -> None:
    made = check_in(cast.keyworker, text="   \n ")
    assert made["text"] is None
    key_id, sealed = stored_row(
        live, "wellbeing_check_in", "text_key_id, text_ciphertext", made["id"]
    )
    assert key_id is None and sealed is None


def test_only_the_person_and_their_supervisor_read_check_ins(live: Live, cast: Cast) -> None:
    made = check_in(cast.therapist, mood=2, text="Struggling with a complaint")
    person = cast.therapist.id
    assert made["id"] in [c["id"] for c in history(cast.supervisor.session, person)]
    assert made["id"] in [c["id"] for c in history(cast.therapist.session, person)]

    refused = {
        "a colleague": cast.colleague.session,
        "another supervisor": cast.other_supervisor.session,
        "an admin": live.as_role("admin"),
        "a client": live.as_role("client"),
        "the demo supervisor": live.as_role("supervisor"),
    }
    for who, session in refused.items():
        reply = session.get(f"/api/v1/wellbeing/people/{person}/check-ins")
        body = problem(reply, 403)
        assert "Struggling" not in reply.text, who
        assert body["status"] == 403
    # Asking about someone who does not exist says no more than asking about a real person.
    problem(cast.colleague.session.get(f"/api/v1/wellbeing/people/{uuid.uuid4()}/check-ins"), 403)

    denied = audit_events(live, cast.colleague, "wellbeing.read")
    assert denied[0]["outcome"] == "denied" and denied[0]["resource_type"] == "wellbeing"
    assert denied[1]["resource_id"] == person and denied[1]["outcome"] == "denied"
    read = audit_events(live, cast.supervisor, "wellbeing.read")
    assert any(e["resource_id"] == person and e["outcome"] == "success" for e in read)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mood": 0}, "body.mood"),
        ({"mood": 6}, "body.mood"),
        ({"workload": "3"}, "body.workload"),
        ({"stress": 2.5}, "body.stress"),
        ({"support": True}, "body.support"),
        ({"support": None}, "body.support"),
        ({"wants_to_talk": "yes"}, "body.wants_to_talk"),
        ({"wants_to_talk": 1}, "body.wants_to_talk"),
        ({"energy": 3}, "body.energy"),
        ({"text": 42}, "body.text"),
    ],
)
def test_invalid_check_ins_are_refused_naming_the_field(
    cast: Cast, change: dict[str, Any], field: str
) -> None:
    body = {"mood": 3, "workload": 3, "stress": 3, "support": 3, **change}
    reply = cast.keyworker.session.post("/api/v1/wellbeing/check-ins", json=body)
    refused = problem(reply, 422)
    assert field in [e["field"] for e in refused["errors"]], refused


def test_a_missing_measure_is_named(cast: Cast) -> None:
    reply = cast.keyworker.session.post(
        "/api/v1/wellbeing/check-ins", json={"mood": 3, "workload": 3, "support": 3}
    )
    assert "body.stress" in [e["field"] for e in problem(reply, 422)["errors"]]


def test_text_is_kept_up_to_its_limit(cast: Cast) -> None:
    assert len(check_in(cast.keyworker, text="x" * TEXT_MAX)["text"]) == TEXT_MAX
    reply = cast.keyworker.session.post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": 3, "workload": 3, "stress": 3, "support": 3, "text": "x" * (TEXT_MAX + 1)},
    )
    refused = problem(reply, 422)
    assert refused["errors"] == [
        {"field": "body.text", "message": f"at most {TEXT_MAX} characters"}
    ]


def test_clients_do_not_check_in(live: Live) -> None:
    problem(
        live.as_role("client").post(
            "/api/v1/wellbeing/check-ins",
            json={"mood": 3, "workload": 3, "stress": 3, "support": 3},
        ),
        403,
    )
    problem(live.as_role("client").get("/api/v1/wellbeing/prompt"), 403)


# --- "I'd like to talk" ----------------------------------------------------------------------


async def test_wish_to_talk_reaches_the_supervisor_live_and_is_acknowledged(
    live: Live, cast: Cast
) -> None:
    supervisor = cast.supervisor.session
    socket = await WsClient.connect(live.base_url, supervisor.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        made = check_in(cast.keyworker, mood=1, stress=5, wants_to_talk=True, text="Need a chat")
        assert made["supervisors_notified"] == 1
        frame = await socket.wait_type("wellbeing.talk_requested", check_in_id=made["id"])
    finally:
        await socket.close()
    assert frame == {
        "type": "wellbeing.talk_requested",
        "check_in_id": made["id"],
        "user_id": cast.keyworker.id,
        "display_name": cast.keyworker.name,
        "at": frame["at"],
    }
    assert datetime.fromisoformat(frame["at"]) == datetime.fromisoformat(made["at"])
    # The frame says who and when, never how they are.
    assert "Need a chat" not in str(frame) and "mood" not in frame

    open_requests = supervisor.get("/api/v1/wellbeing/talk-requests").json()
    [mine] = [t for t in open_requests if t["check_in_id"] == made["id"]]
    assert mine["acknowledged_at"] is None and mine["display_name"] == cast.keyworker.name
    others = cast.other_supervisor.session.get("/api/v1/wellbeing/talk-requests").json()
    assert made["id"] not in [t["check_in_id"] for t in others]

    acknowledge = f"/api/v1/wellbeing/talk-requests/{made['id']}/acknowledge"
    problem(cast.other_supervisor.session.post(acknowledge), 403)
    problem(cast.keyworker.session.post(acknowledge), 403)
    done = supervisor.post(acknowledge)
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == cast.supervisor.id
    assert done.json()["acknowledged_by_name"] == cast.supervisor.name
    again = problem(supervisor.post(acknowledge), 409)
    assert cast.supervisor.name in again["detail"]
    problem(supervisor.post(f"/api/v1/wellbeing/talk-requests/{uuid.uuid4()}/acknowledge"), 404)

    assert made["id"] not in [
        t["check_in_id"] for t in supervisor.get("/api/v1/wellbeing/talk-requests").json()
    ]
    kept = supervisor.get(
        "/api/v1/wellbeing/talk-requests", params={"include_acknowledged": True}
    ).json()
    assert made["id"] in [t["check_in_id"] for t in kept]
    [seen] = [
        c for c in history(cast.keyworker.session, cast.keyworker.id) if c["id"] == made["id"]
    ]
    assert seen["talk_acknowledged_by_name"] == cast.supervisor.name
    acks = audit_events(live, cast.supervisor, "wellbeing.talk_acknowledge")
    assert acks[0]["resource_id"] == cast.keyworker.id and acks[0]["outcome"] == "success"


def test_a_check_in_that_did_not_ask_to_talk_is_not_acknowledged(cast: Cast) -> None:
    made = check_in(cast.therapist)
    problem(
        cast.supervisor.session.post(f"/api/v1/wellbeing/talk-requests/{made['id']}/acknowledge"),
        409,
    )


def test_someone_without_a_supervisor_is_told_nobody_was_notified(live: Live) -> None:
    loner = new_staff(live, "therapist", "Lou Loner")
    assert check_in(loner, wants_to_talk=True)["supervisors_notified"] == 0


# --- cadence and the prompt ------------------------------------------------------------------


def test_the_prompt_follows_the_cadence_the_supervisor_set(live: Live, cast: Cast) -> None:
    newcomer = new_staff(live, "employment_specialist", "Nia Newcomer")
    supervise(live, cast.supervisor, newcomer)
    prompt = newcomer.session.get("/api/v1/wellbeing/prompt").json()
    assert prompt["due"] is True and prompt["last_check_in_at"] is None
    assert (prompt["cadence_days"], prompt["cadence_set_by_supervisor"]) == (7, False)

    cadence = f"/api/v1/supervision/supervisees/{newcomer.id}/cadence"
    set_ = cast.supervisor.session.put(cadence, json={"check_in_days": 3, "supervision_days": 14})
    assert set_.status_code == 200, set_.text
    assert set_.json() | {"set_at": None} == {
        "supervisee_id": newcomer.id,
        "check_in_days": 3,
        "supervision_days": 14,
        "is_default": False,
        "set_by": cast.supervisor.id,
        "set_at": None,
    }
    made = check_in(newcomer)
    prompt = newcomer.session.get("/api/v1/wellbeing/prompt").json()
    assert prompt["due"] is False and prompt["cadence_set_by_supervisor"] is True
    assert prompt["cadence_days"] == 3
    assert datetime.fromisoformat(prompt["next_due_at"]) == datetime.fromisoformat(
        made["at"]
    ) + timedelta(days=3)

    # Only the person's own supervisor sets it.
    body = {"check_in_days": 1, "supervision_days": 1}
    problem(cast.other_supervisor.session.put(cadence, json=body), 403)
    problem(newcomer.session.put(cadence, json=body), 403)
    problem(live.as_role("admin").put(cadence, json=body), 403)
    denied = audit_events(live, cast.other_supervisor, "supervision.cadence_set")
    assert denied[0]["outcome"] == "denied" and denied[0]["resource_id"] == newcomer.id


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"check_in_days": 0, "supervision_days": 14}, 422, "body.check_in_days"),
        ({"check_in_days": 1, "supervision_days": 365}, 200, None),
        ({"check_in_days": 7, "supervision_days": 366}, 422, "body.supervision_days"),
        ({"check_in_days": "7", "supervision_days": 14}, 422, "body.check_in_days"),
        ({"check_in_days": 7}, 422, "body.supervision_days"),
    ],
)
def test_cadence_bounds(cast: Cast, body: dict[str, Any], status: int, field: str | None) -> None:
    reply = cast.supervisor.session.put(
        f"/api/v1/supervision/supervisees/{cast.therapist.id}/cadence", json=body
    )
    if field is None:
        assert reply.status_code == status, reply.text
    else:
        assert field in [e["field"] for e in problem(reply, status)["errors"]]


# --- supervision records ---------------------------------------------------------------------


def record(supervisor: Person, **fields: Any) -> dict[str, Any]:
    made = supervisor.session.post("/api/v1/supervision/records", json=fields)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def test_notes_are_seen_by_the_supervisor_and_attendees_only(live: Live, cast: Cast) -> None:
    notes = "Reflected on boundaries with a client who calls out of hours."
    made = record(
        cast.supervisor,
        kind="group",
        held_on=days_from_today(-1),
        supervisee_ids=[cast.keyworker.id, cast.therapist.id],
        notes=notes,
        actions=[
            {"text": "Agree a contact plan", "owner_id": cast.keyworker.id, "due_on": None},
            {"text": "Find a peer mentor", "owner_id": cast.supervisor.id},
        ],
    )
    assert made["notes"] == notes and made["kind"] == "group"
    assert sorted(a["user_id"] for a in made["attendees"]) == sorted(
        [cast.keyworker.id, cast.therapist.id]
    )
    assert sorted((a["text"], a["owner_name"]) for a in made["actions"]) == [
        ("Agree a contact plan", cast.keyworker.name),
        ("Find a peer mentor", cast.supervisor.name),
    ]
    path = f"/api/v1/supervision/records/{made['id']}"

    for attendee in (cast.supervisor, cast.keyworker, cast.therapist):
        seen = attendee.session.get(path)
        assert seen.status_code == 200 and seen.json()["notes"] == notes
        listed = attendee.session.get("/api/v1/supervision/records").json()["items"]
        assert made["id"] in [r["id"] for r in listed]
    for outsider in (
        cast.colleague.session,
        cast.other_supervisor.session,
        live.as_role("admin"),
        live.as_role("supervisor"),
    ):
        reply = outsider.get(path)
        problem(reply, 403)
        assert notes not in reply.text
        listed = outsider.get("/api/v1/supervision/records").json()["items"]
        assert made["id"] not in [r["id"] for r in listed]
    problem(live.as_role("client").get(path), 403)
    problem(cast.keyworker.session.get(f"/api/v1/supervision/records/{uuid.uuid4()}"), 404)
    denied = audit_events(live, cast.colleague, "supervision.read")
    assert denied[0]["outcome"] == "denied" and denied[0]["resource_id"] == made["id"]

    key_id, sealed = stored_row(
        live, "supervision_record", "notes_key_id, notes_ciphertext", made["id"]
    )
    assert notes.encode() not in bytes(sealed)
    assert (
        keyring_of(live).decrypt(key_id, bytes(sealed), aad=notes_aad(uuid.UUID(made["id"])))
        == notes
    )

    # Attendees read the notes; only the supervisor changes them.
    problem(cast.keyworker.session.patch(path, json={"notes": "mine now"}), 403)
    etag = cast.supervisor.session.get(path).headers["etag"]
    changed = cast.supervisor.session.patch(
        path, json={"notes": "Agreed a contact plan."}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200 and changed.json()["notes"] == "Agreed a contact plan."
    assert cast.therapist.session.get(path).json()["notes"] == "Agreed a contact plan."


def test_notes_are_saved_over_the_version_read_and_a_stale_save_is_refused(
    live: Live, cast: Cast
) -> None:
    """As the plan: the record's version is its ETag; a save without If-Match is 428, one over
    a version saved since is 412 with the current version and notes, and nothing is stored."""
    made = record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-1),
        supervisee_ids=[cast.therapist.id],
        notes="First draft.",
    )
    path = f"/api/v1/supervision/records/{made['id']}"
    sofia = cast.supervisor.session
    read = sofia.get(path)
    assert read.headers["etag"] == '"1"' and read.json()["version"] == made["version"] == 1

    # Missing, or not a version: 428, and nothing changes.
    missing = problem(sofia.patch(path, json={"notes": "Unversioned."}), 428)
    assert missing["type"].endswith("/if-match-required")
    malformed = sofia.patch(path, json={"notes": "Unversioned."}, headers={"If-Match": "*"})
    assert problem(malformed, 428)["type"].endswith("/if-match-required")

    # The right version: saved, and the version moves on.
    saved = sofia.patch(path, json={"notes": "Second draft."}, headers={"If-Match": '"1"'})
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"2"'
    assert (saved.json()["version"], saved.json()["notes"]) == (2, "Second draft.")

    # Stale (a second tab still on version 1): 412 with what is there now, nothing stored.
    stale = sofia.patch(path, json={"notes": "From the old tab."}, headers={"If-Match": '"1"'})
    refused = problem(stale, 412)
    assert refused["type"].endswith("/record-changed")
    assert stale.headers["etag"] == '"2"'
    assert refused["current"] == {"version": 2, "notes": "Second draft."}
    # Too long is refused for what it is, whatever the version.
    problem(
        sofia.patch(path, json={"notes": "x" * (NOTES_MAX + 1)}, headers={"If-Match": '"1"'}),
        422,
    )
    now = cast.therapist.session.get(path)
    assert now.headers["etag"] == '"2"'
    assert (now.json()["version"], now.json()["notes"]) == (2, "Second draft.")
    # Only the saves that were stored are audited as changes.
    changes = [
        e
        for e in audit_events(live, cast.supervisor, "supervision.update")
        if e["resource_id"] == made["id"]
    ]
    assert [e["outcome"] for e in changes] == ["success"]


def test_agreed_actions_are_marked_by_their_owner_or_the_supervisor(cast: Cast) -> None:
    made = record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(0),
        supervisee_ids=[cast.therapist.id],
        actions=[
            {
                "text": "Book annual leave",
                "owner_id": cast.therapist.id,
                "due_on": days_from_today(-1),
            }
        ],
    )
    [action] = made["actions"]
    assert action["overdue"] is True and action["done_at"] is None
    path = f"/api/v1/supervision/actions/{action['id']}"
    problem(cast.keyworker.session.patch(path, json={"done": True}), 403)
    problem(cast.colleague.session.patch(path, json={"done": True}), 403)
    done = cast.therapist.session.patch(path, json={"done": True})
    assert done.status_code == 200, done.text
    assert done.json()["done_at"] and done.json()["overdue"] is False
    reopened = cast.supervisor.session.patch(path, json={"done": False})
    assert reopened.json()["done_at"] is None and reopened.json()["overdue"] is True
    problem(cast.therapist.session.patch(path, json={"done": "yes"}), 422)
    problem(
        cast.therapist.session.patch(
            f"/api/v1/supervision/actions/{uuid.uuid4()}", json={"done": True}
        ),
        404,
    )

    added = cast.supervisor.session.post(
        f"/api/v1/supervision/records/{made['id']}/actions",
        json={"text": "Shadow a group session", "owner_id": cast.therapist.id},
    )
    assert added.status_code == 201 and added.json()["owner_name"] == cast.therapist.name
    problem(
        cast.therapist.session.post(
            f"/api/v1/supervision/records/{made['id']}/actions",
            json={"text": "Mine", "owner_id": cast.therapist.id},
        ),
        403,
    )
    not_there = problem(
        cast.supervisor.session.post(
            f"/api/v1/supervision/records/{made['id']}/actions",
            json={"text": "Theirs", "owner_id": cast.keyworker.id},
        ),
        422,
    )
    assert not_there["errors"][0]["field"] == "body.owner_id"


def new_team_meeting(live: Live, cast: Cast, kind: str) -> str:
    """A meeting of a new team the supervisor is on, arranged by them."""
    team_id = new_team(
        live, f"Reflective practice {uuid.uuid4().hex[:6]}", "Tyne", [cast.supervisor.id]
    )
    made = arrange_meeting(
        cast.supervisor.session,
        kind=kind,
        title="Reflective practice",
        team_id=team_id,
        starts_at=f"{days_from_today(-1)}T10:00:00Z",
        ends_at=f"{days_from_today(-1)}T11:00:00Z",
        invitee_ids=[cast.keyworker.id],
    )
    return str(made["id"])


def test_a_record_links_only_a_supervision_meeting(live: Live, cast: Cast) -> None:
    meeting = new_team_meeting(live, cast, "supervision")
    made = record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-1),
        supervisee_ids=[cast.keyworker.id],
        meeting_id=meeting,
    )
    assert made["meeting_id"] == meeting
    for meeting_id in (new_team_meeting(live, cast, "case_meeting"), str(uuid.uuid4())):
        refused = problem(
            cast.supervisor.session.post(
                "/api/v1/supervision/records",
                json={
                    "kind": "one_to_one",
                    "held_on": days_from_today(-1),
                    "supervisee_ids": [cast.keyworker.id],
                    "meeting_id": meeting_id,
                },
            ),
            422,
        )
        assert refused["errors"][0]["field"] == "body.meeting_id"
    # A supervision meeting the supervisor has nothing to do with is as good as absent.
    problem(
        cast.other_supervisor.session.post(
            "/api/v1/supervision/records",
            json={
                "kind": "one_to_one",
                "held_on": days_from_today(-1),
                "supervisee_ids": [cast.colleague.id],
                "meeting_id": meeting,
            },
        ),
        422,
    )


def test_supervision_is_recorded_only_with_ones_own_supervisees(live: Live, cast: Cast) -> None:
    body = {"kind": "group", "held_on": days_from_today(-2)}
    problem(
        cast.supervisor.session.post(
            "/api/v1/supervision/records",
            json=body | {"supervisee_ids": [cast.keyworker.id, cast.colleague.id]},
        ),
        403,
    )
    denied = audit_events(live, cast.supervisor, "supervision.create")
    assert denied[0]["outcome"] == "denied" and denied[0]["resource_id"] == cast.colleague.id
    for who in (cast.keyworker.session, live.as_role("admin"), live.as_role("client")):
        problem(
            who.post(
                "/api/v1/supervision/records", json=body | {"supervisee_ids": [cast.keyworker.id]}
            ),
            403,
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "one_to_one"}, "body"),  # two supervisees in a one-to-one
        ({"supervisee_ids": []}, "body.supervisee_ids"),
        ({"held_on": "tomorrow"}, "body.held_on"),
        ({"held_on": "2026-02-30"}, "body.held_on"),
        ({"kind": "triad"}, "body.kind"),
        ({"notes": "x" * (NOTES_MAX + 1)}, "body.notes"),
        ({"actions": [{"text": "", "owner_id": "me"}]}, "body.actions.0.text"),
        ({"actions": [{"text": "Write up", "owner_id": "colleague"}]}, "body.actions.0.owner_id"),
        ({"colour": "blue"}, "body.colour"),
    ],
)
def test_invalid_records_are_refused_naming_the_field(
    cast: Cast, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {
        "kind": "group",
        "held_on": days_from_today(-1),
        "supervisee_ids": [cast.keyworker.id, cast.therapist.id],
    } | change
    if body["held_on"] == "tomorrow":
        body["held_on"] = days_from_today(1)
    owners = {"me": cast.supervisor.id, "colleague": cast.colleague.id}
    if "actions" in body:
        body["actions"] = [a | {"owner_id": owners[a["owner_id"]]} for a in body["actions"]]
    reply = cast.supervisor.session.post("/api/v1/supervision/records", json=body)
    refused = problem(reply, 422)
    assert field in [e["field"] for e in refused["errors"]], refused


def test_notes_are_kept_up_to_their_limit(cast: Cast) -> None:
    made = record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-3),
        supervisee_ids=[cast.therapist.id],
        notes="n" * NOTES_MAX,
    )
    assert len(made["notes"]) == NOTES_MAX


# --- the supervisor's overview -----------------------------------------------------------------


def overview_of(supervisor: Person, person: Person) -> dict[str, Any]:
    reply = supervisor.session.get("/api/v1/supervision/supervisees")
    assert reply.status_code == 200, reply.text
    [found] = [s for s in reply.json() if s["user_id"] == person.id]
    return dict(found)


def test_supervision_is_overdue_by_the_cadence(live: Live, cast: Cast) -> None:
    person = new_staff(live, "peer_keyworker", "Ola Overdue")
    supervise(live, cast.supervisor, person)
    fresh = overview_of(cast.supervisor, person)
    # No session yet: due one default cadence (28 days) after supervision started (today).
    assert fresh["last_supervision_on"] is None
    assert fresh["supervision_due_on"] == days_from_today(28)
    assert fresh["supervision_overdue"] is False
    assert fresh["check_in_due"] is True and fresh["last_check_in_at"] is None
    assert (fresh["open_actions"], fresh["overdue_actions"], fresh["open_talk_request"]) == (
        0,
        0,
        None,
    )
    assert fresh["cadence"]["is_default"] is True

    cadence = cast.supervisor.session.put(
        f"/api/v1/supervision/supervisees/{person.id}/cadence",
        json={"check_in_days": 7, "supervision_days": 14},
    )
    assert cadence.status_code == 200, cadence.text
    record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-15),
        supervisee_ids=[person.id],
        actions=[
            {
                "text": "Read the lone-working policy",
                "owner_id": person.id,
                "due_on": days_from_today(-1),
            },
            {"text": "Book training", "owner_id": person.id, "due_on": days_from_today(0)},
        ],
    )
    late = overview_of(cast.supervisor, person)
    assert late["last_supervision_on"] == days_from_today(-15)
    assert late["supervision_due_on"] == days_from_today(-1)
    assert late["supervision_overdue"] is True
    assert (late["open_actions"], late["overdue_actions"]) == (2, 1)

    # A session fourteen days ago: due today, which is on time.
    record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-14),
        supervisee_ids=[person.id],
    )
    on_time = overview_of(cast.supervisor, person)
    assert on_time["supervision_due_on"] == days_from_today(0)
    assert on_time["supervision_overdue"] is False

    talk = check_in(person, wants_to_talk=True)
    wanting = overview_of(cast.supervisor, person)
    assert wanting["check_in_due"] is False
    assert wanting["open_talk_request"]["check_in_id"] == talk["id"]
    assert wanting["open_talk_requests"] == 1
    assert person.id not in [
        s["user_id"]
        for s in cast.other_supervisor.session.get("/api/v1/supervision/supervisees").json()
    ]
    for who in (person.session, live.as_role("admin"), live.as_role("client")):
        problem(who.get("/api/v1/supervision/supervisees"), 403)


def test_a_new_message_key_reseals_check_in_texts_and_notes(live: Live, cast: Cast) -> None:
    """After a key rotation, the re-encryption pass moves check-in texts and supervision notes
    to the new key too, so the old key can be retired; both still read through the API."""
    text = "Sealed before the rotation."
    made = check_in(cast.therapist, text=text)
    notes = "Notes sealed before the rotation."
    held = record(
        cast.supervisor,
        kind="one_to_one",
        held_on=days_from_today(-2),
        supervisee_ids=[cast.therapist.id],
        notes=notes,
    )
    old_key, _ = stored_row(live, "wellbeing_check_in", "text_key_id, text_ciphertext", made["id"])

    rotated = teamwell_cli(live.env, "rotate-message-key")
    assert rotated.returncode == 0, rotated.stderr
    moved = teamwell_cli(live.env, "reencrypt-messages")
    assert moved.returncode == 0, moved.stderr
    assert "0 check-in texts" not in moved.stdout and "0 supervision notes" not in moved.stdout

    current = keyring_of(live).current_key_id
    assert current != old_key
    key_id, sealed = stored_row(
        live, "wellbeing_check_in", "text_key_id, text_ciphertext", made["id"]
    )
    assert key_id == current
    assert (
        keyring_of(live).decrypt(
            key_id,
            bytes(sealed),
            aad=check_in_aad(uuid.UUID(made["id"]), uuid.UUID(made["user_id"])),
        )
        == text
    )
    key_id, _ = stored_row(live, "supervision_record", "notes_key_id, notes_ciphertext", held["id"])
    assert key_id == current
    mine = cast.therapist.session.get("/api/v1/wellbeing/check-ins").json()["items"]
    assert text in [c["text"] for c in mine]
    path = f"/api/v1/supervision/records/{held['id']}"
    assert cast.therapist.session.get(path).json()["notes"] == notes

    again = teamwell_cli(live.env, "reencrypt-messages")
    assert "0 check-in texts, 0 supervision notes, 0 trial seeds" in again.stdout, again.stdout
