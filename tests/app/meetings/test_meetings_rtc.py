"""Meetings end to end: real aiortc peers signalled through the real `/ws` gateway.

Each test arranges one meeting about the demo client Alex Morgan and joins it with
``MeetingPeer``s (tests/support/rtc_peer.py): the peers connect, exchange bytes over their data
channels and receive each other's audio and video; the client waits in the lobby until admitted
and learns nothing about the call meanwhile; staff outside the care team are refused.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aioice.stun
import pytest

from tests.conftest import Live
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.rtc_peer import MeetingError, MeetingPeer
from tests.support.ws import WsClient

STAFF_SIGNALS = (
    "meeting.signal",
    "meeting.participant",
    "meeting.participant_joined",
    "meeting.participant_left",
    "meeting.lobby",
    "meeting.lobby_message",
)


@pytest.fixture(autouse=True)
def quick_stun_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dropped first check is retried after 0.1 s rather than aioice's 0.5 s.
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)


class Call:
    """Sockets and peers of one test, all closed on the way out whatever happened."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.sockets: list[WsClient] = []
        self.peers: list[MeetingPeer] = []

    async def connect(self, role: str) -> WsClient:
        return await self.connect_token(self.live.as_role(role).tokens["access_token"])

    async def connect_token(self, token: str) -> WsClient:
        ws = await WsClient.connect(self.live.base_url, token)
        self.sockets.append(ws)
        await ws.wait_type("ready")
        return ws

    def peer(self, ws: WsClient, meeting_id: str, **kw: Any) -> MeetingPeer:
        peer = MeetingPeer(ws, meeting_id, **kw)
        self.peers.append(peer)
        return peer

    async def join(self, ws: WsClient, meeting_id: str, **kw: Any) -> MeetingPeer:
        peer = await MeetingPeer.join(ws, meeting_id, **kw)
        self.peers.append(peer)
        return peer

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


@asynccontextmanager
async def call(live: Live) -> AsyncIterator[Call]:
    running = Call(live)
    try:
        yield running
    finally:
        await running.close()


def user_id(live: Live, role: str) -> str:
    return str(live.as_role(role).user["id"])


def case_meeting(live: Live, *invited_roles: str, kind: str = "case_meeting") -> str:
    """A meeting about Alex, arranged by his keyworker, starting now."""
    now = datetime.now(UTC)
    made = arrange_meeting(
        live.as_role("peer_keyworker"),
        kind=kind,
        title=f"Alex: review {uuid.uuid4().hex[:6]}",
        client_id=client_id_of(live, "Alex Morgan"),
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        invitee_ids=[user_id(live, role) for role in invited_roles],
    )
    return str(made["id"])


async def assert_connected(a: MeetingPeer, b: MeetingPeer) -> None:
    """Connected both ways, bytes across the data channel both ways, audio and video both ways."""
    assert a.participant_id and b.participant_id
    await asyncio.gather(a.wait_connected(b.participant_id), b.wait_connected(a.participant_id))
    there, back = uuid.uuid4().bytes * 4, uuid.uuid4().bytes * 4
    await a.send_bytes(b.participant_id, there)
    await b.send_bytes(a.participant_id, back)
    assert await b.received_bytes(a.participant_id) == there
    assert await a.received_bytes(b.participant_id) == back
    seen = await asyncio.gather(a.wait_tracks(b.participant_id), b.wait_tracks(a.participant_id))
    for frames in seen:
        assert frames.get("audio", 0) >= 1 and frames.get("video", 0) >= 1, frames


async def assert_mesh(peers: list[MeetingPeer]) -> None:
    await asyncio.gather(*(assert_connected(a, b) for a, b in itertools.combinations(peers, 2)))
    for peer in peers:
        others = {p.participant_id for p in peers} - {peer.participant_id}
        assert set(peer.connections) == others


