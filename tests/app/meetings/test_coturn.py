"""TURN credentials from ``ice_servers`` against a real coturn, used by two real WebRTC peers.

coturn (``use-auth-secret``) runs on loopback with a per-run secret; two aiortc peers in relay-only
mode, with the credentials Teamwell would hand out, negotiate in-process (no signalling server),
send media and exchange bytes over a data channel. coturn's own log proves the traffic went
through it. Expired or wrongly signed credentials get no relay candidates at all. And coturn run
with the deployment configuration docs/meetings.md gives (read from the doc) refuses to relay to
loopback, private and reserved addresses while allowing a public one.

Skipped when coturn or aiortc is missing, unless ``CI=true``: then that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.config import Settings
from app.meetings.ice import ice_servers
from tests.support.coturn import CoturnServer, coturn_available, documented_config

try:
    import aioice.stun
    from aioice.turn import TurnClientUdpProtocol
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCDataChannel,
        RTCIceServer,
        RTCIceTransportPolicy,
        RTCPeerConnection,
    )
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

    HAVE_AIORTC = True
except ImportError:  # pragma: no cover - the fixture below skips or fails
    HAVE_AIORTC = False

IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}
CONNECT_SECONDS = 10.0  # ~0.1 s here; generous for a loaded CI machine
REFUSED_SECONDS = 5.0  # a 401 comes back in milliseconds
LOG_SECONDS = 5.0


@pytest.fixture(scope="module")
def coturn() -> Iterator[CoturnServer]:
    missing = [
        name
        for name, present in (("coturn (turnserver)", coturn_available()), ("aiortc", HAVE_AIORTC))
        if not present
    ]
    if missing:
        message = f"{' and '.join(missing)} not installed"
        if IN_CI:
            pytest.fail(f"{message}; CI must run the WebRTC tests (scripts/test installs coturn)")
        pytest.skip(message)
    server = CoturnServer(secrets.token_urlsafe(32)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def turn(coturn: CoturnServer, monkeypatch: pytest.MonkeyPatch) -> CoturnServer:
    # The first connectivity check is dropped until coturn has the permission; aioice retries it
    # after RETRY_RTO (0.5 s by default).
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)
    return coturn


def settings_for(turn: CoturnServer, data_dir: Path, secret: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        stun_urls=[turn.stun_url],
        turn_urls=[turn.url],
        turn_secret=SecretStr(secret or turn.secret),
    )


def relay_only(servers: list[dict[str, Any]]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


def candidate_types(sdp: str) -> list[str]:
    return re.findall(r"^a=candidate:.* typ (\w+)", sdp, flags=re.MULTILINE)


async def log_shows(turn: CoturnServer, text: str, *, count: int = 1, since: int = 0) -> bool:
    deadline = time.monotonic() + LOG_SECONDS
    while turn.log_text(since).count(text) < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_two_peers_talk_only_through_coturn(turn: CoturnServer, tmp_path: Path) -> None:
    log_from = turn.log_size()
    settings = settings_for(turn, tmp_path)
    now = datetime.now(UTC)  # coturn checks the expiry against its own clock
    alice_servers = ice_servers(settings, user_id=uuid.uuid4(), now=now)
    bob_servers = ice_servers(settings, user_id=uuid.uuid4(), now=now)
    alice = RTCPeerConnection(relay_only(alice_servers))
    bob = RTCPeerConnection(relay_only(bob_servers))
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[None] = loop.create_future()
    replies: asyncio.Queue[bytes | str] = asyncio.Queue()
    tracks: dict[str, asyncio.Future[MediaStreamTrack]] = {
        f"{who}:{kind}": loop.create_future()
        for who, kind in (("alice", "audio"), ("bob", "audio"), ("bob", "video"))
    }

    @bob.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        @channel.on("message")
        def echo(message: bytes | str) -> None:
            channel.send(b"echo:" + message if isinstance(message, bytes) else f"echo:{message}")

    @bob.on("track")
    def bob_track(track: MediaStreamTrack) -> None:
        tracks[f"bob:{track.kind}"].set_result(track)

    @alice.on("track")
    def alice_track(track: MediaStreamTrack) -> None:
        tracks[f"alice:{track.kind}"].set_result(track)

    try:
        # With MAX_BUNDLE the tracks must be added before the data channel.
        alice.addTrack(AudioStreamTrack())
        alice.addTrack(VideoStreamTrack())
        channel = alice.createDataChannel("chat")

        @channel.on("open")
        def on_open() -> None:
            opened.set_result(None)

        channel.on("message", replies.put_nowait)

        async with asyncio.timeout(CONNECT_SECONDS):
            await alice.setLocalDescription(await alice.createOffer())
            offer = alice.localDescription
            await bob.setRemoteDescription(offer)
            bob.addTrack(AudioStreamTrack())
            await bob.setLocalDescription(await bob.createAnswer())
            answer = bob.localDescription
            await alice.setRemoteDescription(answer)

            await opened
            payload = bytes(range(256)) * 4
            channel.send(payload)
            assert await replies.get() == b"echo:" + payload
            channel.send("hello over TURN")
            assert await replies.get() == "echo:hello over TURN"

            for track in await asyncio.gather(*tracks.values()):
                await track.recv()  # a decoded frame arrived

        assert alice.connectionState == bob.connectionState == "connected"
        # Relay only: no host or server-reflexive candidate was even offered.
        for sdp in (offer.sdp, answer.sdp):
            types = candidate_types(sdp)
            assert types and set(types) == {"relay"}, sdp
            assert "a=candidate:" in sdp and " typ relay" in sdp
    finally:
        await alice.close()
        await bob.close()

    # coturn allocated a relay for each peer with its credentials and bound a channel to the
    # other's relay; closing the peers deletes the allocations, and coturn then reports what it
    # relayed from the peer side.
    assert await log_shows(turn, "peer usage", count=2, since=log_from), turn.log_text(log_from)
    log = turn.log_text(log_from)
    for servers in (alice_servers, bob_servers):
        user = f"user <{servers[-1]['username']}>: incoming packet"
        assert f"{user} ALLOCATE processed, success" in log, log
        assert f"{user} CHANNEL_BIND processed, success" in log, log
        usage = re.search(
            rf"peer usage: realm=<[^>]*>, username=<{re.escape(servers[-1]['username'])}>, "
            r"rp=(\d+), rb=(\d+)",
            log,
        )
        assert usage and int(usage[1]) > 0 and int(usage[2]) > 0, log


@pytest.mark.parametrize("problem", ["expired", "wrong secret"])
async def test_bad_credentials_get_no_relay(
    turn: CoturnServer, tmp_path: Path, problem: str
) -> None:
    log_from = turn.log_size()
    if problem == "expired":
        # Issued two hours ago with a one-hour lifetime: expired an hour ago.
        issued = datetime.now(UTC) - timedelta(hours=2)
        servers = ice_servers(settings_for(turn, tmp_path), user_id=uuid.uuid4(), now=issued)
    else:
        settings = settings_for(turn, tmp_path, secret=secrets.token_urlsafe(32))
        servers = ice_servers(settings, user_id=uuid.uuid4(), now=datetime.now(UTC))
    peer = RTCPeerConnection(relay_only(servers))
    try:
        peer.createDataChannel("chat")
        offer = await peer.createOffer()
        gathering = asyncio.ensure_future(peer.setLocalDescription(offer))
        done, _ = await asyncio.wait({gathering}, timeout=REFUSED_SECONDS)
        sdp = peer.localDescription.sdp if gathering in done and peer.localDescription else ""
        assert " typ relay" not in sdp
        assert candidate_types(sdp) == []
    finally:
        await peer.close()
        if not gathering.done():
            gathering.cancel()
    # Every request is first challenged (401 for user <>); this one is refused with the username.
    refused = f"user <{servers[-1]['username']}>: incoming packet message processed, error 401"
    assert await log_shows(turn, refused, since=log_from), turn.log_text(log_from)
    assert "ALLOCATE processed, success" not in turn.log_text(log_from)


# --- The production configuration refuses to relay into private networks ----------------------

MEETINGS_DOC = Path(__file__).resolve().parents[3] / "docs" / "meetings.md"
# A public address: CreatePermission and ChannelBind only install state in coturn, so nothing is
# ever sent to it.
PUBLIC_PEER = ("8.8.8.8", 3478)


@pytest.fixture(scope="module")
def production_coturn(coturn: CoturnServer) -> Iterator[CoturnServer]:
    """coturn with the configuration docs/meetings.md gives for a deployment, read from the doc,
    listening on loopback (``coturn`` first: it skips or fails when coturn is missing)."""
    config = documented_config(MEETINGS_DOC)
    assert "allow-loopback-peers" not in config
    server = CoturnServer(secrets.token_urlsafe(32), production_config=config).start()
    try:
        yield server
    finally:
        server.stop()


def denied_ipv4_ranges(config: list[str]) -> list[tuple[str, str]]:
    ranges = []
    for line in config:
        key, _, value = line.partition("=")
        if key == "denied-peer-ip" and ":" not in value:
            first, _, last = value.partition("-")
            ranges.append((first, last or first))
    return ranges


async def turn_allocation(turn: CoturnServer, data_dir: Path) -> TurnClientUdpProtocol:
    """A TURN allocation made with the credentials Teamwell hands out."""
    servers = ice_servers(settings_for(turn, data_dir), user_id=uuid.uuid4(), now=datetime.now(UTC))
    relay = next(s for s in servers if s.get("username"))
    loop = asyncio.get_running_loop()
    _transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(
            (turn.host, turn.port),
            username=relay["username"],
            password=relay["credential"],
            lifetime=600,
            channel_refresh_time=500,
        ),
        remote_addr=(turn.host, turn.port),
    )
    await client.connect()
    return client


async def create_permission(client: TurnClientUdpProtocol, peer: tuple[str, int]) -> None:
    request = aioice.stun.Message(
        message_method=aioice.stun.Method.CREATE_PERMISSION,
        message_class=aioice.stun.Class.REQUEST,
    )
    request.attributes["XOR-PEER-ADDRESS"] = peer
    await client.request_with_retry(request)


async def refusal(attempt: Awaitable[None]) -> tuple[int, str] | None:
    """coturn's error code and reason, or None when it said yes."""
    try:
        await attempt
    except aioice.stun.TransactionFailed as failed:
        code, reason = failed.response.attributes["ERROR-CODE"]
        return code, reason
    return None


