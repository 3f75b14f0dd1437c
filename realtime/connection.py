"""One client's socket: its identity, outbound queue and the reasons it may be closed."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.context import Context
from app.users.models import User
from auth.deps import Principal
from realtime.protocol import Close, encode


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


@dataclass(eq=False)  # identity, not value: connections live in sets
class Connection:
    principal: Principal
    token_expires_at: int
    outbound_limit: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    last_received: float = field(default_factory=time.monotonic)
    grace_deadline: float | None = None
    consecutive_errors: int = 0
    close_code: int | None = None
    close_reason: str = ""

    def __post_init__(self) -> None:
        self.outbound: asyncio.Queue[str] = asyncio.Queue(maxsize=self.outbound_limit)
        self.closed = asyncio.Event()

    @property
    def user(self) -> User:
        return self.principal.user

    @property
    def user_id(self) -> uuid.UUID:
        return self.principal.user.id

    @property
    def ctx(self) -> Context:
        return self.principal.ctx

    def deliver(self, text: str) -> None:
        """Queue an already-encoded frame. A client too slow to keep up is asked to resume
        rather than buffered without bound (it loses nothing: it syncs from its last seq)."""
        if self.closed.is_set():
            return
        try:
            self.outbound.put_nowait(text)
        except asyncio.QueueFull:
            self.close(Close.resume, "too far behind; reconnect and resume")

    def send(self, frame: dict[str, Any]) -> None:
        self.deliver(encode(frame))

    def close(self, code: int, reason: str) -> None:
        if not self.closed.is_set():
            self.close_code = code
            self.close_reason = reason
            self.closed.set()
