"""One client's socket: its identity, outbound queue and the reasons it may be closed."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from app import metrics
from app.context import Context
from app.users.models import Role
from auth.deps import Principal
from realtime.protocol import Close, ServerFrame, encode


class TokenBucket:
    """Allows ``rate`` events per second on average with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after_ms(self) -> int:
        """After a refused ``take``: how long until a token is there (at least 1 ms; rounded
        up, so a client that waits exactly this long finds one)."""
        return max(1, math.ceil((1.0 - self.tokens) / self.rate * 1000))


class Outbox:
    """Encoded frames waiting for the socket, at most ``limit``, in order: what
    ``asyncio.Queue`` does for this one use, at a fraction of its memory (a server holds ten
    thousand of these). ``on_ready`` is called when a frame arrives in an empty outbox, so that
    a sender runs only while there is something to send."""

    __slots__ = ("_frames", "_limit", "on_ready")

    def __init__(self, limit: int) -> None:
        self._frames: list[str] = []  # short, and a list costs less than a deque when empty
        self._limit = limit
        self.on_ready: Callable[[], None] | None = None

    def put_nowait(self, text: str) -> None:
        if len(self._frames) >= self._limit:
            raise asyncio.QueueFull
        self._frames.append(text)
        if len(self._frames) == 1 and self.on_ready is not None:
            self.on_ready()

    def get_nowait(self) -> str:
        if not self._frames:
            raise asyncio.QueueEmpty
        return self._frames.pop(0)

    def empty(self) -> bool:
        return not self._frames

    def qsize(self) -> int:
        return len(self._frames)


class Flag:
    """Set once. Awaiting it makes a future only when someone waits (most sockets never do
    until they close)."""

    __slots__ = ("_future", "_set")

    def __init__(self) -> None:
        self._set = False
        self._future: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def future(self) -> asyncio.Future[None]:
        """Done once the flag is set (for ``asyncio.wait`` beside tasks)."""
        if self._future is None or (self._future.cancelled() and not self._set):
            self._future = asyncio.get_running_loop().create_future()
            if self._set:
                self._future.set_result(None)
        return self._future

    async def wait(self) -> None:
        await asyncio.shield(self.future())


@dataclass(frozen=True, slots=True)
class GuestPass:
    """A guest's socket (app/meetings/guests.py): one guest link, one meeting, and the frames
    of that meeting's call only (``realtime.gateway.GUEST_FRAMES``)."""

    link_id: uuid.UUID
    meeting_id: uuid.UUID
    client_id: uuid.UUID | None
    kind: str
    name: str


# Identity, not value: connections live in sets. Slots: there is one per socket, thousands.
@dataclass(eq=False, slots=True)
class Connection:
    # Who is behind it, as plain values: the person's database row is not kept for the socket's
    # life (thousands of sockets; a row with its ORM state is over a kilobyte each).
    user_id: uuid.UUID
    role: Role
    display_name: str
    ctx: Context
    token_expires_at: int
    outbound_limit: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    last_received: float = field(default_factory=time.monotonic)
    grace_deadline: float | None = None
    consecutive_errors: int = 0
    close_code: int | None = None
    close_reason: str = ""
    outbound: Outbox = field(init=False)
    closed: Flag = field(init=False)
    # Events that arrived while the socket was being opened, kept until its first frames
    # (``ready``) are queued: see hold() and open().
    held: list[str] | None = None
    # A guest's socket: ``user_id`` is then the guest link's id (the channel it listens on).
    guest: GuestPass | None = None
    # Set when the socket first asks to join a meeting (before the seat is stored, so a join
    # whose answer failed still counts) and never cleared: only such a socket may have a seat
    # to release when it closes. The rest close without a database transaction, which ten
    # thousand sockets dropped at once took a whole pool of connections for.
    joined_meeting: bool = False

    def __post_init__(self) -> None:
        self.outbound = Outbox(self.outbound_limit)
        self.closed = Flag()

    @classmethod
    def of(cls, principal: Principal, *, token_expires_at: int, outbound_limit: int) -> Connection:
        return cls(
            user_id=principal.user.id,
            role=principal.user.role,
            display_name=principal.user.display_name,
            ctx=principal.ctx,
            token_expires_at=token_expires_at,
            outbound_limit=outbound_limit,
        )

    @classmethod
    def of_guest(
        cls, guest: GuestPass, ctx: Context, *, token_expires_at: int, outbound_limit: int
    ) -> Connection:
        return cls(
            user_id=guest.link_id,
            # No account and no role of their own: a client's reach at most, and the gateway
            # lets through only the frames of their meeting's call.
            role=Role.client,
            display_name=guest.name,
            ctx=ctx,
            token_expires_at=token_expires_at,
            outbound_limit=outbound_limit,
            guest=guest,
        )

    def reauthenticated(self, principal: Principal, token_expires_at: int) -> None:
        """A fresh token of the same person: what it says now (a changed name or role)."""
        self.role = principal.user.role
        self.display_name = principal.user.display_name
        self.ctx = principal.ctx
        self.token_expires_at = token_expires_at

    def hold(self) -> None:
        """Keep what is delivered from now on back until ``open``: the socket is subscribed
        before it says ``ready`` (so nothing published meanwhile is lost), yet ``ready`` must be
        the first frame the client reads."""
        self.held = []

    def open(self, *first: ServerFrame) -> None:
        """Queue the socket's first frames, then what was held back while they were made, in
        the order it came."""
        held, self.held = self.held, None
        for frame in first:
            self.send(frame)
        for text in held or ():
            self.deliver(text)

    def deliver(self, text: str) -> None:
        """Queue an already-encoded frame. A client too slow to keep up is asked to resume
        rather than buffered without bound (it loses nothing: it syncs from its last seq)."""
        if self.closed.is_set():
            return
        if self.held is not None:
            if len(self.held) >= self.outbound_limit:
                self.close(Close.resume, "too far behind; reconnect and resume")
            else:
                self.held.append(text)
            return
        try:
            self.outbound.put_nowait(text)
        except asyncio.QueueFull:
            self.close(Close.resume, "too far behind; reconnect and resume")

    def send(self, frame: ServerFrame) -> None:
        metrics.frames_out[frame.type].inc()
        self.deliver(encode(frame))

    def close(self, code: int, reason: str) -> None:
        if not self.closed.is_set():
            self.close_code = code
            self.close_reason = reason
            self.closed.set()
