"""Where presence lives: one person's devices, and the deadlines of the presence timer.

The interface is small, after ``realtime/pubsub.py``: ``update`` (an atomic read-modify-write of
one person, given a pure transition from ``realtime/presence.py``), ``get_many`` (everyone asked
for, in one round trip), and ``claim_due``/``next_deadline`` for the timer. Every ``update``
also files that person's next deadline (``next_timeout``) in the same atomic step, so the
deadlines always match the state they were computed from.

``create_presence_store(url, timings)`` picks the implementation the way ``create_pubsub`` does:
``None`` or ``memory://`` keeps presence in this process (a single server, tests); ``redis://``
keeps it in Redis, shared by every server process, so a person's devices on several processes
aggregate to one state, a new socket's snapshot covers everyone wherever they are connected, and
any process's timer times out the devices of a process that died.

Redis layout (docs/realtime.md, "Presence"):

* ``presence:<user_id>``: a hash; a field ``device:<connection_id>`` per device holding its
  ``DeviceState`` as JSON (``state``, ``last_active``, ``last_heartbeat``), and ``last_seen``.
* ``presence:deadlines``: a sorted set of user ids scored by their next deadline (epoch seconds).

``update`` uses WATCH/MULTI: the transition is Python (the pure rules), so it cannot run inside
Redis; a Lua script could only compare-and-set what Python computed, which is what WATCH already
does without a script to keep in step with the rules. A conflict (another process changed the
person between the read and EXEC) retries with the fresh state; every conflict means another
update succeeded, so retries only happen under real contention on one person.

``refresh`` is the heartbeat, for a batch of devices at once: it only moves each known device's
``last_heartbeat`` forward, which changes nothing anyone sees, so it needs neither the pure rules
nor a transaction per ping (a WATCH/MULTI per heartbeat was a third of a core across two
processes for 10,000 idle sockets). In Redis it is one short Lua script for the whole batch,
which rewrites the number inside each device's JSON as Python wrote it (the rest of the text is
untouched, so it reads back exactly as ``_encode`` would have written it). It leaves the
person's deadline where it was: a deadline may be earlier than needed, never later, so the timer
then finds the device alive, changes nothing, and files the real deadline. Each person is looked
at once per dead time instead of written at every heartbeat of every device. A device not known
(timed out meanwhile) is returned to the caller, which adds it back through ``update`` as
before.

``claim_due`` is one short Lua script: it takes the due people and moves each one's deadline a
lease ahead, atomically, so exactly one caller gets each person. Claiming by ZREM would lose the
person's deadline for good if the claimer died (or lost Redis) before filing the next one, and a
person whose devices were all on a dead process would then stay online forever; with a lease,
the person simply comes due again. The claimer's ``update`` replaces the lease with the real
deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, Protocol, cast
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from realtime import presence as rules
from realtime.pubsub import (
    REDIS_COMMAND_TIMEOUT,
    REDIS_CONNECT_TIMEOUT,
    REDIS_POOL_SIZE,
    _redacted,
)

__all__ = [
    "CLAIM_BATCH",
    "CLAIM_LEASE_SECONDS",
    "DEADLINES_KEY",
    "Beat",
    "MemoryPresenceStore",
    "PresenceConflict",
    "PresenceStore",
    "PresenceUnavailable",
    "RedisPresenceStore",
    "create_presence_store",
    "presence_key",
]

DEADLINES_KEY = "presence:deadlines"
# A claimed person comes due again this long after the claim unless the claimer filed their
# next deadline first (it does, one update later, unless it died or lost Redis meanwhile).
CLAIM_LEASE_SECONDS = 30.0
# How many due people one claim takes at most; the timer claims again while batches are full.
CLAIM_BATCH = 100
# Redis: optimistic transactions on one person tried this often before giving up. Only that
# person's own devices contend, so even a few conflicts in a row are rare. After a conflict the
# next try waits a random part of a delay that doubles up to the cap, so that updates which
# collided do not collide again in step.
UPDATE_ATTEMPTS = 50
UPDATE_RETRY_DELAY_FIRST = 0.001
UPDATE_RETRY_DELAY_MAX = 0.05

_DEVICE_PREFIX = "device:"
_LAST_SEEN = "last_seen"
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)

Update = Callable[[rules.UserPresence], rules.Transition]


class Beat(NamedTuple):
    """One device's heartbeat: whose, which device (its connection id) and when."""

    user_id: uuid.UUID
    device: str
    at: float


