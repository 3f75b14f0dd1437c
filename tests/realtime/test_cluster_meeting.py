"""Two server processes on one PostgreSQL and one Redis serve one conversation and one meeting:
the team's conversation, and the call started from it, with the two people on different
processes. Messages cross the processes both ways with one sequence; the call's offer, answer
and ICE candidates are relayed from one process to the other, and two real WebRTC peers
(aiortc) connect through them, exchanging bytes, audio and video.
"""

from __future__ import annotations

import asyncio
import uuid

import aioice.stun
import pytest

from tests.conftest import Live, demo_team_id
from tests.support.cluster import cluster_fixture
from tests.support.rtc_peer import MeetingPeer
from tests.support.server import LiveServer
from tests.support.ws import WsClient


@pytest.fixture(autouse=True)
def quick_stun_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dropped first check is retried after 0.1 s rather than aioice's 0.5 s.
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)


processes = cluster_fixture("cluster-meeting", fixture="processes")


async def test_one_conversation_and_one_meeting_across_two_processes(
    processes: tuple[Live, LiveServer],
) -> None:
    first, second = processes
    assert first.base_url != second.base_url
    keyworker, therapist = first.as_role("peer_keyworker"), first.as_role("therapist")
    opened = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    )
    assert opened.status_code == 200, opened.text
    conversation = opened.json()["id"]
    priya = await WsClient.connect(first.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(second.base_url, therapist.tokens["access_token"])
    peers: list[MeetingPeer] = []
    try:
        await priya.wait_type("ready")
        await tom.wait_type("ready")

        # The conversation: each way across the processes, one gap-free sequence.
        there = await priya.send_message(conversation, f"Agenda {uuid.uuid4().hex[:6]}")
        assert there["type"] == "message.ack", there
        heard = await tom.wait_type("message.new")
        assert heard["message"] == there["message"]
        back = await tom.send_message(conversation, "Joining the call now")
        assert back["message"]["seq"] == there["message"]["seq"] + 1
        assert (await priya.wait_type("message.new"))["message"] == back["message"]

        # The meeting: a call started from the conversation, one participant on each process.
        started = keyworker.post(f"/api/v1/conversations/{conversation}/call")
        assert started.status_code == 201, started.text
        meeting = started.json()["id"]
        priya_peer = await MeetingPeer.join(priya, meeting)
        peers.append(priya_peer)
        tom_peer = await MeetingPeer.join(tom, meeting)  # offers to Priya, on the other process
        peers.append(tom_peer)
        assert tom_peer.entry_frame is not None
        assert [p["participant_id"] for p in tom_peer.entry_frame["participants"]] == [
            priya_peer.participant_id
        ]
        assert priya_peer.participant_id and tom_peer.participant_id
        arrived = await priya.wait_type("meeting.participant_joined", meeting_id=meeting)
        assert arrived["participant"]["participant_id"] == tom_peer.participant_id

        # Offer, answer and candidates crossed Redis: the peers connect and talk both ways.
        await asyncio.gather(
            priya_peer.wait_connected(tom_peer.participant_id),
            tom_peer.wait_connected(priya_peer.participant_id),
        )
        hello, reply = uuid.uuid4().bytes, uuid.uuid4().bytes
        await priya_peer.send_bytes(tom_peer.participant_id, hello)
        await tom_peer.send_bytes(priya_peer.participant_id, reply)
        assert await tom_peer.received_bytes(priya_peer.participant_id) == hello
        assert await priya_peer.received_bytes(tom_peer.participant_id) == reply
        media = await asyncio.gather(
            priya_peer.wait_tracks(tom_peer.participant_id),
            tom_peer.wait_tracks(priya_peer.participant_id),
        )
        for frames in media:
            assert frames.get("audio", 0) >= 1 and frames.get("video", 0) >= 1, frames
        assert priya_peer.errors == [] and tom_peer.errors == []
        relayed = [f for f in priya.frames if f.get("type") == "meeting.signal"]
        assert {f["signal"]["kind"] for f in relayed} >= {"offer"}
        assert all(f["from"] == tom_peer.participant_id for f in relayed)

        # Leaving on one process is seen on the other.
        assert (await tom_peer.leave())["type"] == "ack"
        left = await priya.wait_type("meeting.participant_left", meeting_id=meeting)
        assert left["participant_id"] == tom_peer.participant_id and left["reason"] == "left"
    finally:
        for peer in peers:
            await peer.close()
        await priya.close()
        await tom.close()
