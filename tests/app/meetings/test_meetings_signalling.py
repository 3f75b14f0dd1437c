"""Meeting signalling through the real gateway: the lobby, admission, relaying only between
admitted participants, leaving, ending, ICS invitations and attendance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from icalendar import Calendar

from tests.conftest import Live, Session
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.ws import WsClient

OFFER = {"kind": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


async def connect(live: Live, session: Session) -> WsClient:
    client = await WsClient.connect(live.base_url, session.tokens["access_token"])
    await client.wait_type("ready")
    return client


def client_session(live: Live, **extra: Any) -> dict[str, Any]:
    return arrange_meeting(
        live.as_role("peer_keyworker"),
        title="Weekly check-in with Alex",
        client_id=client_id_of(live, "Alex Morgan"),
        **extra,
    )


@pytest.fixture
async def room(live_sqlite: Live) -> AsyncIterator[tuple[str, WsClient, WsClient, WsClient]]:
    """A client session with the keyworker and therapist connected, and Alex connected."""
    meeting = client_session(live_sqlite)["id"]
    priya = await connect(live_sqlite, live_sqlite.as_role("peer_keyworker"))
    tom = await connect(live_sqlite, live_sqlite.as_role("therapist"))
    alex = await connect(live_sqlite, live_sqlite.as_role("client"))
    yield meeting, priya, tom, alex
    for client in (priya, tom, alex):
        await client.close()


async def test_the_lobby_admission_and_relaying(
    live_sqlite: Live, room: tuple[str, WsClient, WsClient, WsClient]
) -> None:
    meeting, priya, tom, alex = room
    # The client arrives first: the lobby, never an empty room.
    waiting = await alex.request({"type": "meeting.join", "meeting_id": meeting})
    assert waiting["type"] == "meeting.waiting"
    alex_pid = waiting["participant_id"]
    joined = await priya.request({"type": "meeting.join", "meeting_id": meeting})
    assert joined["type"] == "meeting.joined" and joined["participants"] == []
    assert joined["ice_servers"] == [] or isinstance(joined["ice_servers"], list)
    lobby = await priya.wait_type("meeting.lobby")
    assert [w["participant_id"] for w in lobby["waiting"]] == [alex_pid]
    assert lobby["waiting"][0]["name"] == "Alex Morgan"

    # Staff join directly and hear about each other.
    tom_joined = await tom.request({"type": "meeting.join", "meeting_id": meeting})
    assert [p["name"] for p in tom_joined["participants"]] == ["Priya Shah"]
    tom_pid = tom_joined["participant_id"]
    arrived = await priya.wait_type("meeting.participant_joined")
    assert arrived["participant"]["participant_id"] == tom_pid

    # The lobby can talk to the staff ("running late"), but not signal anyone.
    note = await alex.request(
        {"type": "meeting.lobby_message", "meeting_id": meeting, "text": "Running 5 minutes late"}
    )
    assert note["type"] == "ack"
    heard = await priya.wait_type("meeting.lobby_message")
    assert heard["text"] == "Running 5 minutes late" and heard["from_name"] == "Alex Morgan"
    refused = await alex.request(
        {
            "type": "meeting.signal",
            "id": "s1",
            "meeting_id": meeting,
            "to": joined["participant_id"],
            "signal": OFFER,
        }
    )
    assert refused["type"] == "error" and refused["code"] == "not_admitted"

    # Signalling flows between admitted participants only, to the one addressed.
    await tom.send(
        {
            "type": "meeting.signal",
            "meeting_id": meeting,
            "to": joined["participant_id"],
            "signal": OFFER,
        }
    )
    relayed = await priya.wait_type("meeting.signal")
    assert relayed["from"] == tom_pid and relayed["signal"] == OFFER
    assert not [
        f
        for f in alex.frames
        if f.get("type") in ("meeting.signal", "meeting.participant_joined", "meeting.joined")
    ]

    # Admitted: Alex now gets the participants and ICE servers, and others hear of it.
    assert (
        await priya.request(
            {"type": "meeting.admit", "meeting_id": meeting, "participant_id": alex_pid}
        )
    )["type"] == "ack"
    admitted = await alex.wait_type("meeting.admitted")
    assert {p["name"] for p in admitted["participants"]} == {"Priya Shah", "Tom Okafor"}
    await tom.wait_for(
        lambda f: (
            f.get("type") == "meeting.participant_joined"
            and f["participant"]["participant_id"] == alex_pid
        )
    )
    await alex.send(
        {
            "type": "meeting.signal",
            "meeting_id": meeting,
            "to": tom_pid,
            "signal": {
                "kind": "candidate",
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                "sdp_mid": "0",
                "sdp_mline_index": 0,
            },
        }
    )
    candidate = await tom.wait_for(
        lambda f: f.get("type") == "meeting.signal" and f["signal"]["kind"] == "candidate"
    )
    assert candidate["from"] == alex_pid

    # Media state and raised hands reach everyone.
    await alex.send(
        {
            "type": "meeting.media",
            "meeting_id": meeting,
            "audio": True,
            "video": False,
            "screen": False,
            "hand": True,
        }
    )
    update = await priya.wait_for(
        lambda f: f.get("type") == "meeting.participant" and f["participant"]["hand"] is True
    )
    assert update["participant"]["video"] is False

    # The host removes a participant, then ends the meeting for all.
    assert (
        await priya.request(
            {"type": "meeting.remove", "meeting_id": meeting, "participant_id": tom_pid}
        )
    )["type"] == "ack"
    await tom.wait_type("meeting.removed")
    gone = await alex.wait_type("meeting.participant_left")
    assert gone["participant_id"] == tom_pid and gone["reason"] == "removed"
    assert (await priya.request({"type": "meeting.end", "meeting_id": meeting}))["type"] == "ack"
    await alex.wait_type("meeting.ended")
    again = await alex.request({"type": "meeting.join", "meeting_id": meeting})
    assert again["type"] == "error" and again["code"] == "meeting_ended"

    attendance = (
        live_sqlite.as_role("peer_keyworker").get(f"/api/v1/meetings/{meeting}/attendance").json()
    )
    by_name = {a["name"]: a for a in attendance}
    assert by_name["Alex Morgan"]["joined_at"] and by_name["Alex Morgan"]["left_at"]
    assert by_name["Tom Okafor"]["state"] == "removed"
    events = (
        live_sqlite.as_role("supervisor")
        .get(
            "/api/v1/audit-events",
            params={
                "client_id": client_id_of(live_sqlite, "Alex Morgan"),
                "action": "meeting.join",
            },
        )
        .json()["items"]
    )
    assert {e["actor_name"] for e in events} >= {"Alex Morgan", "Priya Shah", "Tom Okafor"}


async def test_declined_and_uninvited(live_sqlite: Live) -> None:
    meeting = client_session(live_sqlite)["id"]
    case_meeting = arrange_meeting(
        live_sqlite.as_role("peer_keyworker"),
        kind="case_meeting",
        title="Care team review",
        client_id=client_id_of(live_sqlite, "Alex Morgan"),
        starts_at="2030-03-05T10:00:00Z",
        ends_at="2030-03-05T11:00:00Z",
    )["id"]
    priya = await connect(live_sqlite, live_sqlite.as_role("peer_keyworker"))
    alex = await connect(live_sqlite, live_sqlite.as_role("client"))
    try:
        await priya.request({"type": "meeting.join", "meeting_id": meeting})
        waiting = await alex.request({"type": "meeting.join", "meeting_id": meeting})
        assert (
            await priya.request(
                {
                    "type": "meeting.decline",
                    "meeting_id": meeting,
                    "participant_id": waiting["participant_id"],
                }
            )
        )["type"] == "ack"
        await alex.wait_type("meeting.declined")
        # The care team's own case meeting is not the client's to join.
        refused = await alex.request({"type": "meeting.join", "meeting_id": case_meeting})
        assert refused["type"] == "error" and refused["code"] == "not_invited"
        unknown = await alex.request({"type": "meeting.join", "meeting_id": str(uuid.uuid4())})
        assert unknown["code"] == "not_found"
    finally:
        await priya.close()
        await alex.close()


def test_invitations_are_icalendar_with_one_uid(live_sqlite: Live) -> None:
    tom_id = live_sqlite.as_role("therapist").user["id"]
    meeting = client_session(live_sqlite, invitee_ids=[tom_id])
    keyworker = live_sqlite.as_role("peer_keyworker")
    first = Calendar.from_ical(
        keyworker.get(f"/api/v1/meetings/{meeting['id']}/invite.ics").content
    )
    event = first.walk("VEVENT")[0]
    assert str(event["UID"]) == meeting["ical_uid"] and int(event["SEQUENCE"]) == 0
    assert "Alex" not in str(event["SUMMARY"])  # calendars are not for clinical detail
    moved = keyworker.patch(
        f"/api/v1/meetings/{meeting['id']}",
        json={"starts_at": "2030-03-04T11:00:00Z", "ends_at": "2030-03-04T11:45:00Z"},
    ).json()
    assert moved["ical_sequence"] == 1
    cancelled = keyworker.post(f"/api/v1/meetings/{meeting['id']}/cancel").json()
    assert cancelled["ical_sequence"] == 2 and cancelled["state"] == "ended"
    last = Calendar.from_ical(keyworker.get(f"/api/v1/meetings/{meeting['id']}/invite.ics").content)
    assert str(last["METHOD"]) == "CANCEL"
    assert str(last.walk("VEVENT")[0]["UID"]) == meeting["ical_uid"]


async def test_the_lobby_is_seen_only_by_those_who_may_admit(live_sqlite: Live) -> None:
    """Who waits in the lobby, and what they write there, reaches only the admitted staff who may
    admit: not an admitted client, and nobody in the lobby hears the call."""
    email = f"lobby-guest-{uuid.uuid4().hex[:6]}@tyneside.example"
    made = live_sqlite.new_account(email, "Gale Guest", "therapist")
    guest_session = live_sqlite.sign_in(email)
    meeting = client_session(live_sqlite, invitee_ids=[made["id"]])["id"]
    priya = await connect(live_sqlite, live_sqlite.as_role("peer_keyworker"))
    alex = await connect(live_sqlite, live_sqlite.as_role("client"))
    guest = await connect(live_sqlite, guest_session)
    try:
        await priya.request({"type": "meeting.join", "meeting_id": meeting})
        alex_pid = (await alex.request({"type": "meeting.join", "meeting_id": meeting}))[
            "participant_id"
        ]
        admit = {"type": "meeting.admit", "meeting_id": meeting, "participant_id": alex_pid}
        assert (await priya.request(admit))["type"] == "ack"
        await alex.wait_type("meeting.admitted")

        # The invited guest waits in the lobby, writes a note, and is declined.
        waiting = await guest.request({"type": "meeting.join", "meeting_id": meeting})
        assert waiting["type"] == "meeting.waiting"
        lobby = await priya.wait_for(
            lambda f: (
                f.get("type") == "meeting.lobby"
                and [w["name"] for w in f["waiting"]] == ["Gale Guest"]
            )
        )
        assert lobby["waiting"][0]["participant_id"] == waiting["participant_id"]
        note = {"type": "meeting.lobby_message", "meeting_id": meeting, "text": "Hello?"}
        assert (await guest.request(note))["type"] == "ack"
        assert (await priya.wait_type("meeting.lobby_message"))["from_name"] == "Gale Guest"
        decline = {
            "type": "meeting.decline",
            "meeting_id": meeting,
            "participant_id": waiting["participant_id"],
        }
        # Answered once every lobby frame of the decline (and of what came before) is out.
        assert (await priya.request(decline))["type"] == "ack"
        await guest.wait_type("meeting.declined")

        # A frame published to both after all of that: what reached Alex and the guest before it
        # is everything they were ever sent about the lobby and the call.
        media = {"type": "meeting.media", "meeting_id": meeting, "audio": False, "video": False}
        await priya.send(media)
        await alex.wait_for(
            lambda f: f.get("type") == "meeting.participant" and f["participant"]["audio"] is False
        )
        assert not [
            f for f in alex.frames if f.get("type") in ("meeting.lobby", "meeting.lobby_message")
        ], alex.frames
        assert (await guest.request({"type": "ping"}))["type"] == "pong"
        assert not [
            f
            for f in guest.frames
            if f.get("type")
            in ("meeting.participant", "meeting.participant_joined", "meeting.lobby")
        ], guest.frames
    finally:
        for client in (priya, alex, guest):
            await client.close()


async def test_a_second_device_takes_the_seat_over(live_sqlite: Live) -> None:
    """As docs/realtime.md says: one seat per person, moved to the device that joined last; the
    first device is told (`meeting.moved`) and its meeting frames are refused."""
    meeting = client_session(live_sqlite)["id"]
    laptop = await connect(live_sqlite, live_sqlite.as_role("peer_keyworker"))
    phone = await connect(live_sqlite, live_sqlite.as_role("peer_keyworker"))
    tom = await connect(live_sqlite, live_sqlite.as_role("therapist"))
    try:
        first = await laptop.request({"type": "meeting.join", "meeting_id": meeting})
        tom_pid = (await tom.request({"type": "meeting.join", "meeting_id": meeting}))[
            "participant_id"
        ]
        await laptop.wait_type("meeting.participant_joined")
        moved = await phone.request({"type": "meeting.join", "meeting_id": meeting, "video": False})
        assert moved["type"] == "meeting.joined"
        assert moved["participant_id"] == first["participant_id"]
        assert [p["participant_id"] for p in moved["participants"]] == [tom_pid]
        rejoined = await tom.wait_type("meeting.participant")
        assert rejoined["participant"]["participant_id"] == first["participant_id"]
        assert rejoined["participant"]["video"] is False
        # The laptop is out of the call, and is told so.
        told = await laptop.wait_type("meeting.moved")
        assert told == {
            "type": "meeting.moved",
            "meeting_id": meeting,
            "participant_id": first["participant_id"],
            "reason": "joined_on_another_device",
        }
        assert not [f for f in phone.frames if f.get("type") == "meeting.moved"]
        media = {"type": "meeting.media", "meeting_id": meeting, "audio": True, "video": True}
        assert (await laptop.request(media))["code"] == "not_admitted"
        leave = await laptop.request({"type": "meeting.leave", "meeting_id": meeting})
        assert leave["code"] == "not_found"
        assert not [f for f in laptop.frames if f.get("type") == "meeting.participant"]
        # The phone has the seat: its media change goes to everyone admitted (itself too).
        await phone.send(media)
        for client in (phone, tom):
            await client.wait_for(
                lambda f: f.get("type") == "meeting.participant" and f["participant"]["video"]
            )
        assert not [f for f in laptop.frames if f.get("type") == "meeting.participant"]
        # Joining again from the laptop takes the seat back; now the phone is told.
        back = await laptop.request({"type": "meeting.join", "meeting_id": meeting})
        assert back["type"] == "meeting.joined"
        assert back["participant_id"] == first["participant_id"]
        assert (await phone.wait_type("meeting.moved"))["meeting_id"] == meeting
        assert len([f for f in laptop.frames if f.get("type") == "meeting.moved"]) == 1
    finally:
        for client in (laptop, phone, tom):
            await client.close()