def presence_key(user_id: uuid.UUID) -> str:
    """The Redis hash of one person's presence: ``presence:<id>``."""
    return f"presence:{user_id}"


class PresenceUnavailable(Exception):
    """The presence store (Redis) cannot be reached."""


class PresenceConflict(Exception):
    """One person's presence kept changing under an update, ``UPDATE_ATTEMPTS`` times in a row."""


class PresenceStore(Protocol):
    timings: rules.PresenceTimings

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def update(self, user_id: uuid.UUID, fn: Update) -> rules.Transition:
        """Apply ``fn`` to the person's current presence atomically and keep the result.

        ``fn`` may be called more than once (Redis retries after a conflict), so it must be pure.
        """
        ...

    async def get_many(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, rules.UserPresence]:
        """Everyone asked for (nobody known: no devices, never seen), in one round trip."""
        ...

    async def refresh(self, beats: Sequence[Beat]) -> list[Beat]:
        """Heartbeats, in one round trip: each known device's ``last_heartbeat`` moved forward
        to the beat's time (never back), deadlines left as filed. Returns the beats whose device
        is not known, for the caller to add through ``update``."""
        ...

    async def claim_due(self, now: float, limit: int = CLAIM_BATCH) -> list[uuid.UUID]:
        """Up to ``limit`` people whose deadline is at or before ``now``, each for one caller
        only. Each is leased for ``CLAIM_LEASE_SECONDS``; the caller's next ``update`` of that
        person files the real deadline."""
        ...

    async def next_deadline(self) -> float | None:
        """The earliest deadline of anyone, or None when nobody has one."""
        ...


def create_presence_store(url: str | None, timings: rules.PresenceTimings) -> PresenceStore:
    """The store for ``url``: ``None``/empty or ``memory://`` in process, ``redis://`` Redis."""
    if not url:
        return MemoryPresenceStore(timings)
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryPresenceStore(timings)
    if scheme in ("redis", "rediss", "unix"):
        return RedisPresenceStore(url, timings)
    raise ValueError(f"unsupported presence URL {_redacted(url)!r}: use memory:// or redis://")


# --- in memory ----------------------------------------------------------------------------


class MemoryPresenceStore:
    """Presence of this process only: a dict, and a heap of deadlines.

    ``update`` reads, transforms and writes with no ``await`` in between, so on the event loop it
    is one step and needs no lock. The heap holds at most one live entry per person (the
    earliest queued); entries that no longer match are dropped or requeued as they surface, so
    the timer's cost follows the people that are due, not everyone.
    """

    def __init__(self, timings: rules.PresenceTimings) -> None:
        self.timings = timings
        self._users: dict[uuid.UUID, rules.UserPresence] = {}
        self._deadlines: dict[uuid.UUID, float] = {}
        self._queued: dict[uuid.UUID, float] = {}
        self._heap: list[tuple[float, uuid.UUID]] = []

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def update(self, user_id: uuid.UUID, fn: Update) -> rules.Transition:
        transition = fn(self._users.get(user_id, rules.UserPresence()))
        presence = transition.presence
        if presence.devices or presence.last_seen is not None:
            self._users[user_id] = presence
        else:
            self._users.pop(user_id, None)
        self._file(user_id, rules.next_timeout(presence, self.timings))
        return transition

    async def get_many(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, rules.UserPresence]:
        return {uid: self._users.get(uid, rules.UserPresence()) for uid in user_ids}

    async def refresh(self, beats: Sequence[Beat]) -> list[Beat]:
        missing: list[Beat] = []
        for beat in beats:
            presence = self._users.get(beat.user_id)
            device = None if presence is None else presence.devices.get(beat.device)
            if presence is None or device is None:
                missing.append(beat)
            elif beat.at > device.last_heartbeat:
                # Copied, not changed in place: a presence handed out earlier stays as it was.
                devices = {**presence.devices, beat.device: replace(device, last_heartbeat=beat.at)}
                self._users[beat.user_id] = replace(presence, devices=devices)
        return missing

    async def claim_due(self, now: float, limit: int = CLAIM_BATCH) -> list[uuid.UUID]:
        claimed: list[uuid.UUID] = []
        while len(claimed) < limit:
            earliest = self._earliest()
            if earliest is None or earliest[0] > now:
                break
            claimed.append(earliest[1])
            self._file(earliest[1], now + CLAIM_LEASE_SECONDS)
        return claimed

    async def next_deadline(self) -> float | None:
        earliest = self._earliest()
        return None if earliest is None else earliest[0]

    def _file(self, user_id: uuid.UUID, deadline: float | None) -> None:
        if deadline is None:
            self._deadlines.pop(user_id, None)
            return
        self._deadlines[user_id] = deadline
        queued = self._queued.get(user_id)
        if queued is None or deadline < queued:
            self._queued[user_id] = deadline
            heapq.heappush(self._heap, (deadline, user_id))

    def _earliest(self) -> tuple[float, uuid.UUID] | None:
        """The heap's top once it is a person's current deadline (stale entries settled)."""
        while self._heap:
            queued, user_id = self._heap[0]
            if self._queued.get(user_id) != queued:
                heapq.heappop(self._heap)  # superseded by an earlier entry for this person
                continue
            deadline = self._deadlines.get(user_id)
            if deadline == queued:
                return queued, user_id
            heapq.heappop(self._heap)  # moved later (or gone): requeue at the real deadline
            del self._queued[user_id]
            if deadline is not None:
                self._queued[user_id] = deadline
                heapq.heappush(self._heap, (deadline, user_id))
        return None


