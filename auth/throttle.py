"""Slowing down password guessing, by account and by client address, without letting a guesser
lock a person out of their own account.

Two counts of failed sign-ins, kept apart from the accounts so that an email with no account
is counted and answered exactly like one with an account:

* **by account, at one address** (``signin:account:<digest of email and address>``): after
  ``TEAMWELL_LOGIN_MAX_FAILURES`` failures for one email from one address, that email is
  refused *from that address* for ``TEAMWELL_LOGIN_LOCKOUT_SECONDS``, doubling with each
  further failure up to ``TEAMWELL_LOGIN_LOCKOUT_MAX_SECONDS``. Someone guessing at a person's
  password slows only themselves: the person, signing in from their own address, is not held
  up. A successful sign-in clears the count; otherwise it is forgotten after twice the longest
  delay without a failure.
* **by address** (``signin:address:<address>``): ``TEAMWELL_LOGIN_ADDRESS_MAX_FAILURES``
  failures from one address, whatever the emails, within ``TEAMWELL_LOGIN_ADDRESS_WINDOW_SECONDS``
  of the first, refuse every sign-in from that address until the window ends. This stops one
  address trying a password on many accounts (spraying). A success does not clear it, or a
  guesser with one account of their own could reset it.

While either applies, a sign-in is answered 429 ``sign-in-throttled`` with ``Retry-After``
*without the password being checked*, so the answer says nothing about the password either.

The address is the one the application already uses for the audit trail: the connection's, or
the ``X-Forwarded-For`` of a proxy uvicorn trusts (``--forwarded-allow-ips``, docs/deploy.md).

Where the counts live follows ``TEAMWELL_REDIS_URL``, as presence does (``realtime/
presence_store.py``): unset, in this process; ``redis://``, in Redis, so the limits hold across
every server process. A failure is one short Lua script (HINCRBY, HSET, EXPIRE) so that the
count, its times and its expiry change together. If Redis cannot be reached, each process
counts on its own until it is back (logged), rather than refusing or admitting everyone.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import Settings
from app.users.service import normalise_email
from realtime.pubsub import REDIS_COMMAND_TIMEOUT, REDIS_CONNECT_TIMEOUT, _redacted

log = logging.getLogger("teamwell.auth")

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
# The in-process store sweeps out expired counts once it holds this many.
MEMORY_SWEEP_AT = 10_000


@dataclass(frozen=True)
class Failures:
    """Failed sign-ins counted under one key: how many, and when the first and the last were
    (epoch seconds)."""

    count: int
    first_at: float
    last_at: float


# --- pure rules ------------------------------------------------------------------------------


def account_delay(count: int, settings: Settings) -> float | None:
    """Seconds an email is refused from an address after ``count`` failures in a row there:
    none below ``login_max_failures``, then ``login_lockout_seconds``, doubling with each
    further failure, capped at ``login_lockout_max_seconds``."""
    if count < settings.login_max_failures:
        return None
    doublings = min(count - settings.login_max_failures, 20)
    return float(
        min(settings.login_lockout_seconds * 2**doublings, settings.login_lockout_max_seconds)
    )


def throttled_until(
    *, account: Failures | None, address: Failures | None, now: float, settings: Settings
) -> float | None:
    """Until when a sign-in for this email from this address is refused, or None."""
    ends: list[float] = []
    if account is not None:
        delay = account_delay(account.count, settings)
        if delay is not None:
            ends.append(account.last_at + delay)
    if address is not None and address.count >= settings.login_address_max_failures:
        ends.append(address.first_at + settings.login_address_window_seconds)
    later = max(ends, default=None)
    return later if later is not None and later > now else None


def retry_after(until: float, now: float) -> int:
    """Whole seconds to wait (``Retry-After``), at least one."""
    return max(1, math.ceil(until - now))


def account_key(email: str, address: str | None, step: str = "account") -> str:
    """The count of one email at one address, for one step of signing in: ``account`` (the
    password) or ``second-factor``. A digest: the email itself stays out of Redis."""
    subject = f"{normalise_email(email)}\0{address or 'unknown'}"
    return f"signin:{step}:{hashlib.sha256(subject.encode()).hexdigest()}"


def address_key(address: str | None) -> str:
    return f"signin:address:{address or 'unknown'}"


# --- where the counts live -------------------------------------------------------------------


class FailureStore(Protocol):
    async def read(self, key: str, now: float) -> Failures | None: ...

    async def add(self, key: str, now: float, ttl: float, *, extend: bool) -> Failures:
        """Count one more failure. The count expires ``ttl`` seconds after its first failure,
        or after its latest one when ``extend``."""
        ...

    async def clear(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryFailureStore:
    """Counts of this process only. No ``await`` between reading and writing a count, so on
    the event loop each change is one step."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[Failures, float]] = {}

    async def read(self, key: str, now: float) -> Failures | None:
        found = self._counts.get(key)
        if found is None or found[1] <= now:
            return None
        return found[0]

    async def add(self, key: str, now: float, ttl: float, *, extend: bool) -> Failures:
        if len(self._counts) >= MEMORY_SWEEP_AT:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        previous = await self.read(key, now)
        if previous is None:
            failures, expires = Failures(count=1, first_at=now, last_at=now), now + ttl
        else:
            failures = Failures(count=previous.count + 1, first_at=previous.first_at, last_at=now)
            expires = now + ttl if extend else self._counts[key][1]
        self._counts[key] = (failures, expires)
        return failures

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)

    async def close(self) -> None:
        return None