async def test_the_documented_coturn_refuses_to_relay_into_private_and_reserved_networks(
    production_coturn: CoturnServer, tmp_path: Path
) -> None:
    config = documented_config(MEETINGS_DOC)
    ranges = denied_ipv4_ranges(config)
    assert ("127.0.0.0", "127.255.255.255") in ranges and ("10.0.0.0", "10.255.255.255") in ranges
    client = await turn_allocation(production_coturn, tmp_path)
    try:
        # The control: the same allocation may open a permission and bind a channel to a public
        # address, so the refusals below are the denied ranges, not a broken allocation.
        assert await refusal(create_permission(client, PUBLIC_PEER)) is None
        assert await refusal(client.channel_bind(0x4000, PUBLIC_PEER)) is None
        # Loopback (where coturn itself listens here) and 10/8, both ways of reaching a peer.
        forbidden = (403, "Forbidden IP")
        for peer in (("127.0.0.1", 8080), ("10.0.0.1", 8080)):
            assert await refusal(create_permission(client, peer)) == forbidden, peer
            assert await refusal(client.channel_bind(0x4001, peer)) == forbidden, peer
        # Every documented IPv4 range, at both ends.
        for first, last in ranges:
            for address in (first, last):
                assert await refusal(create_permission(client, (address, 9))) == forbidden, address
    finally:
        await client.delete()
        client.transport.close()  # type: ignore[union-attr]
