"""Supervision and team-wellbeing rules: pure functions, no clock, database or environment.

The caller passes ``now``/``today`` (from the injected ``app.clock.Clock``) so every rule is tested
at its boundaries without sleeping.

Sources and decisions:

* Wellbeing check-ins — a Teamwell instrument, not a published scale: mood, workload, stress and
  support, each an integer on a fixed 1-5 scale, plus "I'd like to talk" and optional free text.
  DOMAIN.md: the supervisor "watches team wellbeing"; staff wellbeing is a programme outcome.
* Team aggregates never expose one person: every figure (the means *and* the head-count) is
  withheld when fewer than ``min_people`` answered. The floor is 3 and cannot be lowered: with two
  answerers each could subtract their own answers and read the other's.
* Supervision — due ``cadence_days`` after the last session (or after the worker started, when
  there has been none); on time on the due day, overdue from the day after (the same convention as
  ``app.ips.rules``).
* IPS-25 fidelity scale (DOMAIN.md) — 25 items each scored 1-5, total 25-125:
  115-125 exemplary, 100-114 good, 74-99 fair, 73 or less not IPS.
* Small-number suppression for exported figures — NHS publications withhold small counts (1-2 or
  1-4 depending on the publication) so that no individual can be picked out. Here ``threshold`` is
  the first count that is shown. Zero is shown as 0 (a decision): a true zero describes nobody,
  so withholding it protects no one and would hide the "none" that reports most need to show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal, TypeVar

PersonId = TypeVar("PersonId")
FidelityBand = Literal["exemplary", "good", "fair", "not_ips"]

# --- settings --------------------------------------------------------------------------------

CHECK_IN_MIN: Final = 1
CHECK_IN_MAX: Final = 5
"""Every check-in measure is an integer on a fixed 1-5 scale."""

CHECK_IN_MEASURES: Final = ("mood", "workload", "stress", "support")

MIN_PEOPLE_FLOOR: Final = 3
"""Fewest answerers an aggregate may ever show; ``min_people`` may be raised, never lowered."""

SUPPRESSION_THRESHOLD: Final = 3
"""Default first count shown in exported figures (counts 1-2 are withheld)."""

FIDELITY_ITEM_MIN: Final = 1
FIDELITY_ITEM_MAX: Final = 5

FIDELITY_ITEMS: Final[tuple[str, ...]] = (
    "caseload size",
    "employment services staff",
    "vocational generalists",
    "integration with mental health treatment through team assignment",
    "integration through frequent team contact",
    "collaboration with vocational rehabilitation",
    "vocational unit",
    "role of employment supervisor",
    "zero exclusion",
    "agency focus on competitive employment",
    "executive team support",
    "work incentives planning",
    "disclosure",
    "ongoing work-based assessment",
    "rapid job search",
    "individualised job search",
    "job development - frequent employer contact",
    "job development - quality of employer contact",
    "diversity of job types",
    "diversity of employers",
    "competitive jobs",
    "individualised follow-along supports",
    "time-unlimited follow-along supports",
    "community-based services",
    "assertive engagement and outreach",
)
"""The 25 IPS-25 items in scale order (DOMAIN.md). In the UK, "collaboration with vocational
rehabilitation" means Jobcentre Plus/DWP; "work incentives planning" means benefits planning."""

FIDELITY_TOTAL_MIN: Final = FIDELITY_ITEM_MIN * len(FIDELITY_ITEMS)  # 25
FIDELITY_TOTAL_MAX: Final = FIDELITY_ITEM_MAX * len(FIDELITY_ITEMS)  # 125
FIDELITY_EXEMPLARY_FROM: Final = 115
FIDELITY_GOOD_FROM: Final = 100
FIDELITY_FAIR_FROM: Final = 74


# --- errors ----------------------------------------------------------------------------------


class InvalidCheckIn(ValueError):
    """A wellbeing check-in with a measure off the 1-5 scale or a malformed field."""


