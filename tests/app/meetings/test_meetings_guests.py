"""Guest links into a client session, over real HTTP with a real SMTP server: who makes them
(the staff who run the session), what the email says (the link and the time, nothing clinical),
the guest's join by first name or code, the window around the session's time, the attempt limit
at its edge, revocation, the audit of every join and refusal, and a guest credential that opens
nothing but its own meeting's lobby."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Live, Session, live_server, problem
from tests.support.builders import client_id_of
from tests.support.smtp import Mailbox, SmtpServer
from tests.support.ws import WsClient

MAX_ATTEMPTS = 3
TITLE = "Anxiety and sleep review"  # a title that would say something clinical
INTERPRETER_EMAIL = "dana.price@interpreters.example"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    yield Mailbox()


@pytest.fixture(scope="module")
def guest_live(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Live]:
    smtp = SmtpServer(mailbox).start()
    env = {
        "TEAMWELL_EMAIL_BACKEND": "smtp",
        "TEAMWELL_SMTP_HOST": "127.0.0.1",
        "TEAMWELL_SMTP_PORT": str(smtp.port),
        "TEAMWELL_GUEST_LINK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "TEAMWELL_GUEST_LINK_OPEN_MINUTES_BEFORE": "30",
        "TEAMWELL_GUEST_LINK_CLOSE_MINUTES_AFTER": "30",
    }
    try:
        with live_server(tmp_path_factory, "guests", extra_env=env) as running:
            yield running
    finally:
        smtp.stop()


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def session_for(
    live: Live,
    client: str = "Alex Morgan",
    *,
    starts_in: timedelta = timedelta(minutes=-5),
    length: timedelta = timedelta(hours=1),
    kind: str = "client_session",
) -> dict[str, Any]:
    starts = datetime.now(UTC) + starts_in
    made = live.as_role("peer_keyworker").post(
        "/api/v1/meetings",
        json={
            "kind": kind,
            "title": TITLE,
            "client_id": client_id_of(live, client),
            "starts_at": _at(starts),
            "ends_at": _at(starts + length),
        },
    )
    assert made.status_code == 201, made.text
    meeting: dict[str, Any] = made.json()
    return meeting


def make_link(live: Live, meeting: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("kind", "client")
    made = live.as_role("peer_keyworker").post(
        f"/api/v1/meetings/{meeting['id']}/guest-links", json=body
    )
    assert made.status_code == 201, made.text
    link: dict[str, Any] = made.json()
    return link


def token_of(link: dict[str, Any]) -> str:
    url = str(link["link"])
    assert "/#/guest/" in url, url
    return url.rsplit("/#/guest/", 1)[1]


def join(live: Live, link: dict[str, Any], **body: str) -> httpx.Response:
    with live.client() as anonymous:
        return anonymous.post(f"/api/v1/guest-links/{token_of(link)}/join", json=body)


def audit(live: Live, client: str, action: str) -> list[dict[str, Any]]:
    reply = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id_of(live, client), "action": action, "limit": "200"},
    )
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


@dataclass
class Lobby:
    """An interpreter waiting in a session's lobby, and the keyworker who runs it, joined."""

    meeting: dict[str, Any]
    interpreter: dict[str, Any]
    keyworker: Session
    staff: WsClient
    guest: WsClient
    staff_seat: str
    guest_seat: str


