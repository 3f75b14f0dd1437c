"""Presence as pure domain logic: per-device states, one visible state per user, coalescing.

Nothing here does I/O, reads a clock or knows about sockets. Every function takes the time as
``now: float``, seconds since the Unix epoch (the gateway passes ``clock.now().timestamp()``), so
``last_seen`` is a real wall-clock instant and tests move time by passing numbers. The values are
immutable: transitions return a new :class:`UserPresence` and leave the old one untouched.

The shape follows Synapse's ``handlers/presence.py`` (pure ``handle_*`` transitions driven by a
thin async loop, named timeouts) and avoids what made its presence run away on large servers:

* Cost is proportional to what changed, never to how many users exist. :func:`next_timeout` says
  when a user next needs :func:`handle_timeout`, so the loop keeps a heap of deadlines instead of
  sweeping every user each tick; :class:`Coalescer` keeps its own heap of pending publications.
* Each user's changes are coalesced and rate-limited (:class:`Coalescer`) before fan-out, so a
  flapping client costs at most one publication per interval, and often none.
* Who may see whose presence is decided by the policies elsewhere; this module only knows ids.

Boundaries are inclusive: a device is idle once ``now - last_active >= idle_after`` and dead once
``now - last_heartbeat >= dead_after``; the coalescer may publish again once
``now - published_at >= min_interval``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from enum import StrEnum

HEARTBEAT_INTERVAL = 20.0
"""Seconds between a client's heartbeats."""
DEAD_AFTER = 60.0
"""Seconds without a heartbeat after which a device is gone: three missed heartbeats."""
IDLE_AFTER = 300.0
"""Seconds without activity after which an online device becomes away."""
MIN_PUBLISH_INTERVAL = 1.0
"""Seconds between two published presence changes of one user."""


