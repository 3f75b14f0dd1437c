"""When an urgent alert escalates: a pure rule, the clock given."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def escalation_due(
    *, raised_at: datetime, acknowledged: Iterable[datetime | None], now: datetime, after: timedelta
) -> bool:
    """An urgent alert escalates when ``after`` has passed since it was raised and none of its
    recipients has acknowledged it: one acknowledgement means someone is acting on it."""
    if any(at is not None for at in acknowledged):
        return False
    return now >= raised_at + after
