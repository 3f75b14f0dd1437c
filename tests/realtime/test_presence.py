"""Presence transitions and coalescing, with explicit times at every boundary."""

from __future__ import annotations

import uuid
from itertools import product
from typing import Any

import pytest

from realtime.presence import (
    DEAD_AFTER,
    HEARTBEAT_INTERVAL,
    IDLE_AFTER,
    MIN_PUBLISH_INTERVAL,
    Coalescer,
    DeviceState,
    InvalidDeviceState,
    PresenceState,
    PresenceTimings,
    UserPresence,
    aggregate,
    handle_activity,
    handle_connect,
    handle_disconnect,
    handle_heartbeat,
    handle_set,
    handle_timeout,
    next_timeout,
)
from tests.conftest import Live, Session
from tests.support.builders import client_id_of
from tests.support.ws import WsClient

ONLINE = PresenceState.ONLINE
AWAY = PresenceState.AWAY
BUSY = PresenceState.BUSY
IN_SESSION = PresenceState.IN_SESSION
OFFLINE = PresenceState.OFFLINE

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC, in epoch seconds
TIMINGS = PresenceTimings()


def device(
    state: PresenceState = ONLINE, active: float = T0, heartbeat: float | None = None
) -> DeviceState:
    return DeviceState(
        state, last_active=active, last_heartbeat=active if heartbeat is None else heartbeat
    )


def user(last_seen: float | None = T0, **devices: DeviceState) -> UserPresence:
    return UserPresence(devices=dict(devices), last_seen=last_seen)


# --- timings -----------------------------------------------------------------------------------


def test_default_timings_are_the_named_constants() -> None:
    assert (HEARTBEAT_INTERVAL, DEAD_AFTER, IDLE_AFTER) == (20.0, 60.0, 300.0)
    assert PresenceTimings(heartbeat_interval=20.0, dead_after=60.0, idle_after=300.0) == TIMINGS
    assert MIN_PUBLISH_INTERVAL == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heartbeat_interval": 0},
        {"idle_after": -1},
        {"dead_after": 20.0},  # must outlast at least one heartbeat interval
        {"dead_after": 10.0},
    ],
)
def test_timings_that_cannot_work_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PresenceTimings(**kwargs)


# --- aggregation -------------------------------------------------------------------------------

# Every unordered pair of device states and the one state others see; checked in both orders.
TWO_DEVICES = {
    (ONLINE, ONLINE): ONLINE,
    (ONLINE, AWAY): ONLINE,
    (ONLINE, BUSY): BUSY,
    (ONLINE, IN_SESSION): IN_SESSION,
    (AWAY, AWAY): AWAY,
    (AWAY, BUSY): BUSY,
    (AWAY, IN_SESSION): IN_SESSION,
    (BUSY, BUSY): BUSY,
    (BUSY, IN_SESSION): IN_SESSION,
    (IN_SESSION, IN_SESSION): IN_SESSION,
}


def test_the_two_device_table_covers_every_combination() -> None:
    device_states = [s for s in PresenceState if s is not OFFLINE]
    assert {frozenset(pair) for pair in product(device_states, repeat=2)} == {
        frozenset(pair) for pair in TWO_DEVICES
    }


@pytest.mark.parametrize(("pair", "expected"), TWO_DEVICES.items())
def test_two_devices_aggregate_by_priority(
    pair: tuple[PresenceState, PresenceState], expected: PresenceState
) -> None:
    first, second = pair
    assert aggregate({"a": device(first), "b": device(second)}) is expected
    assert aggregate({"a": device(second), "b": device(first)}) is expected


@pytest.mark.parametrize("state", [ONLINE, AWAY, BUSY, IN_SESSION])
def test_one_device_is_what_the_user_is(state: PresenceState) -> None:
    assert aggregate({"a": device(state)}) is state


def test_no_devices_is_offline() -> None:
    assert aggregate({}) is OFFLINE
    assert UserPresence().state is OFFLINE
    assert UserPresence().last_seen is None


def test_a_device_is_never_offline() -> None:
    with pytest.raises(InvalidDeviceState):
        DeviceState(OFFLINE, last_active=T0, last_heartbeat=T0)
    with pytest.raises(InvalidDeviceState):
        handle_set(user(phone=device()), "phone", OFFLINE, T0)


