"""Messages sent at the same moment are stored together (a group commit, app/messaging/
writer.py) and each still exactly as if alone: every one acknowledged once, the
sequence gap-free, a resend of one client message id (even racing itself from two devices)
stored once, and a refused one refused alone while the rest of its batch is stored."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import Live, demo_team_id
from tests.support.builders import client_id_of
from tests.support.ws import WsClient

PER_SOCKET = 15


async def test_a_burst_from_many_sockets_is_stored_once_each_without_gaps(live: Live) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    client = live.as_role("client")
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    ).json()["id"]
    laptop = await WsClient.connect(live.base_url, keyworker.tokens["access_token"])
    phone = await WsClient.connect(live.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    alex = await WsClient.connect(live.base_url, client.tokens["access_token"])
    sockets = (laptop, phone, tom, alex)
    try:
        for socket in sockets:
            await socket.wait_type("ready")
        first = await tom.send_message(conversation, "Before the burst")
        assert first["type"] == "message.ack", first
        start = first["message"]["seq"]

        resend = f"resend-{uuid.uuid4().hex}"
        burst = [
            socket.send_message(conversation, f"{n} from socket {i}")
            for n in range(PER_SOCKET)
            for i, socket in enumerate((laptop, phone, tom))
        ]
        twice = [
            laptop.send_message(conversation, "Said once", client_msg_id=resend),
            phone.send_message(conversation, "Said once", client_msg_id=resend),
        ]
        refused = alex.send_message(conversation, "Not my team")
        replies = await asyncio.gather(*burst, *twice, refused)
        sent, doubled, outsider = replies[: len(burst)], replies[len(burst) : -1], replies[-1]

        assert outsider["type"] == "error" and outsider["code"] == "not_a_member", outsider
        assert all(r["type"] == "message.ack" and r["duplicate"] is False for r in sent), [
            r for r in sent if r["type"] != "message.ack"
        ]
        assert all(r["type"] == "message.ack" for r in doubled), doubled
        assert doubled[0]["message"] == doubled[1]["message"]
        assert sorted(r["duplicate"] for r in doubled) == [False, True]

        stored = [r["message"] for r in sent] + [doubled[0]["message"]]
        seqs = sorted(m["seq"] for m in stored)
        assert seqs == list(range(start + 1, start + 1 + len(stored))), seqs
        assert len({m["id"] for m in stored}) == len(stored)

        page = await tom.request(
            {"type": "sync", "conversation_id": conversation, "after_seq": start, "limit": 200}
        )
        assert page["type"] == "sync.page", page
        synced = page["messages"]
        assert [m["seq"] for m in synced] == seqs
        assert sorted(m["client_msg_id"] for m in synced) == sorted(
            m["client_msg_id"] for m in stored
        )
        by_seq = {m["seq"]: m for m in stored}
        assert all(m["body"] == by_seq[m["seq"]]["body"] for m in synced)
    finally:
        for socket in sockets:
            await socket.close()


async def test_one_burst_over_team_direct_and_case_threads_stores_each_by_its_own_rules(
    live: Live,
) -> None:
    """Team and direct messages are stored together in the batch; a case thread's message in
    the same burst goes through the care-team policies and is audited; a resend of a message
    stored in an earlier batch is answered with the stored text; each conversation stays
    gap-free."""
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    team = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    ).json()["id"]
    direct = keyworker.post(
        "/api/v1/conversations", json={"kind": "direct", "user_id": therapist.user["id"]}
    ).json()["id"]
    alex_id = client_id_of(live, "Alex Morgan")
    case = keyworker.post(
        "/api/v1/conversations",
        json={"kind": "case", "client_id": alex_id, "includes_client": False},
    ).json()["id"]
    laptop = await WsClient.connect(live.base_url, keyworker.tokens["access_token"])
    phone = await WsClient.connect(live.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    sockets = (laptop, phone, tom)
    try:
        for socket in sockets:
            await socket.wait_type("ready")
        earlier_id = f"earlier-{uuid.uuid4().hex}"
        earlier = await laptop.send_message(direct, "Stored before", client_msg_id=earlier_id)
        assert earlier["type"] == "message.ack", earlier
        starts = {}
        for conversation in (team, direct, case):
            page = await tom.request(
                {"type": "sync", "conversation_id": conversation, "after_seq": 0, "limit": 500}
            )
            starts[conversation] = page["last_seq"]

        burst = [
            socket.send_message(conversation, f"{n} to {kind} from socket {i}")
            for n in range(5)
            for i, socket in enumerate(sockets)
            for kind, conversation in (("team", team), ("direct", direct), ("case", case))
        ]
        resend = phone.send_message(direct, "Not this text", client_msg_id=earlier_id)
        replies = await asyncio.gather(*burst, resend)
        assert all(r["type"] == "message.ack" for r in replies), [
            r for r in replies if r["type"] != "message.ack"
        ]
        again = replies[-1]
        assert again["duplicate"] is True
        assert again["message"] == earlier["message"]
        assert again["message"]["body"] == "Stored before"

        for conversation in (team, direct, case):
            mine = [
                r["message"]
                for r in replies[:-1]
                if r["message"]["conversation_id"] == conversation
            ]
            assert len(mine) == 15
            seqs = sorted(m["seq"] for m in mine)
            assert seqs == list(range(starts[conversation] + 1, starts[conversation] + 16)), seqs
            page = await tom.request(
                {
                    "type": "sync",
                    "conversation_id": conversation,
                    "after_seq": starts[conversation],
                    "limit": 100,
                }
            )
            by_seq = {m["seq"]: m["body"] for m in mine}
            assert {m["seq"]: m["body"] for m in page["messages"]} == by_seq

        events = (
            live.as_role("supervisor")
            .get("/api/v1/audit-events", params={"client_id": alex_id, "limit": 200})
            .json()["items"]
        )
        audited = {e["resource_id"] for e in events if e["action"] == "message.send"}
        case_ids = {
            r["message"]["id"] for r in replies[:-1] if r["message"]["conversation_id"] == case
        }
        assert case_ids <= audited
    finally:
        for socket in sockets:
            await socket.close()
