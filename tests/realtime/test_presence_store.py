"""realtime.presence_store: the same contract in memory and on a real redis-server, and the
presence service over it as two server processes would use it.

Tests taking ``stores`` run twice. A "process" is one store instance: on Redis each is its own
client of the one server; in memory a process has only its own store, so both "processes" are
the same instance there (as with the pub/sub tests). Redis is skipped when ``redis-server`` is
missing, unless ``TEAMWELL_TEST_REDIS=required``. Time is passed explicitly (``now``), so nothing
sleeps; every wait is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from app.clock import FrozenClock
from app.config import Settings
from app.users.models import Role
from realtime import presence as rules
from realtime.presence_service import PresenceService
from realtime.presence_store import (
    CLAIM_LEASE_SECONDS,
    DEADLINES_KEY,
    Beat,
    MemoryPresenceStore,
    PresenceStore,
    PresenceUnavailable,
    RedisPresenceStore,
    create_presence_store,
    presence_key,
)
from realtime.protocol import ServerFrame
from tests.conftest import requirement
from tests.support.net import free_port
from tests.support.redis import RedisServer, redis_available

WAIT = 10.0
T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC
TIMINGS = rules.PresenceTimings()
DEAD = TIMINGS.dead_after
ONLINE, AWAY, BUSY, OFFLINE = (
    rules.PresenceState.ONLINE,
    rules.PresenceState.AWAY,
    rules.PresenceState.BUSY,
    rules.PresenceState.OFFLINE,
)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():
        if requirement("TEAMWELL_TEST_REDIS"):
            pytest.fail("Redis is required for this run but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


class Stores:
    """Opens presence stores the way separate server processes would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: list[PresenceStore] = []

    @property
    def is_redis(self) -> bool:
        return self.url.startswith("redis://")

    async def process(self) -> PresenceStore:
        """A connected store for one more "process" (in memory: the one store there is)."""
        if not self.is_redis and self.opened:
            return self.opened[0]
        store = create_presence_store(self.url, TIMINGS)
        await store.connect()
        self.opened.append(store)
        return store

    async def close(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        url = "memory://"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
        client = Redis.from_url(url)
        try:
            await client.flushdb()  # the deadlines are shared: start each test without any
        finally:
            await client.aclose()
    opened = Stores(url)
    try:
        yield opened
    finally:
        await opened.close()


def connect(device: str, now: float) -> Any:
    return lambda user: rules.handle_connect(user, device, now)


def set_state(device: str, state: rules.PresenceState, now: float) -> Any:
    return lambda user: rules.handle_set(user, device, state, now)


def heartbeat(device: str, now: float) -> Any:
    return lambda user: rules.handle_heartbeat(user, device, now)


def disconnect(device: str, now: float) -> Any:
    return lambda user: rules.handle_disconnect(user, device, now)


def timeout(now: float) -> Any:
    return lambda user: rules.handle_timeout(user, now, TIMINGS)


async def presence_of(store: PresenceStore, user_id: uuid.UUID) -> rules.UserPresence:
    return (await store.get_many([user_id]))[user_id]


# --- the contract, on both backends --------------------------------------------------------------


async def test_devices_on_two_processes_aggregate(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    person = uuid.uuid4()
    first = await one.update(person, connect("laptop", T0))
    assert (first.previous, first.current) == (OFFLINE, ONLINE)
    # The other process reads what the first wrote: the change starts from "online".
    second = await two.update(person, set_state("phone", BUSY, T0 + 1))
    assert (second.previous, second.current) == (ONLINE, BUSY)
    seen = await presence_of(one, person)
    assert set(seen.devices) == {"laptop", "phone"}
    assert seen.state is BUSY and seen.last_seen == T0 + 1
    # The laptop choosing "online" does not hide the phone's "busy" from anyone.
    unchanged = await one.update(person, set_state("laptop", ONLINE, T0 + 2))
    assert not unchanged.changed and unchanged.current is BUSY
    back = await two.update(person, disconnect("phone", T0 + 3))
    assert (back.previous, back.current) == (BUSY, ONLINE)
    assert (await presence_of(one, person)) == back.presence
    gone = await one.update(person, disconnect("laptop", T0 + 4))
    assert gone.current is OFFLINE
    # Nobody connected: offline, last seen when the last device left.
    assert (await presence_of(two, person)) == rules.UserPresence(last_seen=T0 + 4)


async def test_get_many_answers_for_everyone_asked(stores: Stores) -> None:
    store = await stores.process()
    known, unknown = uuid.uuid4(), uuid.uuid4()
    await store.update(known, connect("laptop", T0))
    got = await store.get_many([known, unknown, known])
    assert set(got) == {known, unknown}
    assert got[known].state is ONLINE
    assert got[unknown] == rules.UserPresence()
    assert got[unknown].state is OFFLINE and got[unknown].last_seen is None
    assert await store.get_many([]) == {}


async def test_state_round_trips_exactly(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    person = uuid.uuid4()
    await one.update(person, set_state("a", rules.PresenceState.IN_SESSION, T0 + 0.1))
    await one.update(person, heartbeat("a", T0 + 0.30000000000000004))
    transition = await one.update(person, set_state("b", AWAY, T0 + 1 / 3))
    assert (await presence_of(two, person)) == transition.presence


async def test_concurrent_updates_from_two_processes_lose_nothing(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    person = uuid.uuid4()
    devices_per_process, rounds = 12, 3

    async def device(store: PresenceStore, name: str) -> None:
        await store.update(person, connect(name, T0))
        for beat in range(1, rounds + 1):
            await store.update(person, heartbeat(name, T0 + beat))

    async with asyncio.timeout(WAIT), asyncio.TaskGroup() as group:
        for n in range(devices_per_process):
            group.create_task(device(one, f"one-{n}"))
            group.create_task(device(two, f"two-{n}"))
    seen = await presence_of(two, person)
    assert len(seen.devices) == 2 * devices_per_process
    assert {d.last_heartbeat for d in seen.devices.values()} == {T0 + rounds}


async def test_the_deadline_follows_the_state(stores: Stores) -> None:
    store = await stores.process()
    person = uuid.uuid4()
    assert await store.next_deadline() is None
    await store.update(person, connect("laptop", T0))
    assert await store.next_deadline() == T0 + DEAD  # dead after 60 s comes before idle
    await store.update(person, heartbeat("laptop", T0 + 20))
    assert await store.next_deadline() == T0 + 20 + DEAD
    await store.update(person, disconnect("laptop", T0 + 30))
    assert await store.next_deadline() is None


async def test_nobody_is_due_before_their_deadline(stores: Stores) -> None:
    store = await stores.process()
    person = uuid.uuid4()
    await store.update(person, connect("laptop", T0))
    assert await store.claim_due(T0 + DEAD - 0.001) == []
    assert await store.claim_due(T0 + DEAD) == [person]  # inclusive, as handle_timeout is


async def test_a_due_person_is_claimed_by_one_process_only(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    people = [uuid.uuid4() for _ in range(30)]
    for n, person in enumerate(people):
        await (one if n % 2 else two).update(person, connect("laptop", T0 + n / 100))
    now = T0 + DEAD + 1
    async with asyncio.timeout(WAIT), asyncio.TaskGroup() as group:
        claims = [
            group.create_task(store.claim_due(now, limit=4))
            for store in (one, two)
            for _ in range(10)
        ]
    claimed = [person for claim in claims for person in claim.result()]
    assert sorted(claimed) == sorted(people)  # every one, and none twice
    assert await one.claim_due(now) == [] and await two.claim_due(now) == []


async def test_a_claim_the_claimer_never_finished_comes_due_again(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    person = uuid.uuid4()
    await one.update(person, connect("laptop", T0))
    claimed_at = T0 + DEAD
    assert await one.claim_due(claimed_at) == [person]
    # The claimer dies before applying the timeout: the lease runs out and another takes over.
    assert await two.next_deadline() == claimed_at + CLAIM_LEASE_SECONDS
    assert await two.claim_due(claimed_at + CLAIM_LEASE_SECONDS - 0.001) == []
    assert await two.claim_due(claimed_at + CLAIM_LEASE_SECONDS) == [person]
    done = await two.update(person, timeout(claimed_at + CLAIM_LEASE_SECONDS))
    assert done.current is OFFLINE and done.presence.last_seen == T0
    assert await two.next_deadline() is None


async def test_the_devices_of_a_dead_process_are_timed_out_by_another(stores: Stores) -> None:
    alive, dead = await stores.process(), await stores.process()
    gone, both = uuid.uuid4(), uuid.uuid4()
    await dead.update(gone, connect("laptop", T0))
    await dead.update(both, connect("laptop", T0))
    await alive.update(both, set_state("phone", BUSY, T0))
    # The living process's device keeps heartbeating; the dead one's never does again.
    for beat in (20.0, 40.0, 55.0):
        await alive.update(both, heartbeat("phone", T0 + beat))
    now = T0 + DEAD
    due = await alive.claim_due(now)
    assert sorted(due) == sorted([gone, both])
    left = {person: await alive.update(person, timeout(now)) for person in due}
    assert (left[gone].previous, left[gone].current) == (ONLINE, OFFLINE)
    assert left[gone].presence == rules.UserPresence(last_seen=T0)  # its last heartbeat
    assert not left[both].changed and set(left[both].presence.devices) == {"phone"}
    # The phone's own deadline is filed again; the person who left has none.
    assert await alive.next_deadline() == T0 + 55.0 + DEAD
    assert await alive.claim_due(T0 + 55.0 + DEAD - 0.001) == []


async def test_a_refresh_moves_known_heartbeats_forward_in_one_call(stores: Stores) -> None:
    one, two = await stores.process(), await stores.process()
    priya, tom, nobody = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await one.update(priya, set_state("laptop", BUSY, T0))
    await one.update(priya, connect("phone", T0))
    await two.update(tom, connect("desk", T0 + 5))
    missing = await two.refresh(
        [
            Beat(priya, "laptop", T0 + 20.000000000000004),
            Beat(tom, "desk", T0 + 1),  # older than the one there: kept as it was
            Beat(priya, "tablet", T0 + 20),  # not a device of hers (timed out, say)
            Beat(nobody, "anything", T0 + 20),
        ]
    )
    assert missing == [Beat(priya, "tablet", T0 + 20), Beat(nobody, "anything", T0 + 20)]
    seen = await one.get_many([priya, tom, nobody])
    assert seen[priya].devices == {
        "laptop": rules.DeviceState(BUSY, last_active=T0, last_heartbeat=T0 + 20.000000000000004),
        "phone": rules.DeviceState(ONLINE, last_active=T0, last_heartbeat=T0),
    }
    assert seen[tom].devices["desk"].last_heartbeat == T0 + 5
    assert seen[nobody] == rules.UserPresence()
    # Nobody anyone sees changed, so the deadlines stand: earlier than needed, never later.
    assert await one.claim_due(T0 + DEAD) == [priya]
    done = await one.update(priya, timeout(T0 + DEAD))
    assert set(done.presence.devices) == {"laptop"}  # the phone did not beat: gone
    assert await one.next_deadline() == T0 + 5 + DEAD  # tom's, then priya's laptop's
    assert await one.claim_due(T0 + 20.000000000000004 + DEAD) == [tom, priya]


async def test_a_refreshed_heartbeat_reads_back_as_an_update_would_write_it(
    redis_server: RedisServer,
) -> None:
    store = RedisPresenceStore(redis_server.url, TIMINGS)
    await store.connect()
    side = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        by_refresh, by_update = uuid.uuid4(), uuid.uuid4()
        for person in (by_refresh, by_update):
            await store.update(person, set_state("c1", BUSY, T0 + 1 / 3))
        assert await store.refresh([Beat(by_refresh, "c1", T0 + 2 / 3)]) == []
        await store.update(by_update, heartbeat("c1", T0 + 2 / 3))
        assert await side.hgetall(presence_key(by_refresh)) == await side.hgetall(
            presence_key(by_update)
        )
    finally:
        await side.aclose()
        await store.close()


async def test_a_transition_that_raises_changes_nothing(stores: Stores) -> None:
    store = await stores.process()
    person = uuid.uuid4()
    before = (await store.update(person, connect("laptop", T0))).presence
    with pytest.raises(rules.InvalidDeviceState):
        await store.update(person, set_state("laptop", OFFLINE, T0 + 1))
    assert await presence_of(store, person) == before


# --- choosing and reaching the backend -----------------------------------------------------------


def test_the_timings_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().presence_timings == TIMINGS
    monkeypatch.setenv("TEAMWELL_PRESENCE_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("TEAMWELL_PRESENCE_DEAD_AFTER_SECONDS", "4")
    monkeypatch.setenv("TEAMWELL_PRESENCE_IDLE_AFTER_SECONDS", "30")
    assert Settings().presence_timings == rules.PresenceTimings(1.0, 4.0, 30.0)
    monkeypatch.setenv("TEAMWELL_PRESENCE_DEAD_AFTER_SECONDS", "1")  # not beyond a heartbeat
    with pytest.raises(ValidationError, match="dead_after"):
        Settings()


def test_the_url_picks_the_store() -> None:
    assert isinstance(create_presence_store(None, TIMINGS), MemoryPresenceStore)
    assert isinstance(create_presence_store("", TIMINGS), MemoryPresenceStore)
    assert isinstance(create_presence_store("memory://", TIMINGS), MemoryPresenceStore)
    assert isinstance(create_presence_store("redis://127.0.0.1:1/0", TIMINGS), RedisPresenceStore)
    with pytest.raises(ValueError, match="memory:// or redis://") as refused:
        create_presence_store("amqp://user:hunter2@broker/", TIMINGS)
    assert "hunter2" not in str(refused.value)


async def test_redis_that_cannot_be_reached_is_reported() -> None:
    store = create_presence_store(f"redis://127.0.0.1:{free_port('127.0.0.1')}/0", TIMINGS)
    with pytest.raises(PresenceUnavailable):
        async with asyncio.timeout(WAIT):
            await store.connect()


async def test_the_redis_layout_is_the_documented_one(redis_server: RedisServer) -> None:
    store = create_presence_store(redis_server.url, TIMINGS)
    await store.connect()
    side = Redis.from_url(redis_server.url, decode_responses=True)
    person = uuid.uuid4()
    try:
        await store.update(person, connect("c1", T0))
        await store.update(person, set_state("c2", BUSY, T0 + 5))
        fields = await side.hgetall(presence_key(person))
        assert set(fields) == {"device:c1", "device:c2", "last_seen"}
        assert json.loads(fields["device:c2"]) == {
            "state": "busy",
            "last_active": T0 + 5,
            "last_heartbeat": T0 + 5,
        }
        assert float(fields["last_seen"]) == T0 + 5
        assert await side.zscore(DEADLINES_KEY, str(person)) == T0 + DEAD
        await store.update(person, disconnect("c1", T0 + 6))
        await store.update(person, disconnect("c2", T0 + 7))
        assert await side.hgetall(presence_key(person)) == {"last_seen": repr(T0 + 7)}
        assert await side.zscore(DEADLINES_KEY, str(person)) is None
    finally:
        await side.aclose()
        await store.close()


# --- the service over the store, as two processes ------------------------------------------------


@dataclass
class Device:
    """What the service needs of a socket."""

    user_id: uuid.UUID
    id: str
    role: Role = Role.therapist


class Recorder:
    """Stands in for the hub: remembers every presence frame and to whom it went."""

    def __init__(self) -> None:
        self.frames: list[tuple[set[uuid.UUID], dict[str, Any]]] = []

    async def send_to_users(self, user_ids: Any, frame: ServerFrame, **_: Any) -> None:
        self.frames.append((set(user_ids), frame.model_dump(mode="json")))

    def states_of(self, user_id: uuid.UUID) -> list[str]:
        return [f["state"] for _, f in self.frames if f["user_id"] == str(user_id)]


class Process(PresenceService):
    """One server process's presence service, with everyone watching everyone."""

    def __init__(self, store: PresenceStore, clock: FrozenClock, people: set[uuid.UUID]) -> None:
        self.recorder = Recorder()
        super().__init__(self.recorder, None, clock, store)
        self.people = people

    async def _audience(self, user_id: uuid.UUID, role: Role | None = None) -> set[uuid.UUID]:
        return self.people - {user_id}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.fromtimestamp(T0, UTC))


async def test_snapshots_cover_people_connected_to_other_processes(
    stores: Stores, clock: FrozenClock
) -> None:
    priya, tom = uuid.uuid4(), uuid.uuid4()
    one = Process(await stores.process(), clock, {priya, tom})
    two = Process(await stores.process(), clock, {priya, tom})
    await one.connect(Device(priya, "laptop"))
    await two.set_state(Device(priya, "phone"), "busy")
    # As it goes out on the wire.
    snapshot = (await two.snapshot(Device(tom, "desk"))).model_dump(mode="json")
    assert snapshot == {
        "type": "presence.snapshot",
        "presences": [{"user_id": str(priya), "state": "busy", "last_seen": T0}],
    }


async def test_a_change_after_another_process_published_is_not_taken_for_a_flap(
    stores: Stores, clock: FrozenClock
) -> None:
    """Each process coalesces what it changes; another process publishing in between must not
    make this one think others still see what it last told them."""
    priya, tom = uuid.uuid4(), uuid.uuid4()
    one = Process(await stores.process(), clock, {priya, tom})
    two = Process(await stores.process(), clock, {priya, tom})
    laptop, phone = Device(priya, "laptop"), Device(priya, "phone")
    await one.connect(laptop)
    clock.advance(seconds=5)
    await one.set_state(laptop, "busy")
    clock.advance(seconds=5)
    await two.set_state(phone, "in_session")
    clock.advance(seconds=5)
    await one.set_state(laptop, "online")  # hidden by the phone's session: nobody is told
    clock.advance(seconds=5)
    await two.disconnect(phone)  # the laptop's "online" shows now
    clock.advance(seconds=5)
    await one.set_state(laptop, "busy")  # one last told "busy" itself, but others heard since
    assert one.recorder.states_of(priya) == ["online", "busy", "busy"]
    assert two.recorder.states_of(priya) == ["in_session", "online"]
    assert (await one.store.get_many([priya]))[priya].state is BUSY


async def test_heartbeats_are_written_in_batches_and_before_the_timer_looks(
    stores: Stores, clock: FrozenClock
) -> None:
    priya, tom = uuid.uuid4(), uuid.uuid4()
    process = Process(await stores.process(), clock, {priya, tom})
    laptop, desk = Device(priya, "laptop"), Device(tom, "desk")
    await process.connect(laptop)
    await process.connect(desk)
    clock.advance(seconds=DEAD - 1)
    await process.heartbeat(laptop)
    await process.heartbeat(desk)
    waiting = await process.store.get_many([priya])
    assert waiting[priya].devices["laptop"].last_heartbeat == T0  # not written yet
    clock.advance(seconds=1)
    told = len(process.recorder.frames)  # both online, when they connected
    await process._tick()  # writes the waiting heartbeats first: nobody times out
    assert process.recorder.frames[told:] == []
    written = await process.store.get_many([priya, tom])
    assert written[priya].devices["laptop"].last_heartbeat == T0 + DEAD - 1
    assert written[tom].devices["desk"].last_heartbeat == T0 + DEAD - 1


async def test_a_heartbeat_brings_back_a_timed_out_device_unless_it_closed(
    stores: Stores, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    priya, tom = uuid.uuid4(), uuid.uuid4()
    one = Process(await stores.process(), clock, {priya, tom})
    two = Process(await stores.process(), clock, {priya, tom})
    laptop, desk = Device(priya, "laptop"), Device(tom, "desk")
    await one.connect(laptop)
    await one.connect(desk)
    clock.advance(seconds=DEAD)
    await two._tick()  # both timed out (their process looked slow, say)
    assert two.recorder.states_of(priya) == ["offline"]
    assert two.recorder.states_of(tom) == ["offline"]
    clock.advance(seconds=2)
    await one.heartbeat(laptop)
    await one.heartbeat(desk)
    await one.disconnect(desk)  # closed while its heartbeat waited: it stays gone
    await one.flush_heartbeats()
    seen = await one.store.get_many([priya, tom])
    assert set(seen[priya].devices) == {"laptop"} and seen[priya].state is ONLINE
    assert seen[tom].devices == {}
    # Closed while its batch was being written (the store's answer on its way): gone too.
    phone = Device(tom, "phone")
    await one.connect(phone)
    clock.advance(seconds=DEAD)
    await two._tick()
    await one.heartbeat(phone)
    refresh = one.store.refresh

    async def closing_meanwhile(beats: list[Beat]) -> list[Beat]:
        missing = await refresh(beats)
        await one.disconnect(phone)
        return missing

    monkeypatch.setattr(one.store, "refresh", closing_meanwhile)
    await one.flush_heartbeats()
    assert (await one.store.get_many([tom]))[tom].devices == {}


async def test_any_process_times_out_the_devices_of_one_that_died(
    stores: Stores, clock: FrozenClock
) -> None:
    priya, tom = uuid.uuid4(), uuid.uuid4()
    dead = Process(await stores.process(), clock, {priya, tom})
    alive = Process(await stores.process(), clock, {priya, tom})
    await dead.connect(Device(priya, "laptop"))
    await alive.connect(Device(tom, "desk"))
    clock.advance(seconds=DEAD - 1)
    await alive.heartbeat(Device(tom, "desk"))
    await alive._tick()
    assert alive.recorder.states_of(priya) == []
    clock.advance(seconds=1)
    await alive._tick()
    assert alive.recorder.frames[-1] == (
        {tom},
        {"type": "presence", "user_id": str(priya), "state": "offline", "last_seen": T0},
    )
    assert (await alive.store.get_many([tom]))[tom].state is ONLINE
