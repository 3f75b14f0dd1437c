"""Two server processes behind one address share PostgreSQL and Redis: a message sent through
one reaches a member connected to the other, and presence is one state per person whichever
process each of their devices is connected to, including after a process dies.

The cluster runs with short presence timings (a heartbeat a second, dead after four) so that a
killed process's people go offline within seconds; the sockets in the presence tests therefore
ping as the web client does (``heartbeating``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.conftest import Live, Session, demo_team_id
from tests.support.cluster import cluster_fixture
from tests.support.server import LiveServer
from tests.support.ws import WsClient

HEARTBEAT = 1.0
DEAD_AFTER = 4.0


cluster = cluster_fixture(
    "cluster",
    {
        "TEAMWELL_PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "TEAMWELL_PRESENCE_DEAD_AFTER_SECONDS": str(DEAD_AFTER),
    },
)


async def test_a_message_crosses_processes(cluster: tuple[Live, LiveServer]) -> None:
    first, second = cluster
    assert first.env["TEAMWELL_REDIS_URL"].startswith("redis://")
    keyworker = first.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": team_id}
    ).json()["id"]
    priya = await WsClient.connect(first.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(second.base_url, first.as_role("therapist").tokens["access_token"])
    try:
        await priya.wait_type("ready")
        await tom.wait_type("ready")
        ack = await priya.send_message(conversation, "Sent on process one")
        assert ack["type"] == "message.ack"
        got = await tom.wait_type("message.new")
        assert got["message"] == ack["message"]
        # And back the other way, with the sequence continuing across processes.
        back = await tom.send_message(conversation, "Answered on process two")
        assert back["message"]["seq"] == ack["message"]["seq"] + 1
        assert (await priya.wait_type("message.new"))["message"]["body"] == (
            "Answered on process two"
        )
    finally:
        await priya.close()
        await tom.close()


# --- presence across processes ----------------------------------------------------------------


async def connect(base_url: str, session: Session) -> WsClient:
    client = await WsClient.connect(base_url, session.tokens["access_token"])
    ready = await client.wait_type("ready")
    assert ready["heartbeat_seconds"] == HEARTBEAT
    return client


@contextlib.asynccontextmanager
async def heartbeating(*clients: WsClient) -> AsyncIterator[None]:
    """Ping every heartbeat interval, as the web client does, while the block runs."""

    async def beat(client: WsClient) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)  # the client's cadence, not a wait for anything
            await client.send({"type": "ping"})

    tasks = [asyncio.create_task(beat(client)) for client in clients]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def presence_since(
    client: WsClient, mark: int, user_id: str, state: str, timeout: float = 10.0
) -> dict[str, Any]:
    """The first ``presence`` frame about ``user_id`` in ``state`` received after frame ``mark``
    (earlier ones, from before the change under test, do not count)."""
    return await client.wait_for(
        lambda f: (
            f.get("type") == "presence"
            and f["user_id"] == user_id
            and f["state"] == state
            and any(f is g for g in client.frames[mark:])
        ),
        timeout,
    )


def listed(snapshot: dict[str, Any], user_id: str) -> dict[str, Any]:
    return next(p for p in snapshot["presences"] if p["user_id"] == user_id)


async def test_the_snapshot_covers_people_connected_to_the_other_process(
    cluster: tuple[Live, LiveServer],
) -> None:
    first, second = cluster
    keyworker, therapist = first.as_role("peer_keyworker"), first.as_role("therapist")
    priya = await connect(first.base_url, keyworker)
    try:
        async with heartbeating(priya):
            tom = await connect(second.base_url, therapist)
            try:
                snapshot = await tom.wait_type("presence.snapshot")
            finally:
                await tom.close()
        seen = listed(snapshot, keyworker.user["id"])
        assert seen["state"] == "online" and seen["last_seen"] is not None
    finally:
        await priya.close()


async def test_devices_on_two_processes_show_one_state(cluster: tuple[Live, LiveServer]) -> None:
    first, second = cluster
    keyworker, therapist = first.as_role("peer_keyworker"), first.as_role("therapist")
    priya_id = keyworker.user["id"]
    laptop = await connect(first.base_url, keyworker)
    phone = await connect(second.base_url, keyworker)
    tom = await connect(first.base_url, therapist)
    try:
        async with heartbeating(laptop, phone, tom):
            mark = len(tom.frames)
            # A change on process two reaches a watcher on process one.
            assert (await phone.request({"type": "presence.set", "state": "busy"}))["type"] == "ack"
            await presence_since(tom, mark, priya_id, "busy")
            # The laptop on process one choosing "online" does not hide the phone's "busy": a
            # new socket on process one is told "busy" (each process alone would say "online").
            assert (await laptop.request({"type": "presence.set", "state": "online"}))[
                "type"
            ] == "ack"
            desk = await connect(first.base_url, therapist)
            try:
                assert listed(await desk.wait_type("presence.snapshot"), priya_id)["state"] == (
                    "busy"
                )
            finally:
                await desk.close()
            # When the phone leaves, the laptop's state shows, wherever the watcher is.
            mark = len(tom.frames)
            await phone.close()
            await presence_since(tom, mark, priya_id, "online")
    finally:
        for client in (laptop, phone, tom):
            await client.close()


async def test_people_on_a_killed_process_go_offline_for_the_others(
    cluster: tuple[Live, LiveServer],
) -> None:
    first, _second = cluster
    keyworker, therapist = first.as_role("peer_keyworker"), first.as_role("therapist")
    priya_id = keyworker.user["id"]
    doomed = first.another_process()
    try:
        priya = await connect(doomed.base_url, keyworker)
        tom = await connect(first.base_url, therapist)
        try:
            async with heartbeating(tom):
                async with heartbeating(priya):
                    snapshot = await tom.wait_type("presence.snapshot")
                    assert listed(snapshot, priya_id)["state"] == "online"
                    mark = len(tom.frames)
                    # No shutdown at all: nothing tells anyone that Priya's socket is gone.
                    assert doomed._proc is not None
                    os.kill(doomed._proc.pid, signal.SIGKILL)
                    killed_at = time.time()
                # Another process's timer finds her device silent for the dead time.
                offline = await presence_since(
                    tom, mark, priya_id, "offline", timeout=DEAD_AFTER + 2 * HEARTBEAT + 10
                )
            assert offline["last_seen"] <= killed_at
        finally:
            await priya.close()
            await tom.close()
    finally:
        doomed.stop()