# KEYS[1]: the count; ARGV: now (epoch seconds), ttl (whole seconds), "1" to extend the expiry.
_ADD_SCRIPT = """
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
if n == 1 then redis.call('HSET', KEYS[1], 'first', ARGV[1]) end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if n == 1 or ARGV[3] == '1' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {n, redis.call('HGET', KEYS[1], 'first'), ARGV[1]}
"""


class RedisFailureStore:
    """Counts shared by every process using the same Redis: a hash per key (``count``,
    ``first``, ``last``) that Redis expires. Falls back to counting in this process while Redis
    cannot be reached."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: Redis | None = None
        self._add: Any = None
        self._fallback = MemoryFailureStore()
        self._down = False

    def _client(self) -> tuple[Redis, Any]:
        if self._redis is None:
            # Connects on first use, on the event loop that uses it.
            self._redis = Redis.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_COMMAND_TIMEOUT,
            )
            self._add = self._redis.register_script(_ADD_SCRIPT)
        return self._redis, self._add

    def _lost(self, exc: Exception) -> None:
        if not self._down:
            log.warning(
                "sign-in throttle: Redis at %s unreachable (%s); counting in this process",
                _redacted(self.url),
                exc,
            )
        self._down = True

    def _back(self) -> None:
        if self._down:
            log.info("sign-in throttle: Redis reachable again")
        self._down = False

    async def read(self, key: str, now: float) -> Failures | None:
        try:
            client, _ = self._client()
            count, first, last = await client.hmget(key, ["count", "first", "last"])
        except _REDIS_DOWN as exc:
            self._lost(exc)
            return await self._fallback.read(key, now)
        self._back()
        if count is None or first is None or last is None:
            return None
        return Failures(count=int(count), first_at=float(first), last_at=float(last))

    async def add(self, key: str, now: float, ttl: float, *, extend: bool) -> Failures:
        try:
            _, add = self._client()
            count, first, last = await add(
                keys=[key], args=[repr(now), max(1, math.ceil(ttl)), "1" if extend else "0"]
            )
        except _REDIS_DOWN as exc:
            self._lost(exc)
            return await self._fallback.add(key, now, ttl, extend=extend)
        self._back()
        return Failures(count=int(count), first_at=float(first), last_at=float(last))

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        try:
            client, _ = self._client()
            await client.delete(key)
        except _REDIS_DOWN as exc:
            self._lost(exc)

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()


def create_failure_store(url: str | None) -> FailureStore:
    """``None``/empty or ``memory://``: this process; ``redis://``: Redis (as presence)."""
    if not url or urlsplit(url).scheme == "memory":
        return MemoryFailureStore()
    if urlsplit(url).scheme in ("redis", "rediss", "unix"):
        return RedisFailureStore(url)
    raise ValueError(f"unsupported URL {_redacted(url)!r} for sign-in throttling")


# --- the throttle ----------------------------------------------------------------------------


class SignInThrottle:
    """The two counts for one sign-in attempt: ``wait`` before checking a password (or a
    code), ``failed`` after a wrong one, ``succeeded`` after a right one.

    ``step`` keeps the second factor's count apart from the password's, so that the right
    password (which clears its own count) does not clear failed codes: someone who has the
    password and guesses codes is slowed as at the password step."""

    def __init__(self, settings: Settings, store: FailureStore | None = None) -> None:
        self.settings = settings
        self.store = store or create_failure_store(settings.redis_url)

    async def wait(
        self, *, email: str, address: str | None, now: float, step: str = "account"
    ) -> int | None:
        """Seconds before this email may be tried from this address again, or None."""
        account = await self.store.read(account_key(email, address, step), now)
        by_address = await self.store.read(address_key(address), now)
        until = throttled_until(
            account=account, address=by_address, now=now, settings=self.settings
        )
        return None if until is None else retry_after(until, now)

    async def failed(
        self, *, email: str, address: str | None, now: float, step: str = "account"
    ) -> int | None:
        """Count a failure; the seconds to wait if this one reached a limit, or None."""
        settings = self.settings
        account = await self.store.add(
            account_key(email, address, step),
            now,
            2 * settings.login_lockout_max_seconds,
            extend=True,
        )
        by_address = await self.store.add(
            address_key(address), now, settings.login_address_window_seconds, extend=False
        )
        until = throttled_until(account=account, address=by_address, now=now, settings=settings)
        return None if until is None else retry_after(until, now)

    async def succeeded(self, *, email: str, address: str | None, step: str = "account") -> None:
        await self.store.clear(account_key(email, address, step))

    async def close(self) -> None:
        await self.store.close()
