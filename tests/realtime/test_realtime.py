"""The `/ws` gateway against a real server with real WebSocket clients: delivery, exactly-once
sends, gap-free resume, presence privacy, case threads, receipts, typing and edits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Live, Session, demo_team_id, teamwell_cli
from tests.support.builders import client_id_of
from tests.support.ws import WsClient


async def connect(live: Live, session: Session, **kw: Any) -> WsClient:
    client = await WsClient.connect(live.base_url, session.tokens["access_token"], **kw)
    await client.wait_type("ready")
    return client


def team_conversation(live: Live) -> str:
    keyworker = live.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    opened = keyworker.post("/api/v1/conversations", json={"kind": "team", "team_id": team_id})
    assert opened.status_code == 200, opened.text
    return str(opened.json()["id"])


@pytest.fixture
async def pair(live: Live) -> AsyncIterator[tuple[WsClient, WsClient, str]]:
    """The keyworker and the therapist connected, and their team's conversation."""
    conversation = team_conversation(live)
    priya = await connect(live, live.as_role("peer_keyworker"))
    tom = await connect(live, live.as_role("therapist"))
    yield priya, tom, conversation
    await priya.close()
    await tom.close()


async def test_a_message_reaches_the_other_member_once(
    pair: tuple[WsClient, WsClient, str],
) -> None:
    priya, tom, conversation = pair
    ack = await priya.send_message(conversation, "Can we move Alex's review to Thursday?")
    assert ack["type"] == "message.ack" and ack["duplicate"] is False
    sent = ack["message"]
    received = await tom.wait_type("message.new")
    assert received["message"] == sent
    assert sent["body"] == "Can we move Alex's review to Thursday?"
    assert sent["sender_name"] == "Priya Shah"
    # The sender's own socket got the acknowledgement, not an echo.
    assert not [f for f in priya.frames if f.get("type") == "message.new"]


async def test_a_resend_with_the_same_id_stores_nothing_new(
    pair: tuple[WsClient, WsClient, str],
) -> None:
    priya, tom, conversation = pair
    client_msg_id = uuid.uuid4().hex
    first = await priya.send_message(conversation, "Booked the room.", client_msg_id)
    again = await priya.send_message(conversation, "Booked the room.", client_msg_id)
    assert again["duplicate"] is True and again["message"] == first["message"]
    marker = await priya.send_message(conversation, "(marker)")
    await tom.wait_for(
        lambda f: f.get("type") == "message.new" and f["message"]["id"] == marker["message"]["id"]
    )
    copies = [
        f
        for f in tom.frames
        if f.get("type") == "message.new" and f["message"]["client_msg_id"] == client_msg_id
    ]
    # Announced again (its first announcement may have been lost with a crashed process), as
    # the same message: members drop a seq they already have.
    assert [c["message"] for c in copies] == [first["message"]] * 2
    assert marker["message"]["seq"] == first["message"]["seq"] + 1  # no number was spent


async def test_resume_after_a_dropped_connection_has_no_gap_and_no_duplicate(
    live: Live, pair: tuple[WsClient, WsClient, str]
) -> None:
    priya, tom, conversation = pair
    seen = (await priya.send_message(conversation, "before the drop"))["message"]["seq"]
    await tom.wait_for(lambda f: f.get("type") == "message.new" and f["message"]["seq"] == seen)
    # Kill Tom's socket without a closing handshake, mid-stream.
    tom.connection.transport.abort()
    sent = [
        (await priya.send_message(conversation, f"while away {n}"))["message"]["seq"]
        for n in range(5)
    ]
    back = await connect(live, live.as_role("therapist"))
    try:
        live_task = asyncio.create_task(priya.send_message(conversation, "after the return"))
        applied: dict[int, str] = {}
        after = seen
        while True:
            page = await back.request(
                {"type": "sync", "conversation_id": conversation, "after_seq": after, "limit": 2}
            )
            assert page["type"] == "sync.page", page
            for message in page["messages"]:
                assert message["seq"] not in applied
                applied[message["seq"]] = message["body"]
            if page["messages"]:
                after = page["messages"][-1]["seq"]
            if not page["has_more"]:
                break
        last = (await live_task)["message"]["seq"]
        # The live message arrives live, or was already in the sync: either way exactly once.
        if last not in applied:
            frame = await back.wait_for(
                lambda f: f.get("type") == "message.new" and f["message"]["seq"] == last
            )
            applied[last] = frame["message"]["body"]
        assert sorted(applied) == list(range(seen + 1, last + 1))
        assert [applied[s] for s in sent] == [f"while away {n}" for n in range(5)]
    finally:
        await back.close()


