"""Clients that keep going through faults the way the web client does (docs/realtime.md,
"Resuming without gaps or duplicates"):

* ``Sender`` sends its messages one after another, as the web client's outbox does (one in
  flight per conversation, paced to the ``ready`` frame's ``limits``: ``messages_per_second``
  with bursts of ``message_burst``); a message without an acknowledgement (the socket dropped,
  the server died, an ``internal`` error) is sent again with the same ``client_msg_id`` until it
  is acknowledged, and one refused as ``rate_limited`` is sent again after the error's
  ``retry_after_ms``. ``queue`` then ``flush`` sends what was queued while offline.
* ``Reader`` applies each conversation's messages in ``seq`` order: after every (re)connect it
  syncs from the highest ``seq`` applied, a live message beyond the next ``seq`` means a gap and
  starts a sync, and a ``seq`` already applied is dropped. It pings when the line is quiet, as
  the web client's heartbeat does, so a stalled link is noticed.

Both reconnect with capped backoff until their deadline; they record what they saw (close
codes, errors, resends) for the test to judge, and never judge themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import websockets

from tests.support.ws import WsClient

Message = dict[str, Any]
# How long one request (send, sync, ping) may take before the link counts as dead. Generous:
# while Redis is away a ping (presence) takes as long as the server's Redis retries.
REQUEST_TIMEOUT = 10.0
# A quiet line is pinged after this long.
QUIET_SECONDS = 1.0
RECONNECT_DELAY_FIRST = 0.05
RECONNECT_DELAY_MAX = 0.5
LINK_FAILURES = (
    ConnectionError,
    TimeoutError,
    OSError,
    websockets.ConnectionClosed,
    websockets.InvalidHandshake,
)


class Progress:
    """Wakes whoever waits on a condition over what senders and readers have recorded."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def note(self) -> None:
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                # Cleared before the check: a change after it sets the event again.
                self._changed.clear()
                if condition():
                    return
                await self._changed.wait()


class LinkDown(Exception):
    """The server refused a request in a way a client answers by reconnecting later."""


Address = str | Callable[[], str]


async def connect_ready(
    address: Address, token: str, deadline: float, close_codes: list[int] | None = None
) -> WsClient:
    """A socket that has said ``ready``; refused or failed attempts are retried until
    ``deadline`` (time.monotonic()) with capped backoff, as a client does. The close codes of
    attempts the server closed are added to ``close_codes``."""
    delay = RECONNECT_DELAY_FIRST
    while True:
        base_url = address() if callable(address) else address
        client: WsClient | None = None
        try:
            client = await WsClient.connect(base_url, token)
            await client.wait_type("ready", timeout=REQUEST_TIMEOUT)
            return client
        except LINK_FAILURES:
            if client is not None:
                if close_codes is not None and client.closed_code is not None:
                    close_codes.append(client.closed_code)
                await close_quietly(client)
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(delay)  # backoff between attempts, not a wait for an event
        delay = min(delay * 2, RECONNECT_DELAY_MAX)


async def close_quietly(client: WsClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), REQUEST_TIMEOUT)


