"""Pure timing rules of the job runner: backoff between attempts and recurring slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def backoff(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """How long to wait before the next attempt after ``attempts`` failed ones: ``base``,
    doubling each time (base, 2 base, 4 base, ...), never more than ``max_seconds``."""
    if attempts < 1:
        raise ValueError("backoff follows a failed attempt: attempts is at least 1")
    # The exponent is capped so a long run of failures cannot overflow a float.
    seconds = base_seconds * 2 ** min(attempts - 1, 60)
    return timedelta(seconds=min(seconds, max_seconds))


def slot(now: datetime, every: timedelta) -> datetime:
    """The start of the recurring slot ``now`` falls in: slots of length ``every`` counted from
    a fixed epoch, so every process computes the same slot (and the same job key)."""
    if every <= timedelta(0):
        raise ValueError("a recurring job's period is positive")
    return EPOCH + ((now - EPOCH) // every) * every


def recurring_key(kind: str, due: datetime) -> str:
    """The unique key of a recurring job's run in one slot."""
    return f"{kind}@{due.astimezone(UTC).isoformat()}"
