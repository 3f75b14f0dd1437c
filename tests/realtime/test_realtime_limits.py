"""Every realtime limit at its edge, and bad input, on a server with small limits."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from app.clock import SystemClock
from auth.tokens import TokenSigner
from tests.conftest import Live, demo_team_id, live_server
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.net import wait_until
from tests.support.ws import WsClient

LIMITS = {
    "TEAMWELL_WS_MAX_FRAME_BYTES": "2048",
    "TEAMWELL_MESSAGE_MAX_CHARS": "50",
    "TEAMWELL_MESSAGES_PER_SECOND": "0.5",
    "TEAMWELL_MESSAGE_BURST": "3",
    "TEAMWELL_WS_CONNECTIONS_PER_USER": "2",
    "TEAMWELL_WS_AUTH_TIMEOUT_SECONDS": "1",
    "TEAMWELL_WS_AUTH_GRACE_SECONDS": "1.5",
    "TEAMWELL_WS_HEARTBEAT_TIMEOUT_SECONDS": "8",
    "TEAMWELL_WS_MAX_CONSECUTIVE_ERRORS": "4",
    "TEAMWELL_SYNC_PAGE_MAX": "3",
    "TEAMWELL_CONVERSATIONS_PAGE_MAX": "2",
    "TEAMWELL_TYPING_PER_SECOND": "2",
    "TEAMWELL_MEETING_MAX_PARTICIPANTS": "2",
    "TEAMWELL_MEETING_REJOIN_GRACE_SECONDS": "1.5",
    "TEAMWELL_SDP_MAX_BYTES": "1024",
    "TEAMWELL_SIGNALS_PER_SECOND": "0.5",
    "TEAMWELL_SIGNAL_BURST": "3",
    "TEAMWELL_LOBBY_MESSAGE_MAX_CHARS": "20",
    "TEAMWELL_WS_SENDS_IN_FLIGHT": "2",
    "TEAMWELL_ALLOWED_ORIGINS": '["https://care.example.org"]',
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory, "limits", extra_env=LIMITS) as running:
        yield running


async def connect(live: Live, role: str) -> WsClient:
    client = await WsClient.connect(live.base_url, live.as_role(role).tokens["access_token"])
    await client.wait_type("ready")
    return client


def team_conversation(live: Live) -> str:
    keyworker = live.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    return str(
        keyworker.post("/api/v1/conversations", json={"kind": "team", "team_id": team_id}).json()[
            "id"
        ]
    )


async def test_bad_frames_get_error_frames_and_the_socket_stays(small: Live) -> None:
    client = await connect(small, "therapist")
    try:
        cases = [
            ("{not json", "bad_json"),
            ("[1, 2]", "invalid_frame"),
            (json.dumps({"type": "teleport"}), "unknown_type"),
            (json.dumps({"type": "message.send", "id": "m1"}), "invalid_frame"),
            (
                json.dumps(
                    {"type": "sync", "id": "s1", "conversation_id": "nope", "after_seq": -1}
                ),
                "invalid_frame",
            ),
        ]
        for raw, code in cases[:3]:
            await client.send(raw)
            error = await client.wait_type("error")
            assert error["code"] == code, raw
            assert (await client.request({"type": "ping"}))["type"] == "pong"
        for raw, code in cases[3:]:
            await client.send(raw)
            error = await client.wait_type("error")
            assert error["code"] == code and error["id"] in ("m1", "s1")
            assert "conversation_id" in error["message"]
    finally:
        await client.close()


async def test_frame_size_limit_at_its_edge(small: Live) -> None:
    client = await connect(small, "therapist")
    try:
        base = {"type": "ping", "id": "p"}
        overhead = len(json.dumps({**base, "pad": ""}))
        # Unknown fields are refused, but only after the size check: so the code tells which.
        at_limit = json.dumps({**base, "pad": "x" * (2048 - overhead)})
        assert len(at_limit) == 2048
        await client.send(at_limit)
        assert (await client.wait_type("error", id="p"))["code"] == "invalid_frame"
        await client.send(json.dumps({**base, "pad": "x" * (2049 - overhead)}))
        assert (await client.wait_type("error"))["code"] == "frame_too_large"
        assert (await client.request({"type": "ping"}))["type"] == "pong"
    finally:
        await client.close()


async def test_message_size_and_rate_limits_at_their_edges(small: Live) -> None:
    conversation = team_conversation(small)
    client = await connect(small, "peer_keyworker")
    try:
        too_long = await client.send_message(conversation, "x" * 51)
        assert too_long["type"] == "error" and too_long["code"] == "message_too_long"
        # The burst allows three; the refused one above cost nothing.
        for n in range(3):
            ok = await client.send_message(conversation, "x" * 50 if n == 0 else f"ok {n}")
            assert ok["type"] == "message.ack", ok
        limited = await client.send_message(conversation, "one too many", "one-too-many")
        assert limited["type"] == "error" and limited["code"] == "rate_limited"
        # When the next token is there: at most one token's time at 0.5 a second.
        assert isinstance(limited["retry_after_ms"], int)
        assert 0 < limited["retry_after_ms"] <= 2000
        history = (
            small.as_role("peer_keyworker")
            .get(f"/api/v1/conversations/{conversation}/messages")
            .json()
        )
        assert "one too many" not in [m["body"] for m in history["messages"]]
        assert history["messages"][-1]["body"] == "ok 2"  # nothing accepted was lost
        # Sent again once retry_after_ms has passed, it is accepted (the wait is the client's
        # backoff, as the server told it; the server rounds up, so the token is there).
        await asyncio.sleep(limited["retry_after_ms"] / 1000)
        again = await client.send_message(conversation, "one too many", "one-too-many")
        assert again["type"] == "message.ack" and not again["duplicate"], again
    finally:
        await client.close()


async def test_a_burst_past_the_rate_is_slowed_not_closed(small: Live) -> None:
    """An outbox flushing after a reconnect sends many messages at once. Those over the rate are
    refused with a retry_after_ms and do not count towards the refused frames in a row (4 here):
    the socket stays, and nothing it had accepted is lost."""
    conversation = team_conversation(small)
    client = await connect(small, "employment_specialist")
    try:
        ids = [f"burst-{n}" for n in range(10)]
        for request_id in ids:
            await client.send(
                {
                    "type": "message.send",
                    "id": request_id,
                    "conversation_id": conversation,
                    "client_msg_id": f"burst-{request_id}",
                    "body": f"burst {request_id}",
                }
            )
        replies = [await client.wait_for(lambda f, r=r: f.get("id") == r) for r in ids]
        limited = [r for r in replies if r["type"] == "error"]
        acked = [r for r in replies if r["type"] == "message.ack"]
        # Past the burst of three, more refusals in a row than the consecutive-error limit.
        assert len(limited) >= 5 and len(acked) + len(limited) == len(ids)
        assert {r["code"] for r in limited} == {"rate_limited"}
        assert all(r["retry_after_ms"] > 0 for r in limited)
        assert (await client.request({"type": "ping"}))["type"] == "pong"  # still connected
        assert client.closed_code is None
        stored = (
            small.as_role("employment_specialist")
            .get(f"/api/v1/conversations/{conversation}/messages")
            .json()["messages"]
        )
        stored_ids = [m["client_msg_id"] for m in stored if m["client_msg_id"].startswith("burst-")]
        assert stored_ids == [f"burst-{r['id']}" for r in acked]
    finally:
        await client.close()


async def test_refused_frames_still_close_at_the_limit_between_rate_refusals(
    small: Live,
) -> None:
    """A rate_limited refusal neither counts nor clears the count: a client that sends broken
    frames is closed at the limit (4) whatever rate refusals come between them."""
    conversation = team_conversation(small)
    client = await connect(small, "employment_specialist")
    try:
        for _ in range(4):  # use up the burst (what is left of it)
            if (await client.send_message(conversation, "fill"))["type"] == "error":
                break
        for _ in range(3):
            await client.send("{garbage")
            limited = await client.send_message(conversation, "over the rate")
            assert limited["code"] == "rate_limited", limited
        await client.send("{garbage")  # the fourth refused frame in a row that counts
        assert await client.wait_closed() == 4400
    finally:
        await client.close()


async def test_a_second_socket_of_the_same_person_buys_no_extra_rate(small: Live) -> None:
    """The message rate is per person: once one socket has used the person's burst, their
    second socket is refused too (a bucket per socket would give it a burst of its own)."""
    conversation = team_conversation(small)
    first = await connect(small, "supervisor")
    second = await connect(small, "supervisor")
    try:
        for n in range(4):  # the burst is three
            reply = await first.send_message(conversation, f"first socket {n}")
            if reply["type"] == "error":
                break
        assert reply["code"] == "rate_limited", reply
        other = await second.send_message(conversation, "second socket")
        assert other["type"] == "error" and other["code"] == "rate_limited", other
        # The same bucket: the second socket is told to wait no longer than the first.
        assert other["retry_after_ms"] <= reply["retry_after_ms"]
    finally:
        await first.close()
        await second.close()


async def test_sync_pages_are_capped(small: Live) -> None:
    conversation = team_conversation(small)
    client = await connect(small, "therapist")
    try:
        page = await client.request(
            {"type": "sync", "conversation_id": conversation, "after_seq": 0, "limit": 1000}
        )
        assert page["type"] == "sync.page" and len(page["messages"]) <= 3
    finally:
        await client.close()


async def test_connections_per_person_at_the_edge(small: Live) -> None:
    first = await connect(small, "supervisor")
    second = await connect(small, "supervisor")
    try:
        third = await WsClient.connect(
            small.base_url, small.as_role("supervisor").tokens["access_token"]
        )
        assert await third.wait_closed() == 4409
    finally:
        await first.close()
        await second.close()


async def test_continued_abuse_closes_the_connection(small: Live) -> None:
    client = await connect(small, "therapist")
    for _ in range(4):
        await client.send("{garbage")
    assert await client.wait_closed() == 4400


async def test_no_auth_in_time_closes(small: Live) -> None:
    client = await WsClient.connect(small.base_url)  # no token anywhere
    assert await client.wait_closed() == 4408


async def test_a_silent_connection_is_closed_after_the_heartbeat_timeout(small: Live) -> None:
    client = await connect(small, "therapist")
    assert await client.wait_closed(timeout=20) == 4408


def short_token(live: Live, seconds: int) -> str:
    """A real session's token that expires in a few seconds, signed with the server's key."""
    secret = json.loads(Path(live.data_dir / "secrets.json").read_text())["jwt_secret"]
    signer = TokenSigner(secret)
    claims = signer.read_access_token(
        live.as_role("therapist").tokens["access_token"], now=SystemClock().now()
    )
    return signer.access_token(
        user_id=claims.user_id,
        session_id=claims.session_id,
        role=claims.role,
        mfa=claims.mfa,
        now=SystemClock().now(),
        lifetime=timedelta(seconds=seconds),
    )


async def test_an_expired_token_gets_a_grace_frame_then_a_close(small: Live) -> None:
    client = await WsClient.connect(small.base_url, short_token(small, 2))
    await client.wait_type("ready")
    expired = await client.wait_type("auth.expired", timeout=10)
    assert expired["grace_seconds"] == 1.5
    await client.send({"type": "ping"})  # heartbeats alone do not renew the token
    assert await client.wait_closed(timeout=10) == 4401


async def test_re_authenticating_in_place_keeps_the_socket(small: Live) -> None:
    client = await WsClient.connect(small.base_url, short_token(small, 2))
    try:
        await client.wait_type("ready")
        await client.wait_type("auth.expired", timeout=10)
        fresh = small.as_role("therapist").tokens["access_token"]
        assert (await client.request({"type": "auth", "token": fresh}))["type"] == "ack"
        others = small.as_role("peer_keyworker").tokens["access_token"]
        wrong = await client.request({"type": "auth", "token": others})
        assert wrong["type"] == "error" and wrong["code"] == "unauthenticated"
        assert await client.wait_closed() == 4401
    finally:
        await client.close()


async def test_typing_notices_are_rate_limited_at_the_edge(small: Live) -> None:
    conversation = team_conversation(small)
    client = await connect(small, "therapist")
    try:
        for _ in range(2):  # the burst is the per-second rate
            await client.send({"type": "typing", "conversation_id": conversation, "active": True})
        await client.send({"type": "typing", "conversation_id": conversation, "active": True})
        assert (await client.wait_type("error"))["code"] == "rate_limited"
        assert len([f for f in client.frames if f.get("type") == "error"]) == 1
    finally:
        await client.close()


def test_conversation_pages_are_capped_at_the_edge(small: Live) -> None:
    keyworker = small.as_role("peer_keyworker")
    team_conversation(small)
    clients = keyworker.get("/api/v1/clients").json()["items"][:2]
    for client in clients:
        opened = keyworker.post(
            "/api/v1/conversations", json={"kind": "case", "client_id": client["id"]}
        )
        assert opened.status_code == 200
    page = keyworker.get("/api/v1/conversations", params={"limit": 100}).json()
    assert page["limit"] == 2 and len(page["items"]) == 2 and page["total"] >= 3
    rest = keyworker.get("/api/v1/conversations", params={"offset": 2}).json()
    assert rest["items"] and {c["id"] for c in rest["items"]}.isdisjoint(
        {c["id"] for c in page["items"]}
    )


def case_meeting(live: Live) -> str:
    made = arrange_meeting(
        live.as_role("peer_keyworker"),
        client_id=client_id_of(live, "Alex Morgan"),
        starts_at="2030-05-01T09:00:00Z",
        ends_at="2030-05-01T10:00:00Z",
    )
    return str(made["id"])


async def test_meeting_limits_at_their_edges(small: Live) -> None:
    meeting = case_meeting(small)
    priya = await connect(small, "peer_keyworker")
    tom = await connect(small, "therapist")
    erin = await connect(small, "employment_specialist")
    alex = await connect(small, "client")
    try:
        await priya.request({"type": "meeting.join", "meeting_id": meeting})
        tom_pid = (await tom.request({"type": "meeting.join", "meeting_id": meeting}))[
            "participant_id"
        ]
        # The participant limit is two: the third gets a clear error.
        full = await erin.request({"type": "meeting.join", "meeting_id": meeting})
        assert full["type"] == "error" and full["code"] == "meeting_full"
        # ...and nobody can be admitted from the lobby past it either.
        waiting = await alex.request({"type": "meeting.join", "meeting_id": meeting})
        refused = await priya.request(
            {
                "type": "meeting.admit",
                "meeting_id": meeting,
                "participant_id": waiting["participant_id"],
            }
        )
        assert refused["type"] == "error" and refused["code"] == "meeting_full"
        # Lobby notes are limited too.
        long_note = await alex.request(
            {"type": "meeting.lobby_message", "meeting_id": meeting, "text": "x" * 21}
        )
        assert long_note["code"] == "message_too_long"
        assert (
            await alex.request(
                {"type": "meeting.lobby_message", "meeting_id": meeting, "text": "x" * 20}
            )
        )["type"] == "ack"

        # SDP size at its edge: exactly the limit is relayed, one byte more is refused.
        def offer(size: int) -> dict[str, object]:
            return {
                "type": "meeting.signal",
                "meeting_id": meeting,
                "to": tom_pid,
                "signal": {"kind": "offer", "sdp": "v" * size},
            }

        await priya.send({**offer(1024), "id": "fits"})
        await tom.wait_type("meeting.signal")
        too_big = await priya.request(offer(1025))
        assert too_big["code"] == "invalid_frame" and "1024" in too_big["message"]
        # Each kind carries its own fields: a candidate cannot ride on an offer past its
        # limit, nor an SDP on a candidate.
        riding = await priya.request(
            {**offer(10), "signal": {"kind": "offer", "sdp": "v=0", "candidate": "c" * 1500}}
        )
        assert riding["code"] == "invalid_frame" and "sdp only" in riding["message"]
        carrying = await priya.request(
            {**offer(10), "signal": {"kind": "candidate", "sdp": "v=0", "candidate": "c"}}
        )
        assert carrying["code"] == "invalid_frame" and "no sdp" in carrying["message"]
        # The signalling rate: a burst of three (the oversized one, refused first, cost
        # nothing), then refused.
        await priya.send(offer(10))
        await priya.send(offer(10))
        limited = await priya.request(offer(10))
        assert limited["code"] == "rate_limited"
        assert (await priya.request({"type": "ping"}))["type"] == "pong"  # still connected
    finally:
        for client in (priya, tom, erin, alex):
            await client.close()


async def test_a_dropped_participant_keeps_the_seat_for_the_grace_time(small: Live) -> None:
    meeting = case_meeting(small)
    priya = await connect(small, "peer_keyworker")
    tom = await connect(small, "therapist")
    try:
        await priya.request({"type": "meeting.join", "meeting_id": meeting})
        tom_pid = (await tom.request({"type": "meeting.join", "meeting_id": meeting}))[
            "participant_id"
        ]
        tom.connection.transport.abort()  # the network drops
        dropped = await priya.wait_for(
            lambda f: (
                f.get("type") == "meeting.participant"
                and f["participant"]["state"] == "reconnecting"
            )
        )
        assert dropped["participant"]["participant_id"] == tom_pid
        back = await connect(small, "therapist")
        try:
            rejoined = await back.request({"type": "meeting.join", "meeting_id": meeting})
            assert rejoined["type"] == "meeting.joined"
            assert rejoined["participant_id"] == tom_pid  # the same seat
            await priya.wait_for(
                lambda f: (
                    f.get("type") == "meeting.participant"
                    and f["participant"]["state"] == "admitted"
                )
            )
            # Gone for good this time: after the grace time the others are told.
            back.connection.transport.abort()
            left = await priya.wait_type("meeting.participant_left", timeout=10)
            assert left["participant_id"] == tom_pid and left["reason"] == "timeout"
        finally:
            await back.close()
    finally:
        await priya.close()
        await tom.close()


async def test_a_socket_reads_on_while_its_messages_commit_up_to_the_limit(small: Live) -> None:
    """message.send frames are handed to the message writer as they are read, and the socket's
    next frames are read while they wait for their commit, up to TEAMWELL_WS_SENDS_IN_FLIGHT (2
    here); their acknowledgements come in the order they were sent."""
    conversation = team_conversation(small)
    client = await connect(small, "therapist")

    def send(request_id: str) -> dict[str, str]:
        return {
            "type": "message.send",
            "id": request_id,
            "conversation_id": conversation,
            "client_msg_id": f"in-flight-{request_id}",
            "body": f"in flight {request_id}",
        }

    database = sqlite3.connect(small.data_dir / "teamwell.db", isolation_level=None)
    try:
        # Holding SQLite's write lock keeps every message waiting for its commit.
        database.execute("BEGIN IMMEDIATE")
        try:
            await client.send(send("m1"))
            # One in flight: the socket's next frame is read and answered meanwhile.
            assert (await client.request({"type": "ping", "id": "p1"}))["type"] == "pong"
            await client.send(send("m2"))
            # Two in flight: the limit. The next frame waits to be read.
            await client.send({"type": "ping", "id": "p2"})
            with pytest.raises(TimeoutError):
                await client.wait_for(lambda f: f.get("id") in {"m1", "m2", "p2"}, timeout=1.0)
        finally:
            database.execute("ROLLBACK")
        for request_id in ("m1", "m2", "p2"):
            await client.wait_for(lambda f, r=request_id: f.get("id") == r)
        answered = [f["id"] for f in client.frames if f.get("id") in {"m1", "m2", "p2"}]
        assert answered.index("m1") < answered.index("m2")  # acknowledged in the order sent
        assert answered.index("m1") < answered.index("p2")  # read once m1 made room
        acks = [f for f in client.frames if f.get("type") == "message.ack"]
        assert [a["message"]["body"] for a in acks[-2:]] == ["in flight m1", "in flight m2"]
        assert acks[-2]["message"]["seq"] + 1 == acks[-1]["message"]["seq"]
    finally:
        database.close()
        await client.close()


async def test_a_message_in_flight_when_its_socket_closes_is_still_announced(small: Live) -> None:
    conversation = team_conversation(small)
    sender = await connect(small, "therapist")
    member = await connect(small, "peer_keyworker")
    database = sqlite3.connect(small.data_dir / "teamwell.db", isolation_level=None)
    try:
        database.execute("BEGIN IMMEDIATE")
        try:
            await sender.send(
                {
                    "type": "message.send",
                    "id": "gone",
                    "conversation_id": conversation,
                    "client_msg_id": "sent-then-gone",
                    "body": "sent just before the link dropped",
                }
            )
            # Read by the server (it answers the next frame) before the socket goes.
            assert (await sender.request({"type": "ping"}))["type"] == "pong"
            await sender.close()
        finally:
            database.execute("ROLLBACK")
        announced = await member.wait_for(
            lambda f: (
                f.get("type") == "message.new"
                and f["message"]["body"] == "sent just before the link dropped"
            )
        )
        assert announced["message"]["conversation_id"] == conversation
    finally:
        database.close()
        await member.close()


# --- the handshake: origins, and clients that go away -------------------------------------------


def refused_sockets(live: Live, user_agent: str) -> list[tuple[str, str, str]]:
    """The audited refusals of sockets opened with ``user_agent``: (action, outcome, detail)."""
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        rows = db.execute(
            "SELECT action, outcome, detail FROM audit_event WHERE user_agent = ?", (user_agent,)
        ).fetchall()
    return [(str(a), str(o), str(d)) for a, o, d in rows]


async def open_from(live: Live, origin: str | None, user_agent: str) -> WsClient:
    headers = {"User-Agent": user_agent}
    if origin is not None:
        headers["Origin"] = origin
    return await WsClient.connect(
        live.base_url, live.as_role("therapist").tokens["access_token"], headers=headers
    )


async def test_a_socket_opened_by_another_sites_page_is_refused_and_audited(small: Live) -> None:
    """Cross-site WebSocket hijacking: a browser names the page that opens a socket in
    ``Origin``; only the public URL's own and TEAMWELL_ALLOWED_ORIGINS' pages get in."""
    for origin in (
        "https://evil.example",
        "https://care.example.org.evil.example",
        "http://care.example.org",  # the allowed origin, but not over https
        "https://care.example.org:8443",
        small.base_url.replace("127.0.0.1", "localhost"),
        "null",  # a sandboxed page or a file
    ):
        agent = f"origin-{uuid.uuid4().hex[:10]}"
        with pytest.raises(InvalidStatus) as refused:
            await open_from(small, origin, agent)
        assert refused.value.response.status_code == 403, origin
        assert refused_sockets(small, agent) == [
            ("ws.connect", "denied", f"WebSocket from origin {origin!r} refused.")
        ]
    # The service's own pages, an allowed site's (the edge: exactly as listed, any case) and
    # clients that are not browsers (no Origin) get in, and nothing is recorded against them.
    for origin in (
        small.base_url,
        "https://care.example.org",
        "https://Care.Example.org:443",
        None,
    ):
        agent = f"origin-{uuid.uuid4().hex[:10]}"
        client = await open_from(small, origin, agent)
        try:
            assert (await client.wait_for(lambda f: True))["type"] == "ready", origin
        finally:
            await client.close()
        assert refused_sockets(small, agent) == []


async def _auth_and_go(live: Live, token: str) -> None:
    """Open ``/ws``, then send an ``auth`` frame and a close frame in one write: the server reads
    the token of a client that has already gone, and whatever it answers finds the socket shut."""
    client = await WsClient.connect(live.base_url)
    protocol = client.connection.protocol
    protocol.send_text(json.dumps({"type": "auth", "token": token}).encode())
    protocol.send_close(1000, "")
    client.connection.transport.write(b"".join(protocol.data_to_send()))
    await client.wait_closed()


async def test_clients_that_go_away_at_once_leave_no_traceback(small: Live) -> None:
    """Strangers opening ``/ws`` with a made-up token and leaving at once must not fill the log;
    nor does an ordinary client that leaves while it is being greeted."""
    assert small.server.log_path is not None
    start = small.server.log_path.stat().st_size

    def since_start() -> str:
        assert small.server.log_path is not None
        with small.server.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode(errors="replace")

    strangers = 5
    for _ in range(strangers):
        await _auth_and_go(small, "not-a-token-at-all")
    # Each of them gets one line, the sign that the server is done with them.
    marker = "a socket closed before it was answered"
    assert wait_until(lambda: since_start().count(marker) >= strangers, timeout=10), since_start()

    # A person's sockets, greeted after they went. Once the server lets the person open as many
    # sockets as the limit again, it is done with the ones that went.
    limit = int(LIMITS["TEAMWELL_WS_CONNECTIONS_PER_USER"])
    token = small.as_role("employment_specialist").tokens["access_token"]
    for _ in range(limit):
        await _auth_and_go(small, token)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        sockets = [await WsClient.connect(small.base_url, token) for _ in range(limit)]
        greeted = [await s.wait_for(lambda f: f["type"] in ("ready", "error")) for s in sockets]
        for s in sockets:
            await s.close()
        if all(frame["type"] == "ready" for frame in greeted):
            break
        assert asyncio.get_running_loop().time() < deadline, "the sockets that went stayed"
    log = since_start()
    assert "Traceback" not in log and "connection task failed" not in log, log[-4000:]
    assert log.count(marker) == strangers, log