class Pace:
    """The web client's pacing of its sends (web/chat.js): a token bucket of the rate and burst
    the server announced in ``ready.limits``, kept across reconnects (the server's bucket is the
    person's, not the socket's), and a hold until a ``rate_limited`` refusal's
    ``retry_after_ms`` has passed. Unpaced until a ``ready`` has named the limits."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self.burst = 0.0
        self.tokens = 0.0
        self.updated = time.monotonic()
        self.held_until = 0.0

    def follow(self, client: WsClient) -> None:
        ready = next(f for f in client.frames if f.get("type") == "ready")
        limits = ready["limits"]
        if self.rate is None:
            self.tokens = float(limits["message_burst"])
        self.rate = float(limits["messages_per_second"])
        self.burst = float(limits["message_burst"])

    def hold(self, retry_after_ms: int) -> None:
        self.tokens = 0.0
        self.updated = time.monotonic()
        self.held_until = max(self.held_until, self.updated + retry_after_ms / 1000)

    async def wait(self) -> None:
        """Until a send is allowed, then take it."""
        if self.rate is None:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if now >= self.held_until and self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            ready_at = max(self.held_until, now + (1.0 - self.tokens) / self.rate)
            await asyncio.sleep(ready_at - now)  # pacing, as a client does; not a wait for an event


class _Person:
    """What a sender and a reader both are: someone named, signed in (``token``), connecting
    to ``address`` until ``deadline``, noting their progress."""

    def __init__(
        self,
        name: str,
        address: Address,
        token: str,
        deadline: float,
        progress: Progress | None = None,
    ) -> None:
        self.name = name
        self.progress = progress or Progress()
        self.address = address
        self.token = token
        self.deadline = deadline


class Sender(_Person):
    def __init__(
        self,
        name: str,
        address: Address,
        token: str,
        conversation_id: str,
        deadline: float,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(name, address, token, deadline, progress)
        self.conversation_id = conversation_id
        self.sent: list[str] = []  # the client_msg_id of each message, in the order sent
        self.acked: list[Message] = []  # acknowledged messages, in the order they were sent
        self.duplicates = 0  # acknowledgements that said the message was already stored
        self.resends = 0
        self.attempts = 0  # message.send frames sent (first sends and resends)
        self.awaiting = False  # a message.send is out and nothing has answered it yet
        self.errors: Counter[str] = Counter()  # error codes answered to a send
        self.close_codes: list[int] = []
        self._client: WsClient | None = None
        self._count = 0
        self._outbox: list[tuple[str, str]] = []  # (client_msg_id, body) not yet acknowledged
        self._pace = Pace()

    def queue(self, body: str) -> str:
        """Put a message in the outbox (connected or not); ``flush`` sends it."""
        self._count += 1
        client_msg_id = f"{self.name}-{self._count}"
        self.sent.append(client_msg_id)
        self._outbox.append((client_msg_id, body))
        return client_msg_id

    async def flush(self) -> list[Message]:
        """Send everything queued, in order, each until acknowledged."""
        stored = []
        while self._outbox:
            client_msg_id, body = self._outbox[0]
            stored.append(await self._deliver(client_msg_id, body))
            self._outbox.pop(0)
        return stored

    async def send(self, body: str) -> Message:
        """Send until acknowledged; returns the stored message."""
        self.queue(body)
        return (await self.flush())[-1]

    async def _deliver(self, client_msg_id: str, body: str) -> Message:
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self.resends += 1
            if time.monotonic() >= self.deadline:
                raise TimeoutError(f"{self.name}: {client_msg_id} never acknowledged")
            try:
                if self._client is None:
                    self._client = await connect_ready(
                        self.address, self.token, self.deadline, self.close_codes
                    )
                    self._pace.follow(self._client)
                await self._pace.wait()
                self.attempts += 1
                self.awaiting = True
                self.progress.note()
                try:
                    reply = await self._client.request(
                        {
                            "type": "message.send",
                            "conversation_id": self.conversation_id,
                            "client_msg_id": client_msg_id,
                            "body": body,
                        },
                        timeout=REQUEST_TIMEOUT,
                    )
                finally:
                    self.awaiting = False
            except LINK_FAILURES:
                await self._drop()
                continue
            if reply["type"] == "message.ack":
                message: Message = reply["message"]
                self.duplicates += bool(reply["duplicate"])
                self.acked.append(message)
                self.progress.note()
                return message
            self.errors[str(reply.get("code"))] += 1
            if reply.get("code") == "rate_limited":
                self._pace.hold(reply["retry_after_ms"])
                continue
            if reply.get("code") != "internal":
                raise AssertionError(f"{self.name}: {client_msg_id} refused: {reply}")
            await asyncio.sleep(0.1)  # retry backoff after a failure, as a client does

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            if client.closed_code is not None:
                self.close_codes.append(client.closed_code)
            await close_quietly(client)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await close_quietly(client)


class Reader(_Person):
    def __init__(
        self,
        name: str,
        address: Address,
        token: str,
        conversations: list[str],
        deadline: float,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(name, address, token, deadline, progress)
        self.applied: dict[str, list[Message]] = {c: [] for c in conversations}
        self.dropped = 0  # messages received again and ignored
        self.syncs = 0
        self.gap_syncs = 0  # syncs started by a live message beyond the next seq
        self.connects = 0
        self.connected_at: list[float] = []  # time.monotonic() of each connection's "ready"
        self.close_codes: list[int] = []
        self.refusals: Counter[str] = Counter()  # error codes answered to a sync or ping
        self.faults: list[str] = []  # what the server must never do (a gap inside a sync page)
        self._task: asyncio.Task[None] | None = None
        self.client: WsClient | None = None

    def last(self, conversation_id: str) -> int:
        applied = self.applied[conversation_id]
        return int(applied[-1]["seq"]) if applied else 0

    def start(self) -> Reader:
        self._task = asyncio.create_task(self._run(), name=f"reader-{self.name}")
        return self

    def _failed(self) -> bool:
        return self._task is not None and self._task.done()

    async def connected(self, timeout: float = 30.0) -> None:
        """Wait until the first connection has said ready and synced."""
        await self.progress.until(
            lambda: self._failed() or (self.connects > 0 and self.syncs >= len(self.applied)),
            timeout,
        )
        self._raise_if_failed()

    async def wait_for_seq(self, conversation_id: str, seq: int, timeout: float) -> None:
        """Until everything up to ``seq`` is applied in this conversation."""
        await self.progress.until(
            lambda: self._failed() or self.last(conversation_id) >= seq, timeout
        )
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # why the reader stopped
            raise AssertionError(f"reader {self.name} stopped")

    def _notify(self) -> None:
        self.progress.note()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await close_quietly(self.client)
            self.client = None

    async def _run(self) -> None:
        try:
            await self._keep_reading()
        finally:
            self._notify()  # waiters learn that it stopped

    async def _keep_reading(self) -> None:
        delay = RECONNECT_DELAY_FIRST
        while True:
            self.client = client = await connect_ready(
                self.address, self.token, self.deadline, self.close_codes
            )
            self.connects += 1
            self.connected_at.append(time.monotonic())
            try:
                for conversation_id in self.applied:
                    await self._sync(client, conversation_id)
                self._notify()
                delay = RECONNECT_DELAY_FIRST
                await self._follow(client)
            except (*LINK_FAILURES, LinkDown):
                if client.closed_code is not None:  # the server (or the link) closed it
                    self.close_codes.append(client.closed_code)
                await close_quietly(client)
                self.client = None
                self._notify()
                await asyncio.sleep(delay)  # reconnect backoff
                delay = min(delay * 2, RECONNECT_DELAY_MAX)

    async def _follow(self, client: WsClient) -> None:
        while True:
            try:
                frame = await client.wait_for(
                    lambda f: (
                        f.get("type") == "message.new"
                        and f["message"]["conversation_id"] in self.applied
                    ),
                    QUIET_SECONDS,
                )
            except TimeoutError:
                pong = await client.request({"type": "ping"}, timeout=REQUEST_TIMEOUT)
                if pong["type"] != "pong":
                    self.refusals[str(pong.get("code"))] += 1
                continue
            message = frame["message"]
            conversation_id = message["conversation_id"]
            if message["seq"] > self.last(conversation_id) + 1:
                self.gap_syncs += 1
                await self._sync(client, conversation_id)
            self._apply(conversation_id, message, from_sync=False)

    async def _sync(self, client: WsClient, conversation_id: str) -> None:
        while True:
            page = await client.request(
                {
                    "type": "sync",
                    "conversation_id": conversation_id,
                    "after_seq": self.last(conversation_id),
                },
                timeout=REQUEST_TIMEOUT,
            )
            if page["type"] != "sync.page":
                self.refusals[str(page.get("code"))] += 1
                raise LinkDown(str(page))
            for message in page["messages"]:
                self._apply(conversation_id, message, from_sync=True)
            if not page["has_more"]:
                self.syncs += 1
                return

    def _apply(self, conversation_id: str, message: Message, *, from_sync: bool) -> None:
        applied = self.applied[conversation_id]
        seq = message["seq"]
        last = self.last(conversation_id)
        if seq <= last:
            self.dropped += 1
            if applied[seq - 1]["id"] != message["id"]:
                self.faults.append(f"two messages with seq {seq}: {message} {applied[seq - 1]}")
        elif seq == last + 1:
            applied.append(message)
            self._notify()
        elif from_sync:
            self.faults.append(f"sync jumped from seq {last} to {seq}")
        else:
            self.faults.append(f"seq {seq} still beyond {last} after a sync")


async def history(client: WsClient, conversation_id: str) -> list[Message]:
    """Every message of a conversation, by sync from the start."""
    messages: list[Message] = []
    while True:
        page = await client.request(
            {
                "type": "sync",
                "conversation_id": conversation_id,
                "after_seq": messages[-1]["seq"] if messages else 0,
            },
            timeout=REQUEST_TIMEOUT,
        )
        assert page["type"] == "sync.page", page
        messages.extend(page["messages"])
        if not page["has_more"]:
            return messages


def check_once_in_order(stored: list[Message], senders: list[Sender]) -> None:
    """Each acknowledged message is stored exactly once, the numbers run 1..n without a gap, and
    every sender's messages are in the order it sent them."""
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    keys = [(m["sender_id"], m["client_msg_id"]) for m in stored]
    assert len(keys) == len(set(keys)), "a message was stored twice"
    by_key = {(m["sender_id"], m["client_msg_id"]): m for m in stored}
    for sender in senders:
        for acked in sender.acked:
            assert by_key.get((acked["sender_id"], acked["client_msg_id"])) == acked, acked
        seqs = [m["seq"] for m in sender.acked]
        assert seqs == sorted(seqs), f"{sender.name}'s messages out of order: {seqs}"