# --- connect and disconnect ----------------------------------------------------------------------


def test_first_device_connecting_brings_the_user_online() -> None:
    result = handle_connect(UserPresence(), "phone", T0)
    assert result.changed and (result.previous, result.current) == (OFFLINE, ONLINE)
    assert result.presence.devices == {"phone": device(ONLINE, T0)}
    assert result.presence.last_seen == T0


def test_transitions_leave_the_old_value_untouched() -> None:
    before = user(phone=device())
    handle_connect(before, "laptop", T0 + 1)
    handle_disconnect(before, "phone", T0 + 1)
    assert before == user(phone=device())


def test_second_device_connecting_is_not_a_visible_change() -> None:
    result = handle_connect(user(phone=device(BUSY)), "laptop", T0 + 5)
    assert not result.changed and result.current is BUSY
    assert set(result.presence.devices) == {"phone", "laptop"}


def test_reconnect_of_a_known_device_keeps_its_state() -> None:
    before = user(T0, laptop=device(IN_SESSION, T0))
    result = handle_connect(before, "laptop", T0 + 30)
    assert not result.changed
    assert result.presence.devices["laptop"] == device(IN_SESSION, T0, heartbeat=T0 + 30)
    assert result.presence.last_seen == T0  # a reconnect is not activity


def test_disconnecting_one_of_several_devices_keeps_the_others() -> None:
    before = user(T0, phone=device(AWAY), laptop=device(IN_SESSION))
    result = handle_disconnect(before, "laptop", T0 + 10)
    assert result.changed and (result.previous, result.current) == (IN_SESSION, AWAY)
    assert result.presence.devices == {"phone": device(AWAY)}
    assert result.presence.last_seen == T0  # someone is still here


def test_last_device_leaving_makes_the_user_offline_and_last_seen_now() -> None:
    result = handle_disconnect(user(T0, phone=device()), "phone", T0 + 42)
    assert result.changed and result.current is OFFLINE
    assert result.presence == UserPresence(devices={}, last_seen=T0 + 42)


def test_disconnect_of_an_unknown_device_changes_nothing() -> None:
    before = user(T0, phone=device())
    result = handle_disconnect(before, "tablet", T0 + 1)
    assert not result.changed and result.presence == before


# --- set, activity, heartbeat ------------------------------------------------------------------


def test_set_state_is_visible_and_counts_as_activity() -> None:
    result = handle_set(user(T0, phone=device(ONLINE, T0)), "phone", BUSY, T0 + 7)
    assert result.changed and (result.previous, result.current) == (ONLINE, BUSY)
    assert result.presence.devices["phone"] == device(BUSY, T0 + 7)
    assert result.presence.last_seen == T0 + 7


def test_set_on_an_outranked_device_is_not_a_visible_change() -> None:
    before = user(phone=device(ONLINE), laptop=device(IN_SESSION))
    result = handle_set(before, "phone", BUSY, T0 + 1)
    assert not result.changed and result.current is IN_SESSION


def test_set_from_an_unknown_device_adds_it() -> None:
    result = handle_set(UserPresence(), "phone", AWAY, T0)
    assert result.changed and result.current is AWAY
    assert result.presence.devices == {"phone": device(AWAY, T0)}


def test_activity_brings_an_away_device_back_online() -> None:
    before = user(T0, phone=device(AWAY, T0))
    result = handle_activity(before, "phone", T0 + 400)
    assert result.changed and (result.previous, result.current) == (AWAY, ONLINE)
    assert result.presence.devices["phone"] == device(ONLINE, T0 + 400)
    assert result.presence.last_seen == T0 + 400


@pytest.mark.parametrize("state", [ONLINE, BUSY, IN_SESSION])
def test_activity_keeps_a_chosen_state(state: PresenceState) -> None:
    result = handle_activity(user(T0, phone=device(state, T0)), "phone", T0 + 3)
    assert not result.changed
    assert result.presence.devices["phone"] == device(state, T0 + 3)
    assert result.presence.last_seen == T0 + 3


def test_activity_from_an_unknown_device_adds_it_online() -> None:
    result = handle_activity(UserPresence(), "phone", T0)
    assert result.changed and result.current is ONLINE