@asynccontextmanager
async def interpreter_waiting(live: Live, staff_url: str, guest_url: str) -> AsyncIterator[Lobby]:
    """An interpreter's link for a new session of ``live``'s keyworker: the keyworker joins over
    ``/ws`` at ``staff_url``, the interpreter at ``guest_url`` and waits; the staff side is told
    of them waiting, by name. Both sockets are closed on leaving."""
    meeting = session_for(live)
    interpreter = make_link(live, meeting, kind="interpreter", guest_name="Dana Price")
    credential = join(live, interpreter, name="Dana")
    assert credential.status_code == 200, credential.text
    keyworker = live.as_role("peer_keyworker")
    staff = await WsClient.connect(staff_url, keyworker.tokens["access_token"])
    guest = await WsClient.connect(guest_url, credential.json()["credential"])
    try:
        await staff.wait_type("ready")
        ready = await guest.wait_type("ready")
        assert ready["user_id"] == interpreter["id"]
        joined = await staff.request({"type": "meeting.join", "meeting_id": meeting["id"]})
        assert joined["type"] == "meeting.joined", joined
        waiting = await guest.request(
            {"type": "meeting.join", "meeting_id": meeting["id"], "video": False}
        )
        assert waiting["type"] == "meeting.waiting", waiting
        lobby = await staff.wait_for(
            lambda f: f.get("type") == "meeting.lobby" and len(f["waiting"]) == 1
        )
        [entry] = lobby["waiting"]
        assert entry["participant_id"] == waiting["participant_id"]
        assert entry["name"] == "Dana Price (interpreter)" and entry["guest"] == "interpreter"
        yield Lobby(
            meeting,
            interpreter,
            keyworker,
            staff,
            guest,
            staff_seat=joined["participant_id"],
            guest_seat=waiting["participant_id"],
        )
    finally:
        await guest.close()
        await staff.close()


def test_the_client_is_emailed_a_link_and_joins_by_first_name(
    guest_live: Live, mailbox: Mailbox
) -> None:
    meeting = session_for(guest_live)
    link = make_link(guest_live, meeting)
    assert link["kind"] == "client" and link["emailed"] is True
    assert len(link["code"]) == 6 and link["code"].isdigit()
    opens = datetime.fromisoformat(meeting["starts_at"]) - timedelta(minutes=30)
    assert datetime.fromisoformat(link["opens_at"]) == opens

    # Alex has a login: the link went to his email, with the time and nothing else.
    message = mailbox.wait_for("alex.morgan@example.org", subject="video appointment")
    body = message.get_content()
    assert link["link"] in body
    assert opens.strftime("%H:%M UTC") in body
    for private in ("Alex", "Morgan", "Anxiety", "sleep", TITLE):
        assert private not in body and private not in str(message["Subject"])

    with guest_live.client() as anonymous:
        opened = anonymous.get(f"/api/v1/guest-links/{token_of(link)}")
        assert opened.status_code == 200, opened.text
        assert opened.json()["kind"] == "client"
        assert "Alex" not in opened.text and TITLE not in opened.text

    joined = join(guest_live, link, name="  aLeX  ")
    assert joined.status_code == 200, joined.text
    credential = joined.json()
    assert credential["meeting_id"] == meeting["id"] and credential["name"] == "Alex"
    assert credential["kind"] == "client"
    closes = datetime.fromisoformat(link["closes_at"])
    assert datetime.fromisoformat(credential["expires_at"]) <= closes

    # One use only.
    again = problem(join(guest_live, link, name="Alex"), 410)
    assert "already been used" in again["detail"]
    used = [e for e in audit(guest_live, "Alex Morgan", "guest_link.use")]
    assert any(e["resource_id"] == meeting["id"] and e["outcome"] == "success" for e in used)
    refused = audit(guest_live, "Alex Morgan", "guest_link.refused")
    assert any(e["outcome"] == "denied" and e["detail"] == "guest-link-gone" for e in refused)


def test_the_short_code_also_lets_the_guest_in(guest_live: Live) -> None:
    meeting = session_for(guest_live)
    link = make_link(guest_live, meeting)
    code = link["code"]
    joined = join(guest_live, link, code=f" {code[:3]} {code[3:]} ")
    assert joined.status_code == 200, joined.text
    # Name and code together, or neither, is a malformed request.
    problem(join(guest_live, make_link(guest_live, meeting), name="Alex", code=code), 422)
    problem(join(guest_live, make_link(guest_live, meeting)), 422)