class PresenceState(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    BUSY = "busy"
    IN_SESSION = "in_session"
    OFFLINE = "offline"


DEVICE_STATES = frozenset(
    {PresenceState.ONLINE, PresenceState.AWAY, PresenceState.BUSY, PresenceState.IN_SESSION}
)
"""What a device may report. A device is never offline: it disconnects or times out instead."""

# Highest wins when a user's devices disagree. Being in a session with a client is
# do-not-disturb whatever the other devices say: an idle laptop must not make a clinician on a
# call look available. An explicit "busy" likewise outranks a merely open app. Any device in
# use (online) outranks one left idle (away): the person is at a screen. No devices: offline.
_PRIORITY: dict[PresenceState, int] = {
    PresenceState.IN_SESSION: 4,
    PresenceState.BUSY: 3,
    PresenceState.ONLINE: 2,
    PresenceState.AWAY: 1,
}


class InvalidDeviceState(ValueError):
    """A device reported a state devices cannot have (``offline``)."""


@dataclass(frozen=True, slots=True)
class PresenceTimings:
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    dead_after: float = DEAD_AFTER
    idle_after: float = IDLE_AFTER

    def __post_init__(self) -> None:
        if min(self.heartbeat_interval, self.dead_after, self.idle_after) <= 0:
            raise ValueError("presence timings must be positive")
        if self.dead_after <= self.heartbeat_interval:
            raise ValueError("dead_after must be longer than the heartbeat interval")


@dataclass(frozen=True, slots=True)
class DeviceState:
    state: PresenceState
    last_active: float
    last_heartbeat: float

    def __post_init__(self) -> None:
        if self.state not in DEVICE_STATES:
            raise InvalidDeviceState(f"a device cannot be {self.state!s}")


@dataclass(frozen=True, slots=True)
class UserPresence:
    """One user's connected devices. Treat ``devices`` as read-only; transitions copy it."""

    devices: dict[str, DeviceState] = field(default_factory=dict)
    last_seen: float | None = None

    @property
    def state(self) -> PresenceState:
        return aggregate(self.devices)


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of a transition: the new presence and the visible state before and after."""

    presence: UserPresence
    previous: PresenceState
    current: PresenceState

    @property
    def changed(self) -> bool:
        """Whether others should hear about it (the aggregate moved)."""
        return self.previous != self.current


def aggregate(devices: dict[str, DeviceState]) -> PresenceState:
    """The one state others see for a user with these devices."""
    if not devices:
        return PresenceState.OFFLINE
    return max((device.state for device in devices.values()), key=_PRIORITY.__getitem__)


def _transition(
    before: UserPresence, devices: dict[str, DeviceState], last_seen: float | None
) -> Transition:
    after = UserPresence(devices=devices, last_seen=last_seen)
    return Transition(presence=after, previous=before.state, current=after.state)


def _seen(last_seen: float | None, at: float) -> float:
    """``last_seen`` never moves backwards, even if events arrive out of order."""
    return at if last_seen is None else max(last_seen, at)


def handle_connect(user: UserPresence, device_id: str, now: float) -> Transition:
    """A device connected. A new device starts online and counts as activity.

    A device that is already known (a reconnect after a network blip) keeps its state, so a
    clinician in a session stays in it; the connection only proves it is alive.
    """
    current = user.devices.get(device_id)
    if current is not None:
        return handle_heartbeat(user, device_id, now)
    device = DeviceState(PresenceState.ONLINE, last_active=now, last_heartbeat=now)
    return _transition(user, {**user.devices, device_id: device}, _seen(user.last_seen, now))


def handle_disconnect(user: UserPresence, device_id: str, now: float) -> Transition:
    """A device closed its connection. When the last one goes, the user was last seen now."""
    if device_id not in user.devices:
        return _transition(user, user.devices, user.last_seen)
    devices = {key: value for key, value in user.devices.items() if key != device_id}
    last_seen = user.last_seen if devices else _seen(user.last_seen, now)
    return _transition(user, devices, last_seen)


def handle_set(user: UserPresence, device_id: str, state: PresenceState, now: float) -> Transition:
    """The person chose a state on this device (a user action, so also activity).

    An unknown device is taken as (re)connected: a message on a live connection proves it is
    there, even if a timeout removed it a moment earlier.
    """
    if state not in DEVICE_STATES:
        raise InvalidDeviceState(f"a device cannot be {state!s}")
    device = DeviceState(state, last_active=now, last_heartbeat=now)
    return _transition(user, {**user.devices, device_id: device}, _seen(user.last_seen, now))


def handle_activity(user: UserPresence, device_id: str, now: float) -> Transition:
    """The person did something on this device: an away device is online again.

    Busy and in-session are kept: they are chosen, not inferred from idleness. An unknown device
    is taken as (re)connected, as in :func:`handle_set`.
    """
    current = user.devices.get(device_id)
    if current is None or current.state is PresenceState.AWAY:
        state = PresenceState.ONLINE
    else:
        state = current.state
    device = DeviceState(state, last_active=now, last_heartbeat=now)
    return _transition(user, {**user.devices, device_id: device}, _seen(user.last_seen, now))


def handle_heartbeat(user: UserPresence, device_id: str, now: float) -> Transition:
    """The device's connection is alive. Not activity: clients send heartbeats unattended.

    An unknown device is taken as reconnected and starts online, without counting as activity
    for ``last_seen``.
    """
    current = user.devices.get(device_id)
    if current is None:
        device = DeviceState(PresenceState.ONLINE, last_active=now, last_heartbeat=now)
    else:
        device = replace(current, last_heartbeat=now)
    return _transition(user, {**user.devices, device_id: device}, user.last_seen)


def handle_timeout(user: UserPresence, now: float, timings: PresenceTimings) -> Transition:
    """Remove dead devices, then turn idle online devices away.

    A device is dead once it has sent no heartbeat for ``dead_after`` seconds (a crashed client,
    or a server process that died holding its connection). If that leaves no devices, the user
    was last seen at the dead device's last heartbeat, the last moment it was known to be there.
    """
    devices: dict[str, DeviceState] = {}
    last_gone: float | None = None
    for device_id, device in user.devices.items():
        if now - device.last_heartbeat >= timings.dead_after:
            last_gone = _seen(last_gone, device.last_heartbeat)
            continue
        if device.state is PresenceState.ONLINE and now - device.last_active >= timings.idle_after:
            device = replace(device, state=PresenceState.AWAY)
        devices[device_id] = device
    last_seen = user.last_seen
    if not devices and last_gone is not None:
        last_seen = _seen(last_seen, last_gone)
    return _transition(user, devices, last_seen)


def next_timeout(user: UserPresence, timings: PresenceTimings) -> float | None:
    """The earliest time at which :func:`handle_timeout` would change this user, if ever.

    The timeout loop keeps these in a heap and wakes only the users that are due, so its cost
    follows the number of connected devices that change, not the number of users.
    """
    deadlines: list[float] = []
    for device in user.devices.values():
        deadlines.append(device.last_heartbeat + timings.dead_after)
        if device.state is PresenceState.ONLINE:
            deadlines.append(device.last_active + timings.idle_after)
    return min(deadlines, default=None)


class Coalescer:
    """Per user, at most one published presence change per ``min_interval`` seconds.

    :meth:`offer` publishes at once when the user's interval has passed; otherwise it keeps the
    state as pending (the latest offer wins) and :meth:`due` releases it when the interval is up.
    A pending state that ends where the last publication was (online → away → online within the
    window) is dropped, so flapping publishes nothing.

    Cost: pending users are kept in a heap of ``(deadline, user_id)`` with exactly one entry per
    pending user, so :meth:`due` is O(k log p) for k released of p pending, and :meth:`offer` is
    O(log p). Users with nothing pending are never visited, however many there are.
    """

    def __init__(self, min_interval: float = MIN_PUBLISH_INTERVAL) -> None:
        if min_interval <= 0:
            raise ValueError("min_interval must be positive")
        self.min_interval = min_interval
        self._published: dict[str, tuple[PresenceState, float]] = {}
        self._pending: dict[str, PresenceState] = {}
        self._deadlines: list[tuple[float, str]] = []

    def offer(self, user_id: str, state: PresenceState, now: float) -> PresenceState | None:
        """The state to publish now, or None if it was deferred (or is no change at all)."""
        if user_id in self._pending:
            self._pending[user_id] = state  # already scheduled; latest wins
            return None
        published = self._published.get(user_id)
        if published is not None and published[0] == state:
            return None
        if published is None or now - published[1] >= self.min_interval:
            self._published[user_id] = (state, now)
            return state
        self._pending[user_id] = state
        heapq.heappush(self._deadlines, (published[1] + self.min_interval, user_id))
        return None

    def due(self, now: float) -> list[tuple[str, PresenceState]]:
        """Pending states whose interval has passed by ``now``, to publish now, oldest first."""
        released: list[tuple[str, PresenceState]] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, user_id = heapq.heappop(self._deadlines)
            state = self._pending.pop(user_id)
            if self._published[user_id][0] == state:
                continue  # flapped back to what others already see
            self._published[user_id] = (state, now)
            released.append((user_id, state))
        return released

    def shown(self, user_id: str, current: PresenceState) -> PresenceState:
        """What a snapshot must say of a user whose visible state is ``current``: while a change
        of theirs made here is held back, the state everyone was last told, since a held-back
        change that flaps back is never published and whoever was shown it would keep it. When
        ``current`` is not the change held back here, another process changed the user since
        (and published it): ``current`` stands."""
        if self._pending.get(user_id) != current:
            return current
        return self._published[user_id][0]

    def next_due(self) -> float | None:
        """When :meth:`due` next has work (the loop sleeps until then); None if nothing pends."""
        return self._deadlines[0][0] if self._deadlines else None
