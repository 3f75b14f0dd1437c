"""Benchmark 2b, a reconnect storm: every socket dropped at once and reconnecting as the web
client does, until all are back and resynchronised, with messages sent meanwhile.

What a deploy or a network blip does to a server holding 10,000 sockets: the same sockets as the
connections benchmark (bench/connections.py, five devices a person) are opened, then all closed
from the client side in the same instant (the transports aborted, so the server sees them go
as it would a dead link). Each reconnects after the web client's delay (web/realtime.js: an
unexpected close waits half a second plus up to another half, "equal jitter", and each failed
attempt doubles the ceiling up to 30 s), and is back once the server said ``ready`` (its
presence snapshot comes with it). The devices of one team's members also resynchronise their
team conversation as the web client does (``sync`` from the highest ``seq`` each has applied
until ``has_more`` is false), and only then count as back.

Meanwhile one of those devices (the sender, reconnecting at once instead of after the delay)
sends messages to the conversation, a few before the drop and the rest spread over the storm.
At the end every member device must have applied every acknowledged message exactly once: a
``seq`` missing is a message lost; a ``seq`` outside what was acknowledged, or one message under
two ``seq``, a message duplicated. Frames that arrive twice (live and again in a sync page) are
dropped as the web client drops them and counted only as "redelivered".
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.clients import Http, Socket, close_all, open_many

# web/realtime.js: BACKOFF_BASE_MS, BACKOFF_MAX_MS.
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
HEARTBEAT = 20.0  # seconds, the server's default heartbeat_seconds
MESSAGES_BEFORE = 3
MESSAGES_DURING = 20
SEND_SPACING = 0.1
# The target: everyone back and resynchronised within this long (issue 21).
BACK_WITHIN = 15.0
# How long the storm may take before the benchmark gives up on the stragglers.
GIVE_UP_AFTER = 120.0
# How long after the storm the last announcements may take to reach every member's device.
ANNOUNCED_WITHIN = 10.0


@dataclass
class StormResult:
    target: str
    sockets: int
    back: int = 0
    seconds: float = 0.0  # from the drop until the last socket was back (and resynchronised)
    attempts: int = 0  # handshakes tried after the drop, first tries and retries
    members: int = 0  # devices of the conversation's members, checked for every message
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    redelivered: int = 0
    failed: str = ""
    # Why attempts after the drop failed (a close code, or how the handshake failed), counted.
    refusals: dict[str, int] = field(default_factory=dict)
    # Seconds after the drop by which a quarter, half, ... of the sockets were back.
    quantiles: dict[str, float] = field(default_factory=dict)

    @property
    def within_target(self) -> bool:
        return (
            not self.failed
            and self.back == self.sockets
            and self.seconds <= BACK_WITHIN
            and self.lost == 0
            and self.duplicated == 0
        )


@dataclass
class _Device:
    url: str
    token: str
    member: bool
    socket: Socket | None = None
    applied: set[int] = field(default_factory=set)
    highest: int = 0
    received: int = 0
    back_at: float = 0.0
    # Set whenever this device applies a message (shared by all devices of a storm).
    progress: asyncio.Event | None = None
    syncing: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _refusal(exc: BaseException) -> str:
    """What a failed attempt to come back met, in a word: the server's close code, or how
    the handshake failed (timed out, refused, reset)."""
    if isinstance(exc, ConnectionError) and str(exc).startswith("closed with "):
        return str(exc).removeprefix("closed with ")
    if type(exc) is ConnectionError:  # an error frame before ``ready``: its message
        return f"error frame: {exc}"
    return type(exc).__name__


def _delay(attempts: int) -> float:
    """web/realtime.js ``scheduleReconnect``: equal jitter under a doubling ceiling."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempts)
    return ceiling / 2 + random.random() * (ceiling / 2)  # noqa: S311 - jitter only


def _on_frame(device: _Device, conversation: str | None) -> Any:
    def handle(frame: dict[str, Any], _arrived: float) -> None:
        if frame.get("type") != "message.new" or conversation is None:
            return
        message = frame.get("message") or {}
        if message.get("conversation_id") != conversation:
            return
        _apply(device, [message])
        # A gap (a seq more than one past the highest applied in order): the web client syncs
        # from the highest applied, unless it is syncing already.
        if device.highest < int(message["seq"]) and device.back_at and not device.syncing:
            device.tasks.add(asyncio.create_task(_sync_gap(device, conversation)))

    return handle