async def test_two_members_of_the_care_team_see_and_hear_each_other(live_sqlite: Live) -> None:
    meeting = case_meeting(live_sqlite, "therapist")
    async with call(live_sqlite) as c:
        priya = await c.join(await c.connect("peer_keyworker"), meeting)
        tom_ws = await c.connect("therapist")
        tom = await c.join(tom_ws, meeting)
        assert priya.entry_frame and priya.entry_frame["type"] == "meeting.joined"
        assert priya.entry_frame["participants"] == []
        joined = tom.entry_frame
        assert joined and [p["participant_id"] for p in joined["participants"]] == [
            priya.participant_id
        ]
        assert joined["participants"][0]["user_id"] == user_id(live_sqlite, "peer_keyworker")
        arrived = await priya.ws.wait_type("meeting.participant_joined", meeting_id=meeting)
        assert arrived["participant"]["participant_id"] == tom.participant_id

        await assert_mesh([priya, tom])

        assert (await tom.leave())["type"] == "ack"
        left = await priya.ws.wait_type("meeting.participant_left", meeting_id=meeting)
        assert left["participant_id"] == tom.participant_id and left["reason"] == "left"


async def test_a_third_member_makes_a_full_mesh(live_sqlite: Live) -> None:
    meeting = case_meeting(live_sqlite, "therapist", "employment_specialist")
    async with call(live_sqlite) as c:
        priya = await c.join(await c.connect("peer_keyworker"), meeting)
        tom = await c.join(await c.connect("therapist"), meeting)
        await assert_connected(priya, tom)
        erin = await c.join(await c.connect("employment_specialist"), meeting)
        assert erin.entry_frame
        assert {p["participant_id"] for p in erin.entry_frame["participants"]} == {
            priya.participant_id,
            tom.participant_id,
        }
        await assert_mesh([priya, tom, erin])


async def test_the_client_waits_in_the_lobby_until_admitted(live_sqlite: Live) -> None:
    meeting = case_meeting(live_sqlite, "therapist", "client", kind="client_session")
    async with call(live_sqlite) as c:
        priya_ws = await c.connect("peer_keyworker")
        priya = await c.join(priya_ws, meeting)
        alex_ws = await c.connect("client")
        alex = c.peer(alex_ws, meeting)
        waiting = await alex.request_join()
        assert waiting["type"] == "meeting.waiting", waiting
        assert "participants" not in waiting and "ice_servers" not in waiting
        lobby = await priya_ws.wait_for(
            lambda f: (
                f.get("type") == "meeting.lobby"
                and f.get("meeting_id") == meeting
                and any(w["participant_id"] == alex.participant_id for w in f["waiting"])
            )
        )
        (seat,) = [w for w in lobby["waiting"] if w["participant_id"] == alex.participant_id]
        assert seat["name"] == "Alex Morgan"
        assert seat["user_id"] == user_id(live_sqlite, "client")

        # The call goes on without him: Tom joins and connects to Priya meanwhile.
        tom = await c.join(await c.connect("therapist"), meeting)
        await assert_connected(priya, tom)
        leaked = [f for f in alex_ws.frames if f.get("type") in STAFF_SIGNALS]
        assert leaked == []
        assert alex.connections == {}

        admitted = await priya_ws.request(
            {"type": "meeting.admit", "meeting_id": meeting, "participant_id": alex.participant_id}
        )
        assert admitted["type"] == "ack", admitted
        await alex.wait_admitted()
        assert alex.waited_in_lobby and alex.entry_frame
        assert alex.entry_frame["type"] == "meeting.admitted"
        assert alex.participant_id == waiting["participant_id"]
        assert {p["participant_id"] for p in alex.entry_frame["participants"]} == {
            priya.participant_id,
            tom.participant_id,
        }
        await assert_mesh([priya, tom, alex])


async def test_staff_outside_the_care_team_are_not_invited(live_sqlite: Live) -> None:
    meeting = case_meeting(live_sqlite, "therapist")
    email = f"outsider-{uuid.uuid4().hex[:8]}@tyneside.example"
    live_sqlite.new_account(email, "Olu Outsider", "therapist")
    outsider = live_sqlite.sign_in(email)
    try:
        async with call(live_sqlite) as c:
            ws = await c.connect_token(outsider.tokens["access_token"])
            with pytest.raises(MeetingError) as refused:
                await c.join(ws, meeting)
            assert refused.value.code == "not_invited"
            assert refused.value.frame["type"] == "error"
            assert not [f for f in ws.frames if f.get("type") in STAFF_SIGNALS]
    finally:
        outsider.http.close()
