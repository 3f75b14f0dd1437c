"""Benchmark 3, signalling: the round trip of an offer relayed from one participant to another
and the answer relayed back, as when a newcomer connects to someone already in a call.

Several meetings run at once, each with two participants on sockets of their own (with two
processes, on different processes, so every relay crosses Redis). In each meeting the first
participant sends an offer with a realistic SDP (about 2.5 KB) at a steady pace under the
per-participant signalling limit; the second answers each offer as soon as it arrives; the round
trip is timed at the first from sending the offer to receiving its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field

import orjson

from bench.clients import Frame, Http, Socket, close_all
from bench.deploy import Deployment
from bench.measure import GENERATOR, SERVER, SUPPORT, CpuWindow, Latency

PAIRS = 4
PER_SECOND = 20.0  # per pair; the default limit is 50 signals a second per participant

# An offer as a browser makes it: audio, video and a data channel, one transport.
SDP = "\r\n".join(
    [
        "v=0",
        "o=- 3917467350 3917467350 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "a=msid-semantic:WMS *",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8",
        "c=IN IP4 0.0.0.0",
        "a=sendrecv",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=mid:0",
        "a=msid:4b1f4a8c-6f0e-4f7c-9a55-0c6a3c9e5d21 0d3f1c8e-2a7b-4d5e-9f10-3b2c1a0e9d8f",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=rtcp-mux",
        "a=ssrc:1739283510 cname:2f4c6a8e-1b3d-4f5a-8c7e-9d0b2a4c6e8f",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=ice-ufrag:Xk3f",
        "a=ice-pwd:9bQ2mZr7uT1vWc4yHn8pLs6e",
        "a=fingerprint:sha-256 4A:1F:9C:2E:7B:6D:3A:8F:0E:5C:1B:9D:2F:7A:4E:6C:"
        "8B:3D:0F:5A:2C:7E:9B:1D:6F:4A:8C:3E:0B:5D:7F:2A",
        "a=setup:actpass",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99",
        "c=IN IP4 0.0.0.0",
        "a=sendrecv",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=mid:1",
        "a=msid:4b1f4a8c-6f0e-4f7c-9a55-0c6a3c9e5d21 7e2d9b4f-1c6a-4e8d-b3f5-2a9c7e1d4b6f",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=rtcp-mux",
        "a=ssrc-group:FID 2849502731 1038475629",
        "a=ssrc:2849502731 cname:2f4c6a8e-1b3d-4f5a-8c7e-9d0b2a4c6e8f",
        "a=ssrc:1038475629 cname:2f4c6a8e-1b3d-4f5a-8c7e-9d0b2a4c6e8f",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=rtcp-fb:96 goog-remb",
        "a=rtcp-fb:96 transport-cc",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:98 H264/90000",
        "a=rtcp-fb:98 nack",
        "a=rtcp-fb:98 nack pli",
        "a=rtcp-fb:98 goog-remb",
        "a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:99 rtx/90000",
        "a=fmtp:99 apt=98",
        "a=ice-ufrag:Xk3f",
        "a=ice-pwd:9bQ2mZr7uT1vWc4yHn8pLs6e",
        "a=fingerprint:sha-256 4A:1F:9C:2E:7B:6D:3A:8F:0E:5C:1B:9D:2F:7A:4E:6C:"
        "8B:3D:0F:5A:2C:7E:9B:1D:6F:4A:8C:3E:0B:5D:7F:2A",
        "a=setup:actpass",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:2",
        "a=sctp-port:5000",
        "a=max-message-size:65536",
        "a=ice-ufrag:Xk3f",
        "a=ice-pwd:9bQ2mZr7uT1vWc4yHn8pLs6e",
        "a=fingerprint:sha-256 4A:1F:9C:2E:7B:6D:3A:8F:0E:5C:1B:9D:2F:7A:4E:6C:"
        "8B:3D:0F:5A:2C:7E:9B:1D:6F:4A:8C:3E:0B:5D:7F:2A",
        "a=setup:actpass",
        "",
    ]
)


@dataclass
class SignallingResult:
    target: str
    pairs: int
    per_second: float
    latency: Latency
    cpu: dict[str, float] = field(default_factory=dict)
    lost: int = 0


@dataclass
class Pair:
    meeting: str
    offerer: Socket
    answerer: Socket
    offerer_id: str = ""
    answerer_id: str = ""


class RoundTrips:
    def __init__(self) -> None:
        self.samples: list[float] = []
        # Answers count only to offers sent from this moment (perf_counter) on: a warm-up
        # answer that arrives late would otherwise be counted, with its whole delay.
        self.since: float | None = None
        self._arrived = asyncio.Event()

    async def all_in(self, expected: int) -> None:
        while len(self.samples) < expected:
            self._arrived.clear()
            await self._arrived.wait()

    def answerer(self, pair: Pair) -> object:
        def on_frame(frame: Frame, _arrived: float) -> None:
            if frame.get("type") == "meeting.signal" and frame["signal"]["kind"] == "offer":
                pair.answerer.send_nowait(
                    {
                        "type": "meeting.signal",
                        "meeting_id": pair.meeting,
                        "to": frame["from"],
                        "signal": {"kind": "answer", "sdp": frame["signal"]["sdp"]},
                    }
                )

        return on_frame

    def offerer(self) -> object:
        def on_frame(frame: Frame, arrived: float) -> None:
            if (
                self.since is not None
                and frame.get("type") == "meeting.signal"
                and frame["signal"]["kind"] == "answer"
            ):
                sdp: str = frame["signal"]["sdp"]
                sent = float(sdp[2 : sdp.index("\r\n")])
                if sent >= self.since:
                    self.samples.append(arrived - sent)
                    self._arrived.set()

        return on_frame


async def _join(pair: Pair) -> None:
    """The offerer joins first; the answerer joins and is told about the offerer; the offerer
    hears that the answerer joined."""
    heard: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()

    def joined(frame: Frame, _arrived: float) -> None:
        if frame.get("type") == "meeting.participant_joined" and not heard.done():
            heard.set_result(frame)

    pair.offerer.on_frame = joined
    first = await pair.offerer.request({"type": "meeting.join", "meeting_id": pair.meeting})
    if first.get("type") != "meeting.joined":
        raise RuntimeError(f"joining the meeting: {first}")
    pair.offerer_id = first["participant_id"]
    second = await pair.answerer.request({"type": "meeting.join", "meeting_id": pair.meeting})
    if second.get("type") != "meeting.joined":
        raise RuntimeError(f"joining the meeting: {second}")
    pair.answerer_id = second["participant_id"]
    async with asyncio.timeout(30):
        await heard


async def measure(
    target: str, pairs: list[Pair], cpu_groups: dict[str, list[int]], *, seconds: float
) -> SignallingResult:
    trips = RoundTrips()
    for pair in pairs:
        await _join(pair)
        pair.offerer.on_frame = trips.offerer()  # type: ignore[assignment]
        pair.answerer.on_frame = trips.answerer(pair)  # type: ignore[assignment]

    async def offers(pair: Pair, count: int, interval: float) -> None:
        start = time.perf_counter()
        for n in range(count):
            wait = start + n * interval - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            pair.offerer.send_nowait(
                {
                    "type": "meeting.signal",
                    "meeting_id": pair.meeting,
                    "to": pair.answerer_id,
                    "signal": {"kind": "offer", "sdp": f"v={time.perf_counter():.9f}\r\n{SDP}"},
                }
            )

    # Warm up (a second, or the measured time if shorter), then measure, each pair offset so
    # that the offers interleave.
    interval = 1.0 / PER_SECOND
    warm = max(1, int(PER_SECOND * min(1.0, seconds)))
    await asyncio.gather(*(offers(p, warm, interval) for p in pairs))
    await asyncio.sleep(0.2)
    trips.since = time.perf_counter()
    cpu = CpuWindow(cpu_groups)
    cpu.start()
    count = max(1, int(PER_SECOND * seconds))

    async def staggered(index: int, pair: Pair) -> None:
        await asyncio.sleep(interval * index / len(pairs))
        await offers(pair, count, interval)

    await asyncio.gather(*(staggered(i, p) for i, p in enumerate(pairs)))
    expected = count * len(pairs)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(3.0):
            await trips.all_in(expected)
    used = cpu.stop()
    trips.since = None
    return SignallingResult(
        target=target,
        pairs=len(pairs),
        per_second=PER_SECOND,
        latency=Latency.of(trips.samples),
        cpu=used,
        lost=expected - len(trips.samples),
    )


async def teamwell_pairs(deployment: Deployment, first_team: int, count: int) -> list[Pair]:
    """A call started from each of ``count`` team conversations, joined by two of its members,
    the first on one process and the second on the next."""
    pairs = []
    for index in range(count):
        t = first_team + index
        team = deployment.world.teams[t]
        http = Http(deployment.url(0))
        auth = {"Authorization": f"Bearer {team[0].token}"}
        status, _, body = await http.request(
            "POST",
            "/api/v1/conversations",
            headers=auth,
            body={"kind": "team", "team_id": deployment.world.team_ids[t]},
        )
        if status != 200:
            raise RuntimeError(f"opening a team conversation: {status} {body[:200]!r}")
        conversation = orjson.loads(body)["id"]
        status, _, body = await http.request(
            "POST", f"/api/v1/conversations/{conversation}/call", headers=auth
        )
        await http.close()
        if status != 201:
            raise RuntimeError(f"starting a call: {status} {body[:200]!r}")
        meeting = orjson.loads(body)["id"]
        offerer = await Socket.open(deployment.url(0), team[0].token)
        answerer = await Socket.open(deployment.url(1), team[1].token)
        pairs.append(Pair(meeting=meeting, offerer=offerer, answerer=answerer))
    return pairs


async def baseline_pairs(base_url: str, count: int) -> list[Pair]:
    pairs = []
    for index in range(count):
        offerer = await Socket.open(base_url, "rooms.")
        answerer = await Socket.open(base_url, "rooms.")
        pairs.append(Pair(meeting=f"meeting-{index}", offerer=offerer, answerer=answerer))
    return pairs


async def close_pairs(pairs: list[Pair]) -> None:
    await close_all([s for p in pairs for s in (p.offerer, p.answerer)])


def cpu_groups_for(server_pids: list[int], support_pids: list[int]) -> dict[str, list[int]]:
    return {SERVER: server_pids, SUPPORT: support_pids, GENERATOR: [os.getpid()]}