class InvalidFidelityReview(ValueError):
    """An IPS-25 review with a missing or unknown item, a score off 1-5, or an impossible total."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_cadence(cadence_days: int) -> None:
    if not _is_int(cadence_days) or cadence_days < 1:
        raise ValueError("cadence_days must be a whole number of days, at least 1")


# --- wellbeing check-ins ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckIn:
    """One staff member's wellbeing check-in. Measures are integers 1-5; ``at`` is tz-aware."""

    mood: int
    workload: int
    stress: int
    support: int
    wants_to_talk: bool
    text: str | None
    at: datetime

    def __post_init__(self) -> None:
        for name in CHECK_IN_MEASURES:
            value = getattr(self, name)
            if not _is_int(value) or not CHECK_IN_MIN <= value <= CHECK_IN_MAX:
                raise InvalidCheckIn(
                    f"{name} must be a whole number {CHECK_IN_MIN}-{CHECK_IN_MAX}, got {value!r}"
                )
        if not isinstance(self.wants_to_talk, bool):
            raise InvalidCheckIn("wants_to_talk must be true or false")
        if self.text is not None and not isinstance(self.text, str):
            raise InvalidCheckIn("text must be a string or absent")
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise InvalidCheckIn("at must be a timezone-aware datetime")


def next_prompt_due(
    last_check_in_at: datetime | None, cadence_days: int, now: datetime
) -> datetime:
    """When the next check-in prompt is due: ``cadence_days`` after the last one, or ``now``
    when the person has never checked in."""
    _require_cadence(cadence_days)
    if last_check_in_at is None:
        return now
    return last_check_in_at + timedelta(days=cadence_days)


def check_in_due(last_check_in_at: datetime | None, cadence_days: int, now: datetime) -> bool:
    """True from the instant the next prompt is due (inclusive)."""
    return now >= next_prompt_due(last_check_in_at, cadence_days, now)