async def test_read_receipts_typing_and_unread_counts(
    live: Live, pair: tuple[WsClient, WsClient, str]
) -> None:
    priya, tom, conversation = pair
    unread_before = {
        u["conversation_id"]: u["unread"]
        for u in live.as_role("therapist").get("/api/v1/conversations/unread").json()
    }
    seq = (await priya.send_message(conversation, "Unread until Tom looks"))["message"]["seq"]
    await tom.wait_type("message.new")
    unread = {
        u["conversation_id"]: u
        for u in live.as_role("therapist").get("/api/v1/conversations/unread").json()
    }
    assert unread[conversation]["unread"] >= 1
    assert unread[conversation]["unread"] >= unread_before.get(conversation, 0)
    assert (await tom.request({"type": "read", "conversation_id": conversation, "seq": seq}))[
        "seq"
    ] == seq
    receipt = await priya.wait_type("receipt", conversation_id=conversation, seq=seq)
    assert receipt["user_id"] == live.as_role("therapist").user["id"]
    after = {
        u["conversation_id"]: u
        for u in live.as_role("therapist").get("/api/v1/conversations/unread").json()
    }
    assert after[conversation]["unread"] == 0

    await tom.send({"type": "typing", "conversation_id": conversation, "active": True})
    typing = await priya.wait_type("typing", conversation_id=conversation)
    assert typing["active"] is True and typing["name"] == "Tom Okafor"


async def test_edit_and_delete_are_relayed_and_audited(
    live: Live, pair: tuple[WsClient, WsClient, str]
) -> None:
    priya, tom, conversation = pair
    seq = (await priya.send_message(conversation, "Meet at 10"))["message"]["seq"]
    assert (
        await priya.request(
            {
                "type": "message.edit",
                "conversation_id": conversation,
                "seq": seq,
                "body": "Meet at 11",
            }
        )
    )["type"] == "ack"
    updated = await tom.wait_type("message.updated")
    assert updated["message"]["body"] == "Meet at 11" and updated["message"]["edited_at"]
    refused = await tom.request(
        {"type": "message.delete", "conversation_id": conversation, "seq": seq}
    )
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    assert (
        await priya.request({"type": "message.delete", "conversation_id": conversation, "seq": seq})
    )["type"] == "ack"
    deleted = await tom.wait_for(
        lambda f: f.get("type") == "message.updated" and f["message"]["deleted"]
    )
    assert deleted["message"]["body"] == ""
    events = (
        live.as_role("supervisor")
        .get(
            "/api/v1/audit-events",
            params={"actor_id": live.as_role("peer_keyworker").user["id"]},
        )
        .json()["items"]
    )
    assert {"message.edit", "message.delete"} <= {e["action"] for e in events}