def test_wrong_names_lock_the_link_at_the_limit(guest_live: Live) -> None:
    meeting = session_for(guest_live)

    # One wrong name short of the limit, the right name still works.
    link = make_link(guest_live, meeting)
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        wrong = problem(join(guest_live, link, name="Sam"), 403)
        assert wrong["attempts_left"] == left
    assert join(guest_live, link, name="Alex").status_code == 200

    # At the limit, the link is locked: the right name comes too late.
    link = make_link(guest_live, meeting)
    for left in range(MAX_ATTEMPTS - 1, -1, -1):
        wrong = problem(join(guest_live, link, code="000000" if left % 2 else "999999"), 403)
        assert wrong["attempts_left"] == left
    locked = problem(join(guest_live, link, name="Alex"), 410)
    assert "too many attempts" in locked["detail"]
    listed = guest_live.as_role("peer_keyworker").get(
        f"/api/v1/meetings/{meeting['id']}/guest-links"
    )
    [row] = [r for r in listed.json() if r["id"] == link["id"]]
    assert row["failed_attempts"] == MAX_ATTEMPTS and row["used_at"] is None

    refused = audit(guest_live, "Alex Morgan", "guest_link.refused")
    mine = [e for e in refused if e["resource_id"] == link["id"]]
    assert [e["detail"] for e in mine].count("guest-name-refused") == MAX_ATTEMPTS
    assert all(e["outcome"] == "denied" and e["actor_id"] is None for e in mine)


def test_an_interpreter_is_named_as_such_and_emailed_at_the_address_given(
    guest_live: Live, mailbox: Mailbox
) -> None:
    meeting = session_for(guest_live)
    missing = problem(
        guest_live.as_role("peer_keyworker").post(
            f"/api/v1/meetings/{meeting['id']}/guest-links", json={"kind": "interpreter"}
        ),
        422,
    )
    assert "name" in missing["detail"]
    link = make_link(
        guest_live, meeting, kind="interpreter", guest_name=" Dana  Price ", email=INTERPRETER_EMAIL
    )
    assert link["guest_name"] == "Dana Price" and link["emailed"] is True
    message = mailbox.wait_for(INTERPRETER_EMAIL, subject="video appointment")
    assert "as an interpreter" in message.get_content()
    assert "Alex" not in message.get_content()

    problem(join(guest_live, link, name="Alex"), 403)  # the client's name is not the guest's
    joined = join(guest_live, link, name="dana")
    assert joined.status_code == 200, joined.text
    assert joined.json()["name"] == "Dana Price (interpreter)"
    assert joined.json()["kind"] == "interpreter"

    family = make_link(guest_live, meeting, kind="family", guest_name="Chris Morgan")
    assert family["emailed"] is False  # no address given: shown to copy
    assert join(guest_live, family, name="Chris Morgan").json()["name"] == (
        "Chris Morgan (family member)"
    )


def test_the_link_works_only_around_the_sessions_time(guest_live: Live) -> None:
    later = session_for(guest_live, starts_in=timedelta(days=2))
    early = make_link(guest_live, later)
    with guest_live.client() as anonymous:
        shut = problem(anonymous.get(f"/api/v1/guest-links/{token_of(early)}"), 409)
    assert "opens on" in shut["detail"]
    problem(join(guest_live, early, name="Alex"), 409)

    # The window's edge: 30 minutes before the start it is open.
    soon = session_for(guest_live, starts_in=timedelta(minutes=29))
    assert join(guest_live, make_link(guest_live, soon), name="Alex").status_code == 200

    # Over: the session ended more than 30 minutes ago (made long after it, as staff may).
    past = session_for(guest_live, starts_in=timedelta(hours=-2), length=timedelta(minutes=60))
    expired = problem(join(guest_live, make_link(guest_live, past), name="Alex"), 410)
    assert "expired" in expired["detail"]

    with guest_live.client() as anonymous:
        unknown = problem(anonymous.get("/api/v1/guest-links/not-a-real-token"), 404)
    assert unknown["type"].endswith("guest-link-not-found")