# --- team aggregates -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Team wellbeing over ``[period_start, period_end)``. When ``suppressed`` every figure,
    including the head-count, is None."""

    period_start: datetime
    period_end: datetime
    suppressed: bool
    people: int | None
    mood: float | None
    workload: float | None
    stress: float | None
    support: float | None


def _mean_1dp(values: Sequence[int]) -> float:
    """Mean rounded half-up to one decimal (2.25 -> 2.3), exact for these small integers."""
    mean = Decimal(sum(values)) / Decimal(len(values))
    return float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def team_aggregate(
    check_ins_by_person: Mapping[PersonId, Sequence[CheckIn]],
    *,
    period_start: datetime,
    period_end: datetime,
    min_people: int = MIN_PEOPLE_FLOOR,
) -> Aggregate:
    """Means (one decimal) of each measure over each person's latest check-in in the half-open
    period ``[period_start, period_end)``, and the number of people who answered.

    Only the latest check-in per person counts, so frequent answerers do not weigh more. When
    fewer than ``min_people`` answered, every figure is None and ``suppressed`` is True.
    ``min_people`` below ``MIN_PEOPLE_FLOOR`` (3) is refused.
    """
    _require_aware(period_start, "period_start")
    _require_aware(period_end, "period_end")
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    if not _is_int(min_people) or min_people < MIN_PEOPLE_FLOOR:
        raise ValueError(f"min_people must be at least {MIN_PEOPLE_FLOOR}")

    latest: list[CheckIn] = []
    for check_ins in check_ins_by_person.values():
        in_period = [c for c in check_ins if period_start <= c.at < period_end]
        if in_period:
            latest.append(max(in_period, key=lambda c: c.at))

    if len(latest) < min_people:
        return Aggregate(period_start, period_end, True, None, None, None, None, None)
    return Aggregate(
        period_start,
        period_end,
        suppressed=False,
        people=len(latest),
        mood=_mean_1dp([c.mood for c in latest]),
        workload=_mean_1dp([c.workload for c in latest]),
        stress=_mean_1dp([c.stress for c in latest]),
        support=_mean_1dp([c.support for c in latest]),
    )


def weekly_series(
    check_ins_by_person: Mapping[PersonId, Sequence[CheckIn]],
    *,
    first_day: date,
    last_day: date,
    tz: tzinfo = UTC,
    min_people: int = MIN_PEOPLE_FLOOR,
) -> list[Aggregate]:
    """One :func:`team_aggregate` per ISO week (Monday 00:00 to the next Monday 00:00 in ``tz``),
    covering every week from the one holding ``first_day`` to the one holding ``last_day``.

    Each week is suppressed on its own terms; ``period_start.isocalendar()`` names the week.
    """
    if last_day < first_day:
        raise ValueError("last_day must not be before first_day")
    monday = first_day - timedelta(days=first_day.weekday())
    series = []
    while monday <= last_day:
        next_monday = monday + timedelta(days=7)
        series.append(
            team_aggregate(
                check_ins_by_person,
                period_start=datetime.combine(monday, time(), tz),
                period_end=datetime.combine(next_monday, time(), tz),
                min_people=min_people,
            )
        )
        monday = next_monday
    return series


# --- supervision -----------------------------------------------------------------------------


def supervision_due_on(
    last_session_on: date | None, cadence_days: int, *, started_on: date
) -> date:
    """Next supervision is due ``cadence_days`` after the last session, or after ``started_on``
    when there has been none."""
    _require_cadence(cadence_days)
    return (last_session_on or started_on) + timedelta(days=cadence_days)


def supervision_overdue(
    last_session_on: date | None, cadence_days: int, today: date, *, started_on: date
) -> bool:
    """On time on the due day; overdue from the day after."""
    return today > supervision_due_on(last_session_on, cadence_days, started_on=started_on)


# --- IPS-25 fidelity -------------------------------------------------------------------------


def fidelity_total(scores: Mapping[str, int]) -> int:
    """Sum of the 25 IPS-25 item scores. Every item is required, each a whole number 1-5;
    unknown items are refused (``InvalidFidelityReview``)."""
    missing = [item for item in FIDELITY_ITEMS if item not in scores]
    if missing:
        raise InvalidFidelityReview(f"missing items: {', '.join(missing)}")
    unknown = sorted(set(scores) - set(FIDELITY_ITEMS))
    if unknown:
        raise InvalidFidelityReview(f"unknown items: {', '.join(map(str, unknown))}")
    for item in FIDELITY_ITEMS:
        score = scores[item]
        if not _is_int(score) or not FIDELITY_ITEM_MIN <= score <= FIDELITY_ITEM_MAX:
            raise InvalidFidelityReview(
                f"{item} must be a whole number {FIDELITY_ITEM_MIN}-{FIDELITY_ITEM_MAX}, "
                f"got {score!r}"
            )
    return sum(scores[item] for item in FIDELITY_ITEMS)


def fidelity_band(total: int) -> FidelityBand:
    """IPS-25 band: 115-125 exemplary, 100-114 good, 74-99 fair, 25-73 not IPS."""
    if not _is_int(total) or not FIDELITY_TOTAL_MIN <= total <= FIDELITY_TOTAL_MAX:
        raise InvalidFidelityReview(
            f"total must be {FIDELITY_TOTAL_MIN}-{FIDELITY_TOTAL_MAX}, got {total!r}"
        )
    if total >= FIDELITY_EXEMPLARY_FROM:
        return "exemplary"
    if total >= FIDELITY_GOOD_FROM:
        return "good"
    if total >= FIDELITY_FAIR_FROM:
        return "fair"
    return "not_ips"


# --- small-number suppression ----------------------------------------------------------------


def _require_threshold(threshold: int) -> None:
    if not _is_int(threshold) or threshold < 1:
        raise ValueError("threshold must be a whole number, at least 1")


def suppress(count: int, *, threshold: int = SUPPRESSION_THRESHOLD) -> int | None:
    """A count fit for export: None when ``0 < count < threshold``, otherwise the count.

    ``threshold`` is the first count shown (3 withholds 1-2; 5 withholds 1-4). Zero is shown.
    """
    _require_threshold(threshold)
    if not _is_int(count) or count < 0:
        raise ValueError("count must be a whole number, 0 or more")
    return None if 0 < count < threshold else count


def rate(numerator: int, denominator: int, *, threshold: int) -> float | None:
    """``numerator / denominator`` (a proportion 0-1), or None when the denominator is under
    ``threshold`` (which includes a zero denominator).

    Suppression is on the denominator only; a caller exporting the denominator next to the rate
    reveals the numerator, so it should also pass the numerator through :func:`suppress`.
    """
    _require_threshold(threshold)
    if not _is_int(numerator) or not _is_int(denominator):
        raise ValueError("numerator and denominator must be whole numbers")
    if numerator < 0 or numerator > denominator:
        raise ValueError("numerator must be between 0 and the denominator")
    if denominator < threshold:
        return None
    return numerator / denominator
