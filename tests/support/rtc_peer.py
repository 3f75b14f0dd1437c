"""One aiortc participant in a meeting, driven entirely through the real `/ws` signalling.

``MeetingPeer.join(ws, meeting_id)`` follows docs/meetings-protocol.md from the client side:
``meeting.join`` (waiting in the lobby for ``meeting.admitted`` if told to), then one
``RTCPeerConnection`` per other participant. The newcomer offers to everyone already admitted;
offers that arrive later (from people who join after us) are answered. Every connection carries
a silent audio track, a small moving-colour video track and a data channel ``"teamwell"``.

All waits are bounded (``asyncio.timeout``); nothing sleeps to synchronise. Synthetic media is
paced in real time by its own clock, as a camera would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from tests.support.ws import Frame, WsClient

DEFAULT_WAIT = 10.0
CHANNEL_LABEL = "teamwell"

_FINGERPRINT = re.compile(r"^a=fingerprint:(.+)$", re.MULTILINE)


class MeetingError(Exception):
    """The server refused a meeting request (an ``error`` frame) or ended our part in it."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.code: str = str(frame.get("code") or frame.get("type"))
        super().__init__(f"{self.code}: {frame.get('message', frame)}")


# --- synthetic media -----------------------------------------------------------------------


class _MediaClock:
    """Real-time pacing of a synthetic source: timestamp of the next frame, after waiting for it."""

    def __init__(self, rate: int, ptime: float) -> None:
        self.rate = rate
        self.step = int(rate * ptime)
        self.time_base = fractions.Fraction(1, rate)
        self._start: float | None = None
        self._timestamp = 0

    async def next(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
            return 0
        self._timestamp += self.step
        due = self._start + self._timestamp / self.rate - time.monotonic()
        if due > 0:
            await asyncio.sleep(due)  # media pacing, not synchronisation
        return self._timestamp


class SilentAudioTrack(MediaStreamTrack):
    """20 ms frames of 48 kHz mono silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._clock = _MediaClock(48_000, 0.020)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._clock.next()
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._clock.step)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = self._clock.rate
        frame.pts = pts
        frame.time_base = self._clock.time_base
        return frame


class MovingColourTrack(MediaStreamTrack):
    """A small yuv420p picture at 15 fps whose colour shifts and whose bright bar moves."""

    kind = "video"

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._clock = _MediaClock(90_000, 1 / 15)
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._clock.next()
        n, self._count = self._count, self._count + 1
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        luma, cb, cr = frame.planes
        row = bytearray([60]) * luma.line_size
        bar = (n * 4) % self.width
        row[bar : bar + 16] = bytes([235]) * len(row[bar : bar + 16])
        luma.update(bytes(row) * self.height)
        cb.update(bytes([(n * 3) % 256]) * cb.buffer_size)
        cr.update(bytes([(255 - n * 5) % 256]) * cr.buffer_size)
        frame.pts = pts
        frame.time_base = self._clock.time_base
        return frame


# --- one link: our connection to one other participant -------------------------------------


@dataclass
class _Link:
    pc: RTCPeerConnection
    channel: RTCDataChannel | None = None
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    frames: dict[str, int] = field(default_factory=dict)  # kind -> frames recv()ed
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    local_tracks: list[MediaStreamTrack] = field(default_factory=list)


def ice_servers_from(entries: Iterable[dict[str, Any]]) -> list[RTCIceServer]:
    """The protocol's ``ice_servers`` as aiortc ``RTCIceServer``s."""
    return [
        RTCIceServer(
            urls=entry["urls"], username=entry.get("username"), credential=entry.get("credential")
        )
        for entry in entries
    ]


class MeetingPeer:
    def __init__(
        self,
        ws: WsClient,
        meeting_id: str,
        *,
        relay_only: bool = False,
        video: bool = True,
        audio: bool = True,
    ) -> None:
        self.ws = ws
        self.meeting_id = meeting_id
        self.relay_only = relay_only
        self.video = video
        self.audio = audio
        self.participant_id: str | None = None
        self.host_id: str | None = None
        self.ice_servers: list[dict[str, Any]] = []
        self.entry_frame: Frame | None = None  # meeting.joined or meeting.admitted
        self.waited_in_lobby = False
        self.errors: list[BaseException] = []  # failures while handling signals
        self._links: dict[str, _Link] = {}
        self._tick = asyncio.Event()
        self._pending: dict[str, list[dict[str, Any]]] = {}  # candidates ahead of their SDP
        self._closing: set[asyncio.Task[None]] = set()  # closes of replaced connections
        self._consumer: asyncio.Task[None] | None = None
        self._closed = False

    # --- joining ---------------------------------------------------------------------------

    @classmethod
    async def join(
        cls,
        ws: WsClient,
        meeting_id: str,
        *,
        relay_only: bool = False,
        video: bool = True,
        audio: bool = True,
        admit_timeout: float = DEFAULT_WAIT,
    ) -> MeetingPeer:
        """Join (through the lobby if need be) and offer to everyone already admitted.

        Raises ``MeetingError`` on an ``error`` reply (``not_invited``, ``meeting_ended``, …) or
        on ``meeting.declined`` / ``meeting.ended`` while waiting in the lobby.
        """
        peer = cls(ws, meeting_id, relay_only=relay_only, video=video, audio=audio)
        reply = await peer.request_join()
        if reply["type"] == "meeting.waiting":
            await peer.wait_admitted(admit_timeout)
        return peer

    async def request_join(self) -> Frame:
        """Send ``meeting.join``. Joined: offer to everyone and return ``meeting.joined``.
        Sent to the lobby: return ``meeting.waiting`` (then ``wait_admitted``)."""
        reply = await self.ws.request(
            {
                "type": "meeting.join",
                "meeting_id": self.meeting_id,
                "audio": self.audio,
                "video": self.video,
            }
        )
        if reply.get("type") == "meeting.waiting":
            self.waited_in_lobby = True
            self.participant_id = reply["participant_id"]
            return reply
        if reply.get("type") != "meeting.joined":
            raise MeetingError(reply)
        await self._enter(reply)
        return reply

    async def wait_admitted(self, timeout: float = DEFAULT_WAIT) -> Frame:
        """From the lobby: wait for ``meeting.admitted``, then offer to everyone admitted."""
        reply = await self.ws.wait_for(
            lambda f: (
                f.get("meeting_id") == self.meeting_id
                and f.get("type") in {"meeting.admitted", "meeting.declined", "meeting.ended"}
            ),
            timeout,
        )
        if reply["type"] != "meeting.admitted":
            raise MeetingError(reply)
        await self._enter(reply)
        return reply

    async def _enter(self, frame: Frame) -> None:
        self.entry_frame = frame
        self.participant_id = frame["participant_id"]
        self.host_id = frame.get("host_id")
        self.ice_servers = list(frame.get("ice_servers") or [])
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume_signals())
        others = [p["participant_id"] for p in frame.get("participants", [])]
        await asyncio.gather(*(self._offer(other) for other in others))

    # --- peer connections ------------------------------------------------------------------

    def _configuration(self) -> RTCConfiguration:
        # One transport per connection (MAX_BUNDLE) keeps a mesh light; relay_only also forbids
        # host and server-reflexive candidates.
        return RTCConfiguration(
            iceServers=ice_servers_from(self.ice_servers),
            iceTransportPolicy=(
                RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
            ),
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )

    def _new_link(self, other: str) -> _Link:
        old = self._links.pop(other, None)
        if old is not None:
            self._spawn_close(old)
        pc = RTCPeerConnection(self._configuration())
        link = _Link(pc=pc)
        self._links[other] = link
        # Tracks before the data channel: with MAX_BUNDLE the other order stops the shared
        # transport when the answer is applied.
        if self.audio:
            link.local_tracks.append(SilentAudioTrack())
        if self.video:
            link.local_tracks.append(MovingColourTrack())
        for track in link.local_tracks:
            pc.addTrack(track)

        @pc.on("connectionstatechange")
        def _state() -> None:
            self._notify()

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if self._links.get(other) is link:
                task = asyncio.create_task(self._drain(link, track))
                link.tasks.add(task)
                task.add_done_callback(link.tasks.discard)

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            if channel.label == CHANNEL_LABEL:
                self._attach_channel(link, channel)

        return link

    def _attach_channel(self, link: _Link, channel: RTCDataChannel) -> None:
        link.channel = channel

        @channel.on("open")
        def _open() -> None:
            self._notify()

        @channel.on("message")
        def _message(message: bytes | str) -> None:
            if isinstance(message, bytes):
                link.inbox.put_nowait(message)
                self._notify()

        self._notify()

    async def _drain(self, link: _Link, track: MediaStreamTrack) -> None:
        """Receive every frame of a remote track (so nothing queues up), counting them."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                link.frames[track.kind] = link.frames.get(track.kind, 0) + 1
                if link.frames[track.kind] == 1:
                    self._notify()

    async def _offer(self, other: str) -> None:
        link = self._new_link(other)
        self._attach_channel(link, link.pc.createDataChannel(CHANNEL_LABEL))
        await link.pc.setLocalDescription(await link.pc.createOffer())
        sdp = link.pc.localDescription.sdp  # aiortc has gathered: the candidates are in it
        self._check_candidates(sdp)
        await self._signal(other, {"kind": "offer", "sdp": sdp})

    async def _answer(self, other: str, sdp: str) -> None:
        link = self._links.get(other)
        if (
            link is None
            or link.pc.remoteDescription is None
            or (_fingerprints(link.pc.remoteDescription.sdp) != _fingerprints(sdp))
        ):
            # A first offer, or one from a new connection of the same participant (a rejoin):
            # replace ours. The same fingerprint means renegotiation / ICE restart in place.
            link = self._new_link(other)
        await link.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self._apply_pending_candidates(other, link)
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        answer = link.pc.localDescription.sdp
        self._check_candidates(answer)
        await self._signal(other, {"kind": "answer", "sdp": answer})

    def _check_candidates(self, sdp: str) -> None:
        # A refused TURN credential gives no candidate at all and ICE would sit in "new".
        if self.relay_only and " typ relay" not in sdp:
            raise RuntimeError("relay_only but no relay candidate was gathered (TURN refused?)")

    async def _signal(self, to: str, signal: dict[str, Any]) -> None:
        await self.ws.send(
            {"type": "meeting.signal", "meeting_id": self.meeting_id, "to": to, "signal": signal}
        )

    # --- incoming signals ------------------------------------------------------------------

    def _is_my_signal(self, frame: Frame) -> bool:
        return frame.get("type") == "meeting.signal" and frame.get("meeting_id") == self.meeting_id

    async def _consume_signals(self) -> None:
        while not self._closed:
            try:
                frame = await self.ws.wait_for(self._is_my_signal, timeout=3600)
            except (ConnectionError, TimeoutError):
                return
            try:
                await self._handle_signal(str(frame["from"]), frame["signal"])
            except Exception as exc:  # surfaced by the waits, which name it
                self.errors.append(exc)
                self._notify()

    async def _handle_signal(self, other: str, signal: dict[str, Any]) -> None:
        kind = signal.get("kind")
        if kind == "offer":
            await self._answer(other, signal["sdp"])
        elif kind == "answer":
            link = self._links.get(other)
            if link is None or link.pc.signalingState != "have-local-offer":
                raise RuntimeError(f"answer from {other} without an offer of ours")
            await link.pc.setRemoteDescription(
                RTCSessionDescription(sdp=signal["sdp"], type="answer")
            )
            await self._apply_pending_candidates(other, link)
        elif kind == "candidate":
            link = self._links.get(other)
            if link is None or link.pc.remoteDescription is None:
                self._pending.setdefault(other, []).append(signal)  # ahead of its description
            else:
                await self._add_candidate(link, signal)
        else:
            raise RuntimeError(f"unknown signal kind {kind!r} from {other}")

    async def _apply_pending_candidates(self, other: str, link: _Link) -> None:
        for signal in self._pending.pop(other, []):
            await self._add_candidate(link, signal)

    async def _add_candidate(self, link: _Link, signal: dict[str, Any]) -> None:
        text = signal.get("candidate")
        if not text:
            await link.pc.addIceCandidate(None)  # end of candidates
            return
        candidate = candidate_from_sdp(text.removeprefix("a=").removeprefix("candidate:"))
        candidate.sdpMid = signal.get("sdp_mid")
        candidate.sdpMLineIndex = signal.get("sdp_mline_index")
        if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
            candidate.sdpMLineIndex = 0
        await link.pc.addIceCandidate(candidate)

    # --- bounded waits ---------------------------------------------------------------------

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def _until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    tick = self._tick
                    if self.errors:
                        raise RuntimeError(f"signalling failed: {self.errors[0]!r}")
                    if predicate():
                        return
                    await tick.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.participant_id}: no {what} within {timeout} s") from None

    def _link(self, other: str) -> _Link | None:
        return self._links.get(other)

    @property
    def connections(self) -> dict[str, RTCPeerConnection]:
        return {other: link.pc for other, link in self._links.items()}

    async def wait_connected(self, other: str, timeout: float = DEFAULT_WAIT) -> None:
        def connected() -> bool:
            link = self._link(other)
            if link is None:
                return False
            if link.pc.connectionState == "failed":
                raise RuntimeError(f"connection to {other} failed")
            return link.pc.connectionState == "connected"

        await self._until(connected, timeout, f"connection to {other}")

    async def _open_channel(self, other: str, timeout: float) -> RTCDataChannel:
        def open_() -> bool:
            link = self._link(other)
            return bool(link and link.channel and link.channel.readyState == "open")

        await self._until(open_, timeout, f"open data channel to {other}")
        link = self._links[other]
        assert link.channel is not None
        return link.channel

    async def send_bytes(self, other: str, data: bytes, timeout: float = DEFAULT_WAIT) -> None:
        channel = await self._open_channel(other, timeout)
        channel.send(data)

    async def received_bytes(self, other: str, timeout: float = DEFAULT_WAIT) -> bytes:
        """The next bytes message from this participant over the data channel."""
        await self._until(
            lambda: bool((link := self._link(other)) and not link.inbox.empty()),
            timeout,
            f"bytes from {other}",
        )
        return self._links[other].inbox.get_nowait()

    async def wait_tracks(
        self,
        other: str,
        kinds: Iterable[str] = ("audio", "video"),
        timeout: float = DEFAULT_WAIT,
    ) -> dict[str, int]:
        """Wait until at least one frame of each kind has been received; the counts so far."""
        wanted = set(kinds)

        def received() -> bool:
            link = self._link(other)
            return bool(link and all(link.frames.get(kind, 0) > 0 for kind in wanted))

        await self._until(received, timeout, f"{sorted(wanted)} frames from {other}")
        return dict(self._links[other].frames)

    # --- leaving ---------------------------------------------------------------------------

    async def leave(self, timeout: float = DEFAULT_WAIT) -> Frame:
        """``meeting.leave`` (answered by ``ack``), then close every connection."""
        try:
            reply = await self.ws.request(
                {"type": "meeting.leave", "meeting_id": self.meeting_id}, timeout
            )
        finally:
            await self.close()
        if reply.get("type") != "ack":
            raise MeetingError(reply)
        return reply

    async def close(self) -> None:
        """Close every peer connection and stop the signal consumer (the socket stays open)."""
        self._closed = True
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        links, self._links = list(self._links.values()), {}
        await asyncio.gather(
            *(_close_link(link) for link in links), *self._closing, return_exceptions=True
        )
        self._notify()

    def _spawn_close(self, link: _Link) -> None:
        task = asyncio.create_task(_close_link(link))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close_link(link: _Link) -> None:
    for task in list(link.tasks):
        task.cancel()
    for track in link.local_tracks:
        track.stop()
    await link.pc.close()
    for task in list(link.tasks):
        with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
            await task


def _fingerprints(sdp: str) -> set[str]:
    return {match.strip().lower() for match in _FINGERPRINT.findall(sdp)}