def test_a_revoked_link_stops_working(guest_live: Live) -> None:
    meeting = session_for(guest_live)
    link = make_link(guest_live, meeting)
    keyworker = guest_live.as_role("peer_keyworker")
    path = f"/api/v1/meetings/{meeting['id']}/guest-links/{link['id']}"
    assert keyworker.delete(path).status_code == 204
    assert keyworker.delete(path).status_code == 204  # the same as once
    gone = problem(join(guest_live, link, name="Alex"), 410)
    assert "withdrawn" in gone["detail"]
    [row] = [
        r
        for r in keyworker.get(f"/api/v1/meetings/{meeting['id']}/guest-links").json()
        if r["id"] == link["id"]
    ]
    assert row["revoked_at"] is not None
    other = f"/api/v1/meetings/{meeting['id']}/guest-links/{uuid.uuid4()}"
    problem(keyworker.delete(other), 404)
    assert audit(guest_live, "Alex Morgan", "guest_link.revoke")


def test_only_the_staff_who_run_the_session_make_guest_links(guest_live: Live) -> None:
    meeting = session_for(guest_live)
    path = f"/api/v1/meetings/{meeting['id']}/guest-links"
    # The therapist on Alex's care team runs the session with the host: allowed.
    made = guest_live.as_role("therapist").post(path, json={"kind": "client"})
    assert made.status_code == 201, made.text
    for role in ("client", "admin"):
        session = guest_live.as_role(role)
        problem(session.post(path, json={"kind": "client"}), 403)
        problem(session.get(path), 403)
    # A case meeting about the client has no guests.
    case = session_for(guest_live, kind="case_meeting")
    refused = problem(
        guest_live.as_role("peer_keyworker").post(
            f"/api/v1/meetings/{case['id']}/guest-links", json={"kind": "client"}
        ),
        403,
    )
    assert "client's own session" in refused["detail"]
    # Identity inputs are strictly typed: no number for a name, no unknown kind.
    for bad in (
        {"kind": "client", "guest_name": 12},
        {"kind": "doctor"},
        {"kind": "client", "x": 1},
    ):
        problem(guest_live.as_role("peer_keyworker").post(path, json=bad), 422)
    link = make_link(guest_live, meeting)
    problem(join(guest_live, link, name=12), 422)  # type: ignore[arg-type]


def _fill(path: str) -> str:
    """A concrete path for an operation's template: any id will do, the credential is refused
    before it is looked at."""
    out = []
    for part in path.split("/"):
        out.append(str(uuid.uuid4()) if part.startswith("{") else part)
    return "/".join(out)


async def test_the_guest_credential_opens_nothing_else(guest_live: Live) -> None:
    meeting = session_for(guest_live)
    credential = join(guest_live, make_link(guest_live, meeting), name="Alex").json()["credential"]
    with guest_live.client() as http:
        spec = http.get("/openapi.json").json()
        refused = 0
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if not operation.get("security"):
                    continue  # open to anyone (sign-in, links): a credential adds nothing
                reply = http.request(
                    method.upper(),
                    _fill(path),
                    headers={"Authorization": f"Bearer {credential}"},
                    json={},
                )
                assert reply.status_code == 401, (method, path, reply.status_code, reply.text)
                refused += 1
        assert refused > 100  # every operation that needs a person
    # On /ws it opens its own meeting's call and nothing else: every other frame is refused,
    # and each refusal audited.
    other = session_for(guest_live)
    guest = await WsClient.connect(guest_live.base_url, credential)
    try:
        await guest.wait_type("ready")
        tried = {
            "presence.set": {"state": "away"},
            "activity": {},
            "message.send": {
                "conversation_id": str(uuid.uuid4()),
                "client_msg_id": uuid.uuid4().hex,
                "body": "hello",
            },
            "message.edit": {"message_id": str(uuid.uuid4()), "body": "x"},
            "message.delete": {"message_id": str(uuid.uuid4())},
            "sync": {"conversation_id": str(uuid.uuid4()), "after_seq": 0},
            "read": {"conversation_id": str(uuid.uuid4()), "seq": 1},
            "typing": {"conversation_id": str(uuid.uuid4())},
            "auth": {"token": credential},
            "meeting.admit": {"meeting_id": meeting["id"], "participant_id": str(uuid.uuid4())},
            "meeting.decline": {"meeting_id": meeting["id"], "participant_id": str(uuid.uuid4())},
            "meeting.remove": {"meeting_id": meeting["id"], "participant_id": str(uuid.uuid4())},
            "meeting.end": {"meeting_id": meeting["id"]},
            "meeting.join": {"meeting_id": other["id"]},
        }
        for frame_type, fields in tried.items():
            refused = await guest.request({"type": frame_type, **fields})
            assert refused["type"] == "error", (frame_type, refused)
            assert refused["code"] in ("forbidden", "invalid_frame"), (frame_type, refused)
        pong = await guest.request({"type": "ping"})
        assert pong["type"] == "pong"
    finally:
        await guest.close()
    denied = audit(guest_live, "Alex Morgan", "meeting.join")
    assert any(e["outcome"] == "denied" and e["resource_id"] == other["id"] for e in denied)