def test_heartbeat_keeps_a_device_alive_but_is_not_activity() -> None:
    before = user(T0, phone=device(AWAY, T0))
    result = handle_heartbeat(before, "phone", T0 + 20)
    assert not result.changed
    assert result.presence.devices["phone"] == device(AWAY, T0, heartbeat=T0 + 20)
    assert result.presence.last_seen == T0


def test_heartbeat_from_an_unknown_device_adds_it_without_touching_last_seen() -> None:
    result = handle_heartbeat(user(T0 - 100), "phone", T0)
    assert result.changed and result.current is ONLINE
    assert result.presence.last_seen == T0 - 100


def test_last_seen_never_moves_backwards() -> None:
    result = handle_activity(user(T0 + 50, phone=device()), "phone", T0)
    assert result.presence.last_seen == T0 + 50


# --- timeouts: idle ----------------------------------------------------------------------------
# The idle boundary is inclusive: an online device is away once it has been inactive for
# exactly idle_after seconds, and still online a moment before.


def test_online_device_is_still_online_just_before_idle_after() -> None:
    result = handle_timeout(
        user(phone=device(ONLINE, T0, heartbeat=T0 + 299)), T0 + 299.999, TIMINGS
    )
    assert not result.changed and result.current is ONLINE


def test_online_device_is_away_exactly_at_idle_after() -> None:
    before = user(phone=device(ONLINE, T0, heartbeat=T0 + 280))
    result = handle_timeout(before, T0 + IDLE_AFTER, TIMINGS)
    assert result.changed and (result.previous, result.current) == (ONLINE, AWAY)
    assert result.presence.devices["phone"] == device(AWAY, T0, heartbeat=T0 + 280)
    assert result.presence.last_seen == T0  # going idle is not activity


@pytest.mark.parametrize("state", [BUSY, IN_SESSION, AWAY])
def test_only_online_devices_go_idle(state: PresenceState) -> None:
    before = user(phone=device(state, T0, heartbeat=T0 + 3590))
    result = handle_timeout(before, T0 + 3600, TIMINGS)
    assert not result.changed and result.presence == before


def test_an_idle_device_under_an_active_one_is_not_a_visible_change() -> None:
    before = user(
        phone=device(ONLINE, T0, heartbeat=T0 + 290),
        laptop=device(ONLINE, T0 + 200, heartbeat=T0 + 290),
    )
    result = handle_timeout(before, T0 + 300, TIMINGS)
    assert not result.changed and result.current is ONLINE
    assert result.presence.devices["phone"].state is AWAY
    assert result.presence.devices["laptop"].state is ONLINE


def test_idle_after_is_configurable() -> None:
    timings = PresenceTimings(idle_after=30.0)
    before = user(phone=device(ONLINE, T0))
    assert not handle_timeout(before, T0 + 29.5, timings).changed
    assert handle_timeout(before, T0 + 30, timings).current is AWAY


# --- timeouts: dead connections ----------------------------------------------------------------
# The dead boundary is inclusive too: dead_after seconds without a heartbeat and it is gone.


def test_device_is_alive_just_before_dead_after() -> None:
    before = user(phone=device(BUSY, T0))
    result = handle_timeout(before, T0 + 59.999, TIMINGS)
    assert not result.changed and result.presence == before


def test_device_is_removed_exactly_at_dead_after() -> None:
    before = user(T0 - 5, phone=device(BUSY, T0 - 5, heartbeat=T0))
    result = handle_timeout(before, T0 + DEAD_AFTER, TIMINGS)
    assert result.changed and (result.previous, result.current) == (BUSY, OFFLINE)
    assert result.presence.devices == {}
    # Last seen when it was last known to be there, not when we noticed it was gone.
    assert result.presence.last_seen == T0


def test_heartbeats_every_interval_keep_a_device_alive_indefinitely() -> None:
    presence = user(phone=device(BUSY, T0))
    for beat in range(1, 20):
        now = T0 + beat * HEARTBEAT_INTERVAL
        presence = handle_timeout(presence, now, TIMINGS).presence
        presence = handle_heartbeat(presence, "phone", now).presence
    assert presence.state is BUSY


