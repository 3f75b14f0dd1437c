"""A client on a flaky link: both the sender's and the reader's connections go through a proxy
on loopback that delays every chunk, drops connections at random (seeded, a bounded number of
times) and is cut or down at set points of the conversation. Messages still arrive once, in
order: the sender resends what was not acknowledged with the same ``client_msg_id``, and the
reader syncs from its last ``seq`` after every reconnect and on any gap (docs/realtime.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import Live
from tests.support.proxy import FlakyLink
from tests.support.resume import Progress, Reader, Sender, check_once_in_order, history
from tests.support.ws import WsClient

MESSAGES = 45
# How long the reader's link stays down (refusing every connection) once.
LINK_DOWN_FOR = 0.5


@pytest.fixture
async def links(live_sqlite: Live) -> AsyncIterator[tuple[FlakyLink, FlakyLink]]:
    port = live_sqlite.server.port
    sending = FlakyLink(
        "127.0.0.1", port, delay=0.01, jitter=0.02, drop_rate=0.02, max_random_cuts=3, seed=11
    )
    reading = FlakyLink(
        "127.0.0.1", port, delay=0.02, jitter=0.04, drop_rate=0.02, max_random_cuts=3, seed=12
    )
    await sending.start()
    await reading.start()
    try:
        yield sending, reading
    finally:
        await sending.close()
        await reading.close()


def direct_conversation(live: Live) -> str:
    """Sofia (supervisor) and Erin (employment specialist): a conversation of their own."""
    sofia = live.as_role("supervisor")
    opened = sofia.post(
        "/api/v1/conversations",
        json={"kind": "direct", "user_id": live.as_role("employment_specialist").user["id"]},
    )
    assert opened.status_code == 200, opened.text
    return str(opened.json()["id"])


async def test_messages_cross_a_flaky_link_once_and_in_order(
    live_sqlite: Live, links: tuple[FlakyLink, FlakyLink]
) -> None:
    sending, reading = links
    conversation = direct_conversation(live_sqlite)
    deadline = time.monotonic() + 90
    progress = Progress()
    sofia = Sender(
        "sofia-flaky",
        sending.base_url,
        live_sqlite.as_role("supervisor").tokens["access_token"],
        conversation,
        deadline,
        progress,
    )
    erin = Reader(
        "erin-flaky",
        reading.base_url,
        live_sqlite.as_role("employment_specialist").tokens["access_token"],
        [conversation],
        deadline,
        progress,
    )

    async def acked(count: int) -> None:
        await progress.until(lambda: len(sofia.acked) >= count, 30)

    async def trouble() -> None:
        await acked(10)
        reading.cut()  # the reader's link drops mid-stream
        await acked(20)
        reading.refusing = True  # ... and is down for a while
        reading.cut()
        await asyncio.sleep(LINK_DOWN_FOR)  # the deliberate outage
        reading.refusing = False
        await acked(30)
        sending.cut()  # the sender's link drops, likely with a send in flight

    async def send_all() -> None:
        for n in range(MESSAGES):
            await sofia.send(f"flaky {n}")

    erin.start()
    try:
        await erin.connected()
        await asyncio.gather(send_all(), trouble())
        observer = await WsClient.connect(
            live_sqlite.base_url, live_sqlite.as_role("supervisor").tokens["access_token"]
        )
        try:
            await observer.wait_type("ready")
            stored = await history(observer, conversation)
        finally:
            await observer.close()
        await erin.wait_for_seq(conversation, len(stored), timeout=30)
    finally:
        await erin.stop()
        await sofia.close()

    check_once_in_order(stored, [sofia])
    ours = [m for m in stored if m["client_msg_id"] in set(sofia.sent)]
    assert [m["body"] for m in ours] == [f"flaky {n}" for n in range(MESSAGES)]
    assert erin.applied[conversation] == stored  # every message once, in seq order
    assert not erin.faults, erin.faults
    # The link really was bad: cut at the set points and, with the seeded rate, at random.
    assert reading.stats.cuts >= 2 and sending.stats.cuts >= 1
    assert reading.stats.refused >= 1
    assert erin.connects >= 3 and sofia.resends >= 1
    assert set(erin.close_codes) <= {1006}, erin.close_codes  # only the link's resets


async def test_the_link_delays_in_order_and_cuts_with_a_reset(live_sqlite: Live) -> None:
    """The proxy itself: what it forwards arrives whole and in order despite the jitter, and a
    cut reaches the client as a dropped connection (no close frame)."""
    link = await FlakyLink(
        "127.0.0.1", live_sqlite.server.port, delay=0.01, jitter=0.05, seed=3
    ).start()
    try:
        client = await WsClient.connect(
            link.base_url, live_sqlite.as_role("therapist").tokens["access_token"]
        )
        await client.wait_type("ready")
        ids = [f"p{n}" for n in range(20)]
        for request_id in ids:
            await client.send({"type": "ping", "id": request_id})
        for request_id in ids:
            pong = await client.wait_type("pong")
            assert pong["id"] == request_id  # in the order sent
        assert link.open_connections == 1
        assert link.cut() == 1
        assert await client.wait_closed() == 1006
    finally:
        await link.close()