async def test_a_guest_waits_in_the_lobby_and_is_admitted_by_staff(guest_live: Live) -> None:
    url = guest_live.base_url
    async with interpreter_waiting(guest_live, url, url) as lobby:
        meeting, staff, guest = lobby.meeting, lobby.staff, lobby.guest
        # From the lobby a guest may tell the staff they are there, as a client may.
        note = await guest.request(
            {"type": "meeting.lobby_message", "meeting_id": meeting["id"], "text": "Ready"}
        )
        assert note["type"] == "ack", note
        heard = await staff.wait_type("meeting.lobby_message")
        assert heard["from_name"] == "Dana Price (interpreter)"
        assert heard["from_user_id"] == lobby.interpreter["id"]
        admit = {"type": "meeting.admit", "meeting_id": meeting["id"]}
        ack = await staff.request({**admit, "participant_id": lobby.guest_seat})
        assert ack["type"] == "ack", ack
        admitted = await guest.wait_type("meeting.admitted")
        assert [p["name"] for p in admitted["participants"]] == ["Priya Shah"]
        came = await staff.wait_type("meeting.participant_joined")
        assert came["participant"]["guest"] == "interpreter"
        assert came["participant"]["role"] == "guest"
        # Signalling reaches the guest's socket, as any participant's.
        await staff.send(
            {
                "type": "meeting.signal",
                "meeting_id": meeting["id"],
                "to": lobby.guest_seat,
                "signal": {"kind": "offer", "sdp": "v=0"},
            }
        )
        offer = await guest.wait_type("meeting.signal")
        assert offer["from"] == lobby.staff_seat
        left = await guest.request({"type": "meeting.leave", "meeting_id": meeting["id"]})
        assert left["type"] == "ack"
    attendance = lobby.keyworker.get(f"/api/v1/meetings/{meeting['id']}/attendance").json()
    [seat] = [a for a in attendance if a["guest"] == "interpreter"]
    assert seat["name"] == "Dana Price (interpreter)" and seat["user_id"] is None
    assert seat["joined_at"] and seat["left_at"]
    joins = audit(guest_live, "Alex Morgan", "meeting.join")
    assert any(e["resource_id"] == meeting["id"] and e["actor_id"] is None for e in joins)


async def test_a_revoked_links_credential_is_refused_at_the_socket(guest_live: Live) -> None:
    meeting = session_for(guest_live)
    link = make_link(guest_live, meeting)
    credential = join(guest_live, link, name="Alex").json()["credential"]
    path = f"/api/v1/meetings/{meeting['id']}/guest-links/{link['id']}"
    assert guest_live.as_role("peer_keyworker").delete(path).status_code == 204
    guest = await WsClient.connect(guest_live.base_url, credential)
    refused = await guest.wait_type("error")
    assert refused["code"] == "unauthenticated" and "withdrawn" in refused["message"]
    assert await guest.wait_closed() == 4401