def test_dead_device_is_removed_and_the_others_stay() -> None:
    before = user(
        T0 + 10,
        phone=device(IN_SESSION, T0, heartbeat=T0),
        laptop=device(AWAY, T0, heartbeat=T0 + 10),
    )
    result = handle_timeout(before, T0 + 60, TIMINGS)
    assert result.changed and (result.previous, result.current) == (IN_SESSION, AWAY)
    assert set(result.presence.devices) == {"laptop"}
    assert result.presence.last_seen == T0 + 10


def test_all_devices_dead_last_seen_is_the_latest_heartbeat() -> None:
    before = user(
        T0,
        phone=device(ONLINE, T0, heartbeat=T0 + 15),
        laptop=device(ONLINE, T0, heartbeat=T0 + 5),
    )
    result = handle_timeout(before, T0 + 75, TIMINGS)
    assert result.current is OFFLINE and result.presence.last_seen == T0 + 15


def test_a_dead_and_idle_device_is_removed_not_made_away() -> None:
    before = user(phone=device(ONLINE, T0))
    result = handle_timeout(before, T0 + 1000, TIMINGS)
    assert result.presence.devices == {} and result.current is OFFLINE


def test_timeout_with_no_devices_changes_nothing() -> None:
    before = user(T0)
    result = handle_timeout(before, T0 + 10_000, TIMINGS)
    assert not result.changed and result.presence == before


def test_dead_after_is_configurable() -> None:
    timings = PresenceTimings(heartbeat_interval=5.0, dead_after=15.0)
    before = user(phone=device(ONLINE, T0))
    assert handle_timeout(before, T0 + 14.9, timings).current is ONLINE
    assert handle_timeout(before, T0 + 15, timings).current is OFFLINE


# --- next_timeout ------------------------------------------------------------------------------


def test_next_timeout_is_the_earliest_idle_or_dead_deadline() -> None:
    assert next_timeout(UserPresence(), TIMINGS) is None
    # Online: idle at active + 300 but dead at heartbeat + 60, whichever first.
    assert next_timeout(user(phone=device(ONLINE, T0, heartbeat=T0 + 250)), TIMINGS) == T0 + 300
    assert next_timeout(user(phone=device(ONLINE, T0, heartbeat=T0 + 200)), TIMINGS) == T0 + 260
    # Not online: only the dead deadline applies.
    assert next_timeout(user(phone=device(BUSY, T0, heartbeat=T0 + 250)), TIMINGS) == T0 + 310
    two = user(phone=device(AWAY, T0, heartbeat=T0 + 40), laptop=device(BUSY, T0 + 30))
    assert next_timeout(two, TIMINGS) == T0 + 90


@pytest.mark.parametrize(
    "presence",
    [
        user(phone=device(ONLINE, T0, heartbeat=T0 + 250)),
        user(phone=device(ONLINE, T0, heartbeat=T0 + 200)),
        user(phone=device(IN_SESSION, T0), laptop=device(AWAY, T0 + 20)),
    ],
)
def test_nothing_happens_before_next_timeout_and_something_does_at_it(
    presence: UserPresence,
) -> None:
    deadline = next_timeout(presence, TIMINGS)
    assert deadline is not None
    assert handle_timeout(presence, deadline - 0.001, TIMINGS).presence == presence
    assert handle_timeout(presence, deadline, TIMINGS).presence != presence


# --- coalescer ---------------------------------------------------------------------------------


def test_first_change_is_published_immediately() -> None:
    coalescer = Coalescer()
    assert coalescer.offer("u1", ONLINE, T0) is ONLINE
    assert coalescer.due(T0 + 100) == []


def test_second_change_within_the_interval_is_deferred_until_exactly_the_interval() -> None:
    coalescer = Coalescer(min_interval=1.0)
    assert coalescer.offer("u1", ONLINE, T0) is ONLINE
    assert coalescer.offer("u1", BUSY, T0 + 0.25) is None
    assert coalescer.next_due() == T0 + 1.0
    assert coalescer.due(T0 + 0.999) == []
    assert coalescer.due(T0 + 1.0) == [("u1", BUSY)]
    assert coalescer.due(T0 + 2.0) == []
    assert coalescer.next_due() is None