async def _sync_gap(device: _Device, conversation: str) -> None:
    try:
        await _resync(device, conversation)
    except Exception:  # the socket went; its reconnection syncs
        return
    finally:
        this = asyncio.current_task()
        if this is not None:
            device.tasks.discard(this)


def _apply(device: _Device, messages: list[dict[str, Any]]) -> None:
    """Applied as the web client applies them: ``highest`` is the highest ``seq`` up to which
    every message was applied (what it syncs from), so a live message past a gap does not
    hide the gap."""
    for message in messages:
        seq = int(message["seq"])
        device.received += 1
        device.applied.add(seq)
    while device.highest + 1 in device.applied:
        device.highest += 1
    if device.progress is not None:
        device.progress.set()


async def _resync(device: _Device, conversation: str) -> None:
    assert device.socket is not None
    device.syncing = True
    try:
        await _sync_pages(device, conversation)
    finally:
        device.syncing = False


async def _sync_pages(device: _Device, conversation: str) -> None:
    assert device.socket is not None
    while True:
        page = await device.socket.request(
            {"type": "sync", "conversation_id": conversation, "after_seq": device.highest}
        )
        if page.get("type") != "sync.page":
            raise RuntimeError(f"sync answered {page.get('type')}: {page.get('message')}")
        _apply(device, page["messages"])
        if not page["has_more"]:
            return


async def _open_conversation(url: str, token: str, team_id: str) -> str:
    http = Http(url)
    try:
        status, _, body = await http.request(
            "POST",
            "/api/v1/conversations",
            headers={"Authorization": f"Bearer {token}"},
            body={"kind": "team", "team_id": team_id},
        )
    finally:
        await http.close()
    if status != 200:
        raise RuntimeError(f"opening a team conversation: {status} {body[:200]!r}")
    conversation: str = orjson.loads(body)["id"]
    return conversation


