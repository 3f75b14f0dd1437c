"""Who is told of what, by which channels and when: pure rules, the clock given (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.notifications.models import Channel, Kind
from app.users.models import CLINICAL_ROLES, Role

DEFAULT_TIME_ZONE = "Europe/London"
# Quiet hours a person has until they choose others: nothing but urgent alerts at night.
DEFAULT_QUIET_START = "21:00"
DEFAULT_QUIET_END = "08:00"
CHANNEL_ORDER = (Channel.email, Channel.push, Channel.sms)

Choices = Mapping[tuple[Kind, Channel], bool]


def is_clinician(role: Role) -> bool:
    return role in CLINICAL_ROLES


def default_enabled(role: Role, kind: Kind, channel: Channel) -> bool:
    """Email and push for everything; SMS (a number must be given first) for urgent alerts
    only, where it matters that a clinician away from a screen hears at once."""
    if channel == Channel.sms:
        return kind == Kind.urgent_alerts and is_clinician(role)
    return True


def effective(role: Role, stored: Choices) -> dict[tuple[Kind, Channel], bool]:
    """Every kind and channel: what the person chose, else the default."""
    return {
        (kind, channel): stored.get((kind, channel), default_enabled(role, kind, channel))
        for kind in Kind
        for channel in CHANNEL_ORDER
    }


def urgent_reach_kept(role: Role, choices: Choices) -> bool:
    """A clinician cannot switch urgent alerts off entirely: some channel stays on."""
    if not is_clinician(role):
        return True
    return any(choices.get((Kind.urgent_alerts, channel), False) for channel in CHANNEL_ORDER)


def channels_for(
    role: Role, kind: Kind, choices: Choices, available: Iterable[Channel]
) -> list[Channel]:
    """The channels a notice of ``kind`` goes by: those chosen that the person can be reached
    on (``available``: an address that has not bounced, a push subscription, an SMS number).
    An urgent alert to a clinician whose chosen channels all fail them goes by every channel
    they can be reached on: it always reaches them while any way does."""
    can = set(available)
    chosen = [c for c in CHANNEL_ORDER if choices.get((kind, c), False) and c in can]
    if not chosen and kind == Kind.urgent_alerts and is_clinician(role):
        return [c for c in CHANNEL_ORDER if c in can]
    return chosen


def parse_clock_time(text: str) -> time:
    """ "HH:MM", 00:00 to 23:59."""
    hours, _, minutes = text.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    return time(int(hours), int(minutes))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not a time zone: {name!r}") from exc


@dataclass(frozen=True)
class QuietHours:
    """From ``start`` to ``end`` local time each day; across midnight when end <= start."""

    start: time
    end: time
    time_zone: str

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours that ``now`` falls in end (UTC), or None when not in them."""
        tz = zone(self.time_zone)
        local = now.astimezone(tz)
        today = local.date()
        candidates = []
        for day in (today - timedelta(days=1), today):
            begins = _local(day, self.start, tz)
            end_day = day if self.end > self.start else day + timedelta(days=1)
            ends = _local(end_day, self.end, tz)
            if begins <= now < ends:
                candidates.append(ends)
        return max(candidates).astimezone(UTC) if candidates else None


def _local(day: object, at: time, tz: ZoneInfo) -> datetime:
    # A wall-clock time skipped or repeated by a clock change resolves as ZoneInfo resolves it
    # (fold=0): a quiet hour may then last an hour more or less, never a day.
    return datetime.combine(day, at, tzinfo=tz)  # type: ignore[arg-type]


def first_attempt(kind: Kind, now: datetime, quiet: QuietHours | None) -> datetime:
    """Urgent alerts go at once; anything else waits for the end of the person's quiet hours."""
    if kind == Kind.urgent_alerts or quiet is None:
        return now
    return quiet.quiet_until(now) or now


def retry_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """After the ``attempts``-th failed attempt: base, then doubling, at most max."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))