async def test_presence_is_private_to_care_relationships(live: Live) -> None:
    admin = live.as_role("admin")
    email = f"outsider-ws-{uuid.uuid4().hex[:6]}@tyneside.example"
    live.new_account(email, "Ola Outside", "therapist", admin=admin)
    outsider_session = live.sign_in(email)
    priya_session = live.as_role("peer_keyworker")
    tom = await connect(live, live.as_role("therapist"))
    outsider = await connect(live, outsider_session)
    alex = await connect(live, live.as_role("client"))
    priya = await connect(live, priya_session)
    try:
        priya_id = priya_session.user["id"]
        # Tom sees Priya online: live as she connects, or already in his snapshot when her
        # going offline at the end of the test before was still held back (at most one change
        # a second is published; her coming back then is no change anyone is told of, and the
        # snapshot shows what everyone was told).
        tom_snapshot = await tom.wait_for(lambda f: f.get("type") == "presence.snapshot")
        if not any(
            p["user_id"] == priya_id and p["state"] == "online" for p in tom_snapshot["presences"]
        ):
            await tom.wait_for(
                lambda f: (
                    f.get("type") == "presence"
                    and f["user_id"] == priya_id
                    and f["state"] == "online"
                )
            )
        snapshot = next(f for f in outsider.frames if f["type"] == "presence.snapshot")
        assert snapshot["presences"] == []
        alex_snapshot = next(f for f in alex.frames if f["type"] == "presence.snapshot")
        care_team = {
            m["user_id"]
            for m in live.as_role("peer_keyworker")
            .get(f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/care-team")
            .json()
        }
        assert {p["user_id"] for p in alex_snapshot["presences"]} == care_team

        await priya.request({"type": "presence.set", "state": "busy"})
        await tom.wait_for(
            lambda f: (
                f.get("type") == "presence" and f["user_id"] == priya_id and f["state"] == "busy"
            )
        )
        await alex.wait_for(
            lambda f: (
                f.get("type") == "presence" and f["user_id"] == priya_id and f["state"] == "busy"
            )
        )
        # A round trip on the outsider's socket after the change: nothing about Priya came.
        await outsider.request({"type": "ping"})
        assert not [f for f in outsider.frames if f.get("type") == "presence"]
    finally:
        for client in (tom, outsider, alex, priya):
            await client.close()


async def test_case_threads_follow_the_care_team_and_are_audited(live: Live) -> None:
    alex_id = client_id_of(live, "Alex Morgan")
    keyworker = live.as_role("peer_keyworker")
    staff_only = keyworker.post(
        "/api/v1/conversations",
        json={"kind": "case", "client_id": alex_id, "includes_client": False},
    ).json()["id"]
    with_client = keyworker.post(
        "/api/v1/conversations",
        json={"kind": "case", "client_id": alex_id, "includes_client": True},
    ).json()["id"]
    alex = await connect(live, live.as_role("client"))
    priya = await connect(live, keyworker)
    try:
        await priya.send_message(with_client, "Hi Alex, how did the interview go?")
        got = await alex.wait_type("message.new")
        assert got["message"]["conversation_id"] == with_client
        reply = await alex.send_message(with_client, "Really well, thank you!")
        assert reply["type"] == "message.ack"
        refused = await alex.request(
            {"type": "sync", "conversation_id": staff_only, "after_seq": 0}
        )
        assert refused["type"] == "error" and refused["code"] == "not_a_member"
        await priya.send_message(staff_only, "Alex seems brighter this week.")
        await alex.request({"type": "ping"})
        assert all(
            f["message"]["conversation_id"] != staff_only
            for f in alex.frames
            if f.get("type") == "message.new"
        )
        history = keyworker.get(f"/api/v1/conversations/{with_client}/messages").json()
        assert [m["body"] for m in history["messages"]][-2:] == [
            "Hi Alex, how did the interview go?",
            "Really well, thank you!",
        ]
        events = (
            live.as_role("supervisor")
            .get("/api/v1/audit-events", params={"client_id": alex_id})
            .json()["items"]
        )
        assert {"message.send", "case_thread.read"} <= {e["action"] for e in events}
        hits = keyworker.get(
            f"/api/v1/conversations/{with_client}/search", params={"q": "INTERVIEW"}
        ).json()["messages"]
        assert [h["body"] for h in hits] == ["Hi Alex, how did the interview go?"]
    finally:
        await alex.close()
        await priya.close()


async def test_sending_where_one_is_not_a_member_is_refused_and_the_socket_stays(
    live: Live,
) -> None:
    conversation = team_conversation(live)
    alex = await connect(live, live.as_role("client"))
    try:
        refused = await alex.send_message(conversation, "let me in")
        assert refused["type"] == "error" and refused["code"] == "not_a_member"
        assert (await alex.request({"type": "ping"}))["type"] == "pong"
    finally:
        await alex.close()


async def test_the_token_can_also_come_in_the_first_frame(live: Live) -> None:
    client = await WsClient.connect(
        live.base_url, live.as_role("therapist").tokens["access_token"], first_frame_auth=True
    )
    try:
        ready = await client.wait_type("ready")
        assert ready["user_id"] == live.as_role("therapist").user["id"]
    finally:
        await client.close()


async def test_a_bad_token_is_refused_with_a_close_code(live: Live) -> None:
    client = await WsClient.connect(live.base_url, "not.a.token-at-all")
    error = await client.wait_type("error")
    assert error["code"] == "unauthenticated"
    assert await client.wait_closed() == 4401


async def test_keys_rotate_without_downtime_and_old_rows_are_resealed(
    live: Live, pair: tuple[WsClient, WsClient, str]
) -> None:
    priya, _tom, conversation = pair
    seq = (await priya.send_message(conversation, "Sealed with the first key"))["message"]["seq"]
    await priya.request(
        {
            "type": "message.edit",
            "conversation_id": conversation,
            "seq": seq,
            "body": "Sealed, then edited",
        }
    )
    rotated = teamwell_cli(live.env, "rotate-message-key")
    assert rotated.returncode == 0 and "is now current" in rotated.stdout
    # The running server picks the new key up: new messages use it, old ones still read.
    after = await priya.send_message(conversation, "Sealed with the new key")
    assert after["type"] == "message.ack"
    moved = teamwell_cli(live.env, "reencrypt-messages")
    assert moved.returncode == 0, moved.stderr
    assert "earlier versions" in moved.stdout and not moved.stdout.startswith("0 messages")
    history = live.as_role("therapist").get(f"/api/v1/conversations/{conversation}/messages")
    bodies = [m["body"] for m in history.json()["messages"]]
    assert "Sealed, then edited" in bodies and "Sealed with the new key" in bodies
    again = teamwell_cli(live.env, "reencrypt-messages")
    assert again.stdout.startswith("0 messages and 0 earlier versions")


async def test_the_database_alone_never_reveals_a_body(
    live: Live, pair: tuple[WsClient, WsClient, str]
) -> None:
    if live.backend != "sqlite":
        pytest.skip("reads the database file directly")
    priya, _tom, conversation = pair
    secret = f"plaintext-{uuid.uuid4().hex}"
    await priya.send_message(conversation, secret)
    stored = b"".join(p.read_bytes() for p in live.data_dir.glob("teamwell.db*"))
    assert stored and secret.encode() not in stored


async def test_ready_is_the_first_frame_and_nothing_published_meanwhile_is_lost(
    live: Live,
) -> None:
    """A socket is subscribed before it says ``ready``; what is published while it opens is held
    back and follows ``ready`` and the snapshot. So a client may ignore anything before ``ready``
    (docs/realtime.md), and with ``sync`` from what it had, it misses nothing."""
    conversation = team_conversation(live)
    publishers = [
        await connect(live, live.as_role("peer_keyworker")),
        await connect(live, live.as_role("supervisor")),
    ]
    stop = asyncio.Event()
    stored: list[int] = []
    started = asyncio.Event()

    async def publish(client: WsClient) -> None:
        n = 0
        while not stop.is_set():
            reply = await client.send_message(conversation, f"while others connect {n}")
            n += 1
            if reply["type"] == "message.ack":
                stored.append(reply["message"]["seq"])
                started.set()
            else:  # the functional tests' rate limit is generous, but not endless
                assert reply.get("code") == "rate_limited", reply

    def news(client: WsClient) -> set[int]:
        return {
            f["message"]["seq"]
            for f in client.frames
            if f.get("type") == "message.new" and f["message"]["conversation_id"] == conversation
        }

    publishing = [asyncio.create_task(publish(client)) for client in publishers]
    token = live.as_role("therapist").tokens["access_token"]
    attempts = 12
    try:
        await asyncio.wait_for(started.wait(), 10)
        for attempt in range(attempts):
            had = max(stored)  # what a client connected until now had applied
            client = await WsClient.connect(live.base_url, token)
            first = await client.wait_for(lambda f: True)
            assert first["type"] == "ready", (attempt, first)
            assert (await client.wait_for(lambda f: True))["type"] == "presence.snapshot"
            if attempt < attempts - 1:
                await client.close()
        # The last socket resumes as docs/realtime.md says, while messages keep coming: a sync
        # from what it had, then live frames. Whatever the sync did not see must come live.
        applied: set[int] = set()
        after = had
        while True:
            page = await client.request(
                {"type": "sync", "conversation_id": conversation, "after_seq": after}
            )
            assert page["type"] == "sync.page", page
            applied |= {m["seq"] for m in page["messages"]}
            after = page["messages"][-1]["seq"] if page["messages"] else after
            if not page["has_more"]:
                break
        stop.set()
        await asyncio.gather(*publishing)
        last = max(stored)
        if last not in news(client):
            await client.wait_for(
                lambda f: f.get("type") == "message.new" and f["message"]["seq"] == last
            )
        assert set(range(had + 1, last + 1)) <= applied | news(client)
        await client.close()
    finally:
        stop.set()
        for task in publishing:
            task.cancel()
        for client in publishers:
            await client.close()