def test_a_change_exactly_at_the_interval_is_published_immediately() -> None:
    coalescer = Coalescer(min_interval=1.0)
    coalescer.offer("u1", ONLINE, T0)
    assert coalescer.offer("u1", AWAY, T0 + 1.0) is AWAY


def test_the_interval_restarts_from_each_publication() -> None:
    coalescer = Coalescer(min_interval=1.0)
    coalescer.offer("u1", ONLINE, T0)
    coalescer.offer("u1", BUSY, T0 + 0.5)
    assert coalescer.due(T0 + 1.5) == [("u1", BUSY)]  # released late, at T0 + 1.5
    assert coalescer.offer("u1", IN_SESSION, T0 + 2.0) is None
    assert coalescer.due(T0 + 2.499) == []
    assert coalescer.due(T0 + 2.5) == [("u1", IN_SESSION)]


def test_latest_pending_state_wins() -> None:
    coalescer = Coalescer()
    coalescer.offer("u1", ONLINE, T0)
    for offset, state in [(0.1, AWAY), (0.2, BUSY), (0.3, IN_SESSION)]:
        assert coalescer.offer("u1", state, T0 + offset) is None
    assert coalescer.due(T0 + 1) == [("u1", IN_SESSION)]


def test_flapping_back_to_the_published_state_publishes_nothing() -> None:
    coalescer = Coalescer()
    assert coalescer.offer("u1", ONLINE, T0) is ONLINE
    assert coalescer.offer("u1", AWAY, T0 + 0.2) is None
    assert coalescer.offer("u1", ONLINE, T0 + 0.4) is None
    assert coalescer.due(T0 + 1) == []
    # The interval since the last real publication has passed: the next change goes at once.
    assert coalescer.offer("u1", AWAY, T0 + 1.2) is AWAY


def test_while_a_change_is_held_back_the_published_state_is_what_is_shown() -> None:
    coalescer = Coalescer()
    assert coalescer.shown("u1", OFFLINE) is OFFLINE
    coalescer.offer("u1", ONLINE, T0)
    assert coalescer.shown("u1", ONLINE) is ONLINE  # published: the current state is shown
    coalescer.offer("u1", OFFLINE, T0 + 0.2)  # held back
    assert coalescer.shown("u1", OFFLINE) is ONLINE
    # Another process changed the user since: what it published stands.
    assert coalescer.shown("u1", BUSY) is BUSY
    coalescer.offer("u1", ONLINE, T0 + 0.4)  # flaps back: never published
    assert coalescer.due(T0 + 1) == []
    assert coalescer.shown("u1", ONLINE) is ONLINE


def test_offering_the_published_state_again_is_no_change() -> None:
    coalescer = Coalescer()
    coalescer.offer("u1", ONLINE, T0)
    assert coalescer.offer("u1", ONLINE, T0 + 5) is None
    assert coalescer.due(T0 + 10) == []


def test_users_are_rate_limited_independently() -> None:
    coalescer = Coalescer()
    assert coalescer.offer("u1", ONLINE, T0) is ONLINE
    assert coalescer.offer("u2", ONLINE, T0 + 0.1) is ONLINE
    assert coalescer.offer("u1", AWAY, T0 + 0.2) is None
    assert coalescer.offer("u2", BUSY, T0 + 0.3) is None
    assert coalescer.due(T0 + 1.0) == [("u1", AWAY)]
    assert coalescer.due(T0 + 1.1) == [("u2", BUSY)]


def test_due_releases_several_users_oldest_deadline_first() -> None:
    coalescer = Coalescer()
    for index, user_id in enumerate(["c", "a", "b"]):
        coalescer.offer(user_id, ONLINE, T0 + index * 0.1)
        coalescer.offer(user_id, AWAY, T0 + 0.5)
    assert coalescer.due(T0 + 5) == [("c", AWAY), ("a", AWAY), ("b", AWAY)]


def test_min_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer(min_interval=0)


class CountingDict(dict[str, tuple[PresenceState, float]]):
    """Counts reads, to show which users an operation touched."""

    reads = 0

    def __getitem__(self, key: str) -> tuple[PresenceState, float]:
        self.reads += 1
        return super().__getitem__(key)

    def get(self, key: str, default=None):
        self.reads += 1
        return super().get(key, default)