async def storm(
    target: str,
    urls: list[str],
    tokens: list[str],
    *,
    members: set[str] | None = None,
    conversation: str | None = None,
) -> StormResult:
    """Open one socket per token (socket i on ``urls[i % n]``), drop them all at once and time
    their return. ``members``: the tokens whose devices resynchronise ``conversation`` (none
    for the bare baseline, which has no messages to resynchronise)."""
    members = members or set()
    progress = asyncio.Event()
    devices = [
        _Device(urls[i % len(urls)], token, member=token in members, progress=progress)
        for i, token in enumerate(tokens)
    ]
    result = StormResult(target=target, sockets=len(devices))
    result.members = sum(d.member for d in devices)
    sender = next((d for d in devices if d.member), None)
    acked: dict[int, str] = {}  # seq -> client_msg_id
    stored_ids: dict[str, set[int]] = {}

    async def send(count: int, spacing: float) -> None:
        assert sender is not None and conversation is not None
        for _ in range(count):
            assert sender.socket is not None
            client_msg_id = uuid.uuid4().hex
            ack = await sender.socket.request(
                {
                    "type": "message.send",
                    "conversation_id": conversation,
                    "client_msg_id": client_msg_id,
                    "body": "storm",
                }
            )
            if ack.get("type") != "message.ack":
                raise RuntimeError(f"message.send answered {ack}")
            seq = int(ack["message"]["seq"])
            _apply(sender, [ack["message"]])  # not echoed to the sending socket
            acked[seq] = client_msg_id
            stored_ids.setdefault(client_msg_id, set()).add(seq)
            if spacing:
                await asyncio.sleep(spacing)  # the sender's pace, not a wait for anything

    async def first_open() -> None:
        batch = 500 * len(urls)
        for start in range(0, len(devices), batch):
            group = devices[start : start + batch]
            for url in urls:
                chosen = [d for d in group if d.url == url]
                opened = await open_many(
                    [url],
                    [d.token for d in chosen],
                    concurrency=64,
                )
                for device, socket in zip(chosen, opened, strict=True):
                    device.socket = socket
                    if device.member:
                        socket.on_frame = _on_frame(device, conversation)

    async def come_back(device: _Device, dropped_at: float, at_once: bool) -> None:
        attempts = 0
        while True:
            if not at_once or attempts:
                await asyncio.sleep(_delay(attempts))  # the web client's backoff
            attempts += 1
            result.attempts += 1
            stage = "open"
            try:
                handler = _on_frame(device, conversation) if device.member else None
                device.socket = await Socket.open(device.url, device.token, handler)
                if device.member and conversation is not None:
                    stage = "resync"
                    await _resync(device, conversation)
            except Exception as exc:
                reason = f"{stage}: {_refusal(exc)}"
                result.refusals[reason] = result.refusals.get(reason, 0) + 1
                if device.socket is not None:
                    await device.socket.close()
                device.socket = None
                if time.perf_counter() - dropped_at > GIVE_UP_AFTER:
                    return
                continue
            device.back_at = time.perf_counter() - dropped_at
            return

    async def heartbeat() -> None:
        """Ping every open socket once per heartbeat interval, as the web client does (opening
        10,000 takes longer than the dead time on a busy machine)."""
        tick, position = 0.1, 0
        while True:
            await asyncio.sleep(tick)  # the clients' cadence, not a wait for anything
            share = max(1, round(len(devices) * tick / HEARTBEAT))
            for _ in range(share):
                position = (position + 1) % len(devices)
                socket = devices[position].socket
                if socket is not None and socket.ready and not socket.closed:
                    with contextlib.suppress(ConnectionError):
                        socket.send_nowait({"type": "ping"})

    beating = asyncio.create_task(heartbeat())
    try:
        await first_open()
        if sender is not None and conversation is not None:
            await send(MESSAGES_BEFORE, 0.0)
            # Every member has applied these before the drop, as a client that was open would.
            for device in devices:
                if device.member:
                    await _resync(device, conversation)
        dropped_at = time.perf_counter()
        for device in devices:
            socket = device.socket
            if socket is not None and socket.protocol is not None:
                transport = socket.protocol.transport
                if transport is not None:
                    transport.abort()
        returns = [
            asyncio.create_task(come_back(d, dropped_at, at_once=d is sender)) for d in devices
        ]
        if sender is not None and conversation is not None:
            assert sender is not None
            await returns[devices.index(sender)]
            await send(MESSAGES_DURING, SEND_SPACING)
        await asyncio.gather(*returns)
        back = [d for d in devices if d.back_at]
        result.back = len(back)
        times = sorted(d.back_at for d in back)
        result.seconds = times[-1] if times else 0.0
        for share in (0.25, 0.5, 0.75, 0.9, 0.99):
            if times:
                result.quantiles[f"{share:.0%}"] = times[
                    min(len(times) - 1, int(share * len(times)))
                ]
        if conversation is not None:
            expected = set(acked)
            # The last messages' announcements may still be on their way (bounded: what has not
            # arrived by then is counted lost; nothing is fetched again to make up for it).
            watched = [d for d in devices if d.member]
            give_up = time.perf_counter() + ANNOUNCED_WITHIN
            while any(expected - d.applied for d in watched):
                progress.clear()
                left = give_up - time.perf_counter()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await progress.wait()
            result.sent = len(expected)
            for device in devices:
                if not device.member:
                    continue
                result.lost += len(expected - device.applied)
                result.duplicated += len(device.applied - expected)
                result.redelivered += device.received - len(device.applied)
            result.duplicated += sum(len(seqs) - 1 for seqs in stored_ids.values())
        if result.back < result.sockets:
            result.failed = (
                f"{result.sockets - result.back} sockets not back after {GIVE_UP_AFTER:g} s"
            )
    except Exception as exc:  # reported, not fatal: how far it got is the finding
        result.failed = f"{type(exc).__name__}: {exc}"
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        await close_all([d.socket for d in devices if d.socket is not None])
    return result


async def teamwell_storm(
    target: str, urls: list[str], tokens: list[str], team: list[str], team_id: str
) -> StormResult:
    """The storm against a deployment: ``team`` are the tokens of the team whose conversation
    is watched (every device of theirs among ``tokens`` resynchronises it)."""
    conversation = await _open_conversation(urls[0], team[0], team_id)
    return await storm(target, urls, tokens, members=set(team), conversation=conversation)
