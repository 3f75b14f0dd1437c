"""Relay-only calls: the server hands out TURN REST credentials, a real coturn on loopback
relays every packet, and two aiortc peers signalled through the real gateway connect."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator

import aioice.stun
import pytest

from tests.app.meetings.test_meetings_rtc import assert_connected, call, case_meeting
from tests.conftest import Live, live_server
from tests.support.coturn import CoturnServer, coturn_available


@pytest.fixture(autouse=True)
def quick_stun_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, CoturnServer]]:
    if not coturn_available():
        if os.environ.get("CI") == "true":
            pytest.fail("coturn is required in CI but turnserver is not installed")
        pytest.skip("coturn is not installed")
    secret = secrets.token_urlsafe(40)
    turn = CoturnServer(secret).start()
    try:
        with live_server(
            tmp_path_factory,
            "relayed",
            extra_env={
                "TEAMWELL_TURN_URLS": json.dumps([turn.url]),
                "TEAMWELL_TURN_SECRET": secret,
            },
        ) as live:
            yield live, turn
    finally:
        turn.stop()


async def test_a_call_relayed_only_through_coturn_with_server_issued_credentials(
    relayed: tuple[Live, CoturnServer],
) -> None:
    live, turn = relayed
    issued = live.as_role("peer_keyworker").get("/api/v1/meetings/ice-servers").json()
    turn_entry = next(s for s in issued if "username" in s)
    assert turn_entry["urls"] == [turn.url]
    assert turn_entry["username"].endswith(":" + live.as_role("peer_keyworker").user["id"])
    assert "secret" not in json.dumps(issued).lower()  # only derived credentials leave

    meeting = case_meeting(live, "therapist")
    async with call(live) as c:
        priya = await c.join(await c.connect("peer_keyworker"), meeting, relay_only=True)
        tom = await c.join(await c.connect("therapist"), meeting, relay_only=True)
        await assert_connected(priya, tom)
        for peer in (priya, tom):
            sdp = next(iter(peer.connections.values())).localDescription.sdp
            candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
            assert candidates and all(" typ relay" in line for line in candidates)
    log = turn.log_text()
    assert "ALLOCATE processed, success" in log
    for role in ("peer_keyworker", "therapist"):
        assert live.as_role(role).user["id"] in log  # each used its own issued username