# --- Redis ----------------------------------------------------------------------------------

# KEYS[1] the deadlines; ARGV: now, the lease's end, the batch size.
_CLAIM_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


# KEYS: the people's hashes, one per beat; ARGV: each beat's field and time, in turn. The time is
# written into the device's JSON as the caller spelled it (Python's repr, as json.dumps writes a
# float), only if later than the one there. Returns the positions (1-based) of beats whose
# device is not in the hash.
_REFRESH_SCRIPT = """
local missing = {}
for i, key in ipairs(KEYS) do
  local field, at = ARGV[2 * i - 1], ARGV[2 * i]
  local text = redis.call('HGET', key, field)
  if not text then
    missing[#missing + 1] = i
  else
    local before = tonumber(string.match(text, '"last_heartbeat":([^,}]+)'))
    if before == nil or tonumber(at) > before then
      local after = string.gsub(text, '"last_heartbeat":[^,}]+', '"last_heartbeat":' .. at, 1)
      redis.call('HSET', key, field, after)
    end
  end
end
return missing
"""


def _encode(presence: rules.UserPresence) -> dict[str, str]:
    fields = {
        _DEVICE_PREFIX + device_id: json.dumps(
            {
                "state": str(device.state),
                "last_active": device.last_active,
                "last_heartbeat": device.last_heartbeat,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        for device_id, device in presence.devices.items()
    }
    if presence.last_seen is not None:
        fields[_LAST_SEEN] = repr(presence.last_seen)
    return fields


def _decode(fields: dict[str, str]) -> rules.UserPresence:
    devices: dict[str, rules.DeviceState] = {}
    for name, value in fields.items():
        if name.startswith(_DEVICE_PREFIX):
            data = json.loads(value)
            devices[name.removeprefix(_DEVICE_PREFIX)] = rules.DeviceState(
                rules.PresenceState(data["state"]),
                last_active=float(data["last_active"]),
                last_heartbeat=float(data["last_heartbeat"]),
            )
    last_seen = fields.get(_LAST_SEEN)
    return rules.UserPresence(
        devices=devices, last_seen=None if last_seen is None else float(last_seen)
    )


class RedisPresenceStore:
    """Presence shared by every process using the same Redis (layout in the module docstring)."""

    def __init__(self, url: str, timings: rules.PresenceTimings) -> None:
        self.url = url
        self.timings = timings
        self._redis: Redis | None = None
        self._claim: Any = None
        self._refresh: Any = None

    async def connect(self) -> None:
        """Connect and check that Redis answers; ``PresenceUnavailable`` if it does not."""
        if self._redis is not None:
            return
        # Many sockets connecting or heartbeating at once wait for a connection of the pool
        # rather than fail (which would close their sockets as if Redis were down).
        client = Redis.from_pool(
            BlockingConnectionPool.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_COMMAND_TIMEOUT,
                retry=Retry(EqualJitterBackoff(cap=1.0, base=0.05), 3),
                max_connections=REDIS_POOL_SIZE,
                timeout=REDIS_COMMAND_TIMEOUT,
            )
        )
        try:
            await client.ping()
        except _REDIS_DOWN as exc:
            await client.aclose()
            raise PresenceUnavailable(
                f"cannot reach Redis at {_redacted(self.url)}: {exc}"
            ) from exc
        self._redis = client
        self._claim = client.register_script(_CLAIM_SCRIPT)
        self._refresh = client.register_script(_REFRESH_SCRIPT)

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisPresenceStore is not connected: call connect() first")
        return self._redis

    async def update(self, user_id: uuid.UUID, fn: Update) -> rules.Transition:
        client = self._client()
        key, member = presence_key(user_id), str(user_id)
        try:
            for attempt in range(UPDATE_ATTEMPTS):
                if attempt:
                    delay = min(UPDATE_RETRY_DELAY_FIRST * 2**attempt, UPDATE_RETRY_DELAY_MAX)
                    await asyncio.sleep(random.uniform(0, delay))  # noqa: S311 - jitter only
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        before = cast(dict[str, str], await pipe.hgetall(key))
                        transition = fn(_decode(before))
                        after = _encode(transition.presence)
                        deadline = rules.next_timeout(transition.presence, self.timings)
                        pipe.multi()
                        gone = [name for name in before if name not in after]
                        if gone:
                            pipe.hdel(key, *gone)
                        changed: dict[Any, str] = {
                            name: text for name, text in after.items() if before.get(name) != text
                        }
                        if changed:
                            pipe.hset(key, mapping=changed)
                        if deadline is None:
                            pipe.zrem(DEADLINES_KEY, member)
                        else:
                            pipe.zadd(DEADLINES_KEY, {member: deadline})
                        await pipe.execute()
                    except WatchError:
                        continue  # changed meanwhile: read it again
                return transition
        except _REDIS_DOWN as exc:
            raise PresenceUnavailable(f"cannot update presence in Redis: {exc}") from exc
        raise PresenceConflict(
            f"the presence of {user_id} changed under {UPDATE_ATTEMPTS} updates in a row"
        )

    async def get_many(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, rules.UserPresence]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                for user_id in ids:
                    pipe.hgetall(presence_key(user_id))
                replies: list[dict[str, str]] = await pipe.execute()
        except _REDIS_DOWN as exc:
            raise PresenceUnavailable(f"cannot read presence from Redis: {exc}") from exc
        return {uid: _decode(fields) for uid, fields in zip(ids, replies, strict=True)}

    async def refresh(self, beats: Sequence[Beat]) -> list[Beat]:
        self._client()
        if not beats:
            return []
        args: list[str] = []
        for beat in beats:
            args += (_DEVICE_PREFIX + beat.device, repr(float(beat.at)))
        try:
            missing: list[int] = await self._refresh(
                keys=[presence_key(beat.user_id) for beat in beats], args=args
            )
        except _REDIS_DOWN as exc:
            raise PresenceUnavailable(f"cannot refresh heartbeats in Redis: {exc}") from exc
        return [beats[position - 1] for position in missing]

    async def claim_due(self, now: float, limit: int = CLAIM_BATCH) -> list[uuid.UUID]:
        self._client()
        try:
            due: list[str] = await self._claim(
                keys=[DEADLINES_KEY], args=[repr(now), repr(now + CLAIM_LEASE_SECONDS), limit]
            )
        except _REDIS_DOWN as exc:
            raise PresenceUnavailable(f"cannot claim presence deadlines in Redis: {exc}") from exc
        return [uuid.UUID(member) for member in due]

    async def next_deadline(self) -> float | None:
        try:
            earliest = await self._client().zrange(DEADLINES_KEY, 0, 0, withscores=True)
        except _REDIS_DOWN as exc:
            raise PresenceUnavailable(f"cannot read presence deadlines in Redis: {exc}") from exc
        return float(earliest[0][1]) if earliest else None