def test_due_touches_only_pending_users_however_many_users_exist() -> None:
    coalescer = Coalescer()
    for index in range(10_000):
        assert coalescer.offer(f"user-{index}", ONLINE, T0) is ONLINE
    coalescer.offer("user-42", BUSY, T0 + 0.5)

    assert len(coalescer._pending) == 1 and len(coalescer._deadlines) == 1
    counting = CountingDict(coalescer._published)
    coalescer._published = counting

    assert coalescer.due(T0 + 0.9) == []
    assert counting.reads == 0  # nothing due: not one user looked at
    assert coalescer.due(T0 + 1.0) == [("user-42", BUSY)]
    assert counting.reads == 1
    assert len(coalescer._pending) == 0 and len(coalescer._deadlines) == 0


def test_offer_touches_only_the_offering_user() -> None:
    coalescer = Coalescer()
    for index in range(10_000):
        coalescer.offer(f"user-{index}", ONLINE, T0)
    counting = CountingDict(coalescer._published)
    coalescer._published = counting
    assert coalescer.offer("user-7", AWAY, T0 + 2) is AWAY
    assert counting.reads == 1


# --- who is told: the audience rule (auth/policies/messaging.py `contacts`) on a real server --


async def test_presence_reaches_only_those_entitled(live_sqlite: Live) -> None:
    """Staff see colleagues who share a team or a care team, a client only their own care team;
    a colleague with neither sees nobody and is told of nobody, in the snapshot or live."""
    email = f"presence-outsider-{uuid.uuid4().hex[:6]}@tyneside.example"
    made = live_sqlite.new_account(email, "Oona Outside", "therapist")
    outsider_id = made["id"]

    async def connect(session: Session) -> WsClient:
        client = await WsClient.connect(live_sqlite.base_url, session.tokens["access_token"])
        await client.wait_type("ready")
        return client

    priya_session = live_sqlite.as_role("peer_keyworker")
    alex_session = live_sqlite.as_role("client")
    outsider = await connect(live_sqlite.sign_in(email))
    tom = await connect(live_sqlite.as_role("therapist"))
    alex = await connect(alex_session)
    priya = await connect(priya_session)
    try:
        snapshots = {
            name: next(f for f in c.frames if f["type"] == "presence.snapshot")["presences"]
            for name, c in (("outsider", outsider), ("alex", alex), ("tom", tom))
        }
        assert snapshots["outsider"] == []
        alex_record = client_id_of(live_sqlite, "Alex Morgan")
        care_team = {
            m["user_id"]
            for m in priya_session.get(f"/api/v1/clients/{alex_record}/care-team").json()
        }
        assert {p["user_id"] for p in snapshots["alex"]} == care_team
        assert outsider_id not in {p["user_id"] for p in snapshots["tom"]}

        # Priya's change reaches Tom (a colleague) and Alex (her client) ...
        priya_id = priya_session.user["id"]
        await priya.request({"type": "presence.set", "state": "busy"})

        def busy(f: dict[str, Any]) -> bool:
            return f.get("type") == "presence" and f["user_id"] == priya_id and f["state"] == "busy"

        await tom.wait_for(busy)
        await alex.wait_for(busy)
        # ... and not the outsider: published in the same go as Tom's, so anything for the
        # outsider would be on their socket before the answer to this ping.
        await outsider.request({"type": "ping"})
        assert not [f for f in outsider.frames if f.get("type") == "presence"], outsider.frames
        # Nor does the outsider's own change reach anyone: Tom and Alex hear of Priya again
        # after it, and never of the outsider.
        await outsider.request({"type": "presence.set", "state": "busy"})
        await priya.request({"type": "presence.set", "state": "online"})
        for watcher in (tom, alex):
            await watcher.wait_for(
                lambda f: (
                    f.get("type") == "presence"
                    and f["user_id"] == priya_id
                    and f["state"] == "online"
                )
            )
            assert not [f for f in watcher.frames if f.get("user_id") == outsider_id], (
                watcher.frames
            )
    finally:
        for client in (outsider, tom, alex, priya):
            await client.close()
