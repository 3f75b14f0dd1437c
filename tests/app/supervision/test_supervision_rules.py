"""Supervision and team-wellbeing rules, tested at every boundary with time passed in (no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from app.supervision.rules import (
    FIDELITY_ITEMS,
    Aggregate,
    CheckIn,
    InvalidCheckIn,
    InvalidFidelityReview,
    check_in_due,
    fidelity_band,
    fidelity_total,
    next_prompt_due,
    rate,
    supervision_due_on,
    supervision_overdue,
    suppress,
    team_aggregate,
    weekly_series,
)

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # a Wednesday, ISO week 2026-W10
START = datetime(2026, 3, 2, tzinfo=UTC)  # Monday
END = datetime(2026, 3, 9, tzinfo=UTC)  # next Monday


def check_in(
    at: datetime = NOW,
    *,
    mood: int = 3,
    workload: int = 3,
    stress: int = 3,
    support: int = 3,
    wants_to_talk: bool = False,
    text: str | None = None,
) -> CheckIn:
    return CheckIn(mood, workload, stress, support, wants_to_talk, text, at)


# --- check-ins -------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", ["mood", "workload", "stress", "support"])
@pytest.mark.parametrize("value", [1, 5])
def test_check_in_accepts_scale_ends(measure: str, value: int) -> None:
    fields: dict[str, Any] = {measure: value}
    assert getattr(check_in(**fields), measure) == value


@pytest.mark.parametrize("measure", ["mood", "workload", "stress", "support"])
@pytest.mark.parametrize("value", [0, 6, -1, 2.5, "3", None, True])
def test_check_in_refuses_values_off_the_scale(measure: str, value: Any) -> None:
    fields: dict[str, Any] = {measure: value}
    with pytest.raises(InvalidCheckIn, match=measure):
        check_in(**fields)


@pytest.mark.parametrize(
    "field,value",
    [("wants_to_talk", 1), ("wants_to_talk", None), ("text", 42), ("at", datetime(2026, 3, 4))],
)
def test_check_in_refuses_malformed_fields(field: str, value: Any) -> None:
    fields: dict[str, Any] = {
        "mood": 3, "workload": 3, "stress": 3, "support": 3,
        "wants_to_talk": False, "text": None, "at": NOW,
    }  # fmt: skip
    fields[field] = value
    with pytest.raises(InvalidCheckIn, match=field):
        CheckIn(**fields)


def test_check_in_keeps_text_and_wish_to_talk() -> None:
    c = check_in(wants_to_talk=True, text="Heavy week")
    assert (c.wants_to_talk, c.text) == (True, "Heavy week")


def test_never_checked_in_is_due_now() -> None:
    assert next_prompt_due(None, 7, NOW) == NOW
    assert check_in_due(None, 7, NOW)


@pytest.mark.parametrize(
    "since,due",
    [
        (timedelta(days=7) - timedelta(microseconds=1), False),
        (timedelta(days=7), True),
        (timedelta(days=8), True),
        (timedelta(0), False),
    ],
)
def test_check_in_due_from_the_cadence_instant(since: timedelta, due: bool) -> None:
    last = NOW - since
    assert next_prompt_due(last, 7, NOW) == last + timedelta(days=7)
    assert check_in_due(last, 7, NOW) is due


@pytest.mark.parametrize("cadence", [0, -7, True])
def test_cadence_must_be_positive(cadence: Any) -> None:
    with pytest.raises(ValueError, match="cadence"):
        next_prompt_due(None, cadence, NOW)


# --- team aggregates -------------------------------------------------------------------------


def test_two_people_are_suppressed_entirely() -> None:
    agg = team_aggregate({"a": [check_in()], "b": [check_in()]}, period_start=START, period_end=END)
    assert agg == Aggregate(START, END, True, None, None, None, None, None)


def test_three_people_are_shown() -> None:
    agg = team_aggregate(
        {
            "a": [check_in(mood=1, workload=5, stress=2, support=4)],
            "b": [check_in(mood=2, workload=4, stress=2, support=4)],
            "c": [check_in(mood=4, workload=4, stress=3, support=5)],
        },
        period_start=START,
        period_end=END,
    )
    assert agg == Aggregate(START, END, False, 3, 2.3, 4.3, 2.3, 4.3)


def test_means_round_half_up_to_one_decimal() -> None:
    people = {str(i): [check_in(mood=m)] for i, m in enumerate([2, 2, 2, 3])}  # 2.25
    assert team_aggregate(people, period_start=START, period_end=END).mood == 2.3


def test_only_each_persons_latest_check_in_counts() -> None:
    agg = team_aggregate(
        {
            "a": [check_in(NOW, mood=5), check_in(NOW - timedelta(days=1), mood=1)],
            "b": [check_in(NOW - timedelta(days=1), mood=1), check_in(NOW, mood=4)],
            "c": [check_in(NOW, mood=3)],
        },
        period_start=START,
        period_end=END,
    )
    assert (agg.people, agg.mood) == (3, 4.0)


def test_check_ins_outside_the_period_are_ignored() -> None:
    inside_first, inside_last = START, END - timedelta(microseconds=1)
    before, at_end = START - timedelta(microseconds=1), END
    agg = team_aggregate(
        {
            "a": [check_in(inside_first, mood=2), check_in(at_end, mood=5)],
            "b": [check_in(inside_last, mood=2), check_in(before, mood=5)],
            "c": [check_in(NOW, mood=2)],
            "d": [check_in(before), check_in(at_end)],  # did not answer in the period
        },
        period_start=START,
        period_end=END,
    )
    assert (agg.people, agg.mood) == (3, 2.0)


def test_a_person_with_only_out_of_period_check_ins_does_not_lift_suppression() -> None:
    agg = team_aggregate(
        {"a": [check_in()], "b": [check_in()], "c": [check_in(END)]},
        period_start=START,
        period_end=END,
    )
    assert agg.suppressed and agg.people is None


@pytest.mark.parametrize("min_people,suppressed", [(4, True), (3, False)])
def test_min_people_can_be_raised(min_people: int, suppressed: bool) -> None:
    people = {p: [check_in()] for p in "abc"}
    agg = team_aggregate(people, period_start=START, period_end=END, min_people=min_people)
    assert agg.suppressed is suppressed


@pytest.mark.parametrize("min_people", [2, 1, 0])
def test_min_people_cannot_go_below_three(min_people: int) -> None:
    with pytest.raises(ValueError, match="min_people"):
        team_aggregate({}, period_start=START, period_end=END, min_people=min_people)


def test_no_one_answered_is_suppressed() -> None:
    assert team_aggregate({}, period_start=START, period_end=END).suppressed


@pytest.mark.parametrize(
    "start,end",
    [(END, START), (START, START), (datetime(2026, 3, 2), END)],
)
def test_period_must_be_aware_and_forward(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError):
        team_aggregate({}, period_start=start, period_end=end)


def test_weekly_series_has_one_aggregate_per_iso_week() -> None:
    week1 = datetime(2026, 3, 2, tzinfo=UTC)  # W10 Monday 00:00
    week2 = datetime(2026, 3, 9, tzinfo=UTC)  # W11 Monday 00:00
    last_of_week1 = week2 - timedelta(microseconds=1)
    people = {
        "a": [check_in(week1, mood=1), check_in(week2, mood=5)],
        "b": [check_in(last_of_week1, mood=2), check_in(week2 + timedelta(days=6), mood=5)],
        "c": [check_in(week1 + timedelta(days=3), mood=3)],
    }
    series = weekly_series(people, first_day=date(2026, 3, 4), last_day=date(2026, 3, 16))
    weeks = [a.period_start.isocalendar()[:2] for a in series]
    assert weeks == [(2026, 10), (2026, 11), (2026, 12)]
    assert [a.period_end - a.period_start for a in series] == [timedelta(days=7)] * 3
    assert (series[0].people, series[0].mood) == (3, 2.0)
    assert series[1].suppressed and series[1].mood is None  # only a and b answered in W11
    assert series[2].suppressed and series[2].people is None


def test_weekly_series_uses_the_teams_time_zone() -> None:
    bst = timezone(timedelta(hours=1))
    # 23:30 UTC on Sunday is 00:30 Monday in UTC+1: the next week there.
    late_sunday = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    people = {p: [check_in(late_sunday)] for p in "abc"}
    in_utc = weekly_series(people, first_day=date(2026, 3, 2), last_day=date(2026, 3, 9))
    in_bst = weekly_series(people, first_day=date(2026, 3, 2), last_day=date(2026, 3, 9), tz=bst)
    assert [a.people for a in in_utc] == [3, None]
    assert [a.people for a in in_bst] == [None, 3]


def test_weekly_series_single_day_and_iso_year_boundary() -> None:
    series = weekly_series({}, first_day=date(2026, 1, 1), last_day=date(2026, 1, 1))
    assert len(series) == 1
    assert series[0].period_start.date() == date(2025, 12, 29)
    assert series[0].period_start.isocalendar()[:2] == (2026, 1)


def test_weekly_series_refuses_backwards_range() -> None:
    with pytest.raises(ValueError):
        weekly_series({}, first_day=date(2026, 3, 9), last_day=date(2026, 3, 8))


# --- supervision -----------------------------------------------------------------------------

STARTED = date(2026, 1, 5)
LAST = date(2026, 2, 2)


@pytest.mark.parametrize(
    "today,overdue",
    [(LAST + timedelta(days=27), False), (LAST + timedelta(days=28), False),
     (LAST + timedelta(days=29), True)],
)  # fmt: skip
def test_supervision_overdue_the_day_after_due(today: date, overdue: bool) -> None:
    assert supervision_due_on(LAST, 28, started_on=STARTED) == LAST + timedelta(days=28)
    assert supervision_overdue(LAST, 28, today, started_on=STARTED) is overdue


@pytest.mark.parametrize(
    "today,overdue",
    [(STARTED + timedelta(days=28), False), (STARTED + timedelta(days=29), True)],
)
def test_first_supervision_counts_from_start(today: date, overdue: bool) -> None:
    assert supervision_due_on(None, 28, started_on=STARTED) == STARTED + timedelta(days=28)
    assert supervision_overdue(None, 28, today, started_on=STARTED) is overdue


@pytest.mark.parametrize("cadence", [0, -1])
def test_supervision_cadence_must_be_positive(cadence: int) -> None:
    with pytest.raises(ValueError, match="cadence"):
        supervision_overdue(None, cadence, STARTED, started_on=STARTED)


# --- IPS-25 fidelity -------------------------------------------------------------------------


def review(score: int = 3, **overrides: int) -> dict[str, int]:
    return {item: overrides.get(item, score) for item in FIDELITY_ITEMS}


def test_fidelity_items_are_the_25_in_order() -> None:
    assert len(FIDELITY_ITEMS) == len(set(FIDELITY_ITEMS)) == 25
    assert FIDELITY_ITEMS[0] == "caseload size"
    assert FIDELITY_ITEMS[-1] == "assertive engagement and outreach"


@pytest.mark.parametrize("score,total", [(1, 25), (3, 75), (5, 125)])
def test_fidelity_total(score: int, total: int) -> None:
    assert fidelity_total(review(score)) == total


def test_fidelity_total_sums_mixed_scores() -> None:
    assert fidelity_total(review(4, **{"caseload size": 5, "zero exclusion": 1})) == 4 * 23 + 6


def test_fidelity_total_requires_every_item() -> None:
    scores = review()
    del scores["disclosure"]
    with pytest.raises(InvalidFidelityReview, match="disclosure"):
        fidelity_total(scores)


def test_fidelity_total_refuses_unknown_items() -> None:
    with pytest.raises(InvalidFidelityReview, match="unknown"):
        fidelity_total({**review(), "job coaching": 3})


@pytest.mark.parametrize("bad", [0, 6, 2.5, True, None])
def test_fidelity_item_scores_are_1_to_5(bad: Any) -> None:
    with pytest.raises(InvalidFidelityReview, match="rapid job search"):
        fidelity_total({**review(), "rapid job search": bad})


@pytest.mark.parametrize(
    "total,band",
    [
        (25, "not_ips"), (73, "not_ips"),
        (74, "fair"), (99, "fair"),
        (100, "good"), (114, "good"),
        (115, "exemplary"), (125, "exemplary"),
    ],
)  # fmt: skip
def test_fidelity_band_boundaries(total: int, band: str) -> None:
    assert fidelity_band(total) == band


@pytest.mark.parametrize("total", [24, 126, 0, True])
def test_fidelity_band_refuses_impossible_totals(total: Any) -> None:
    with pytest.raises(InvalidFidelityReview):
        fidelity_band(total)


# --- small-number suppression ----------------------------------------------------------------


@pytest.mark.parametrize(
    "count,threshold,shown",
    [
        (0, 3, 0), (1, 3, None), (2, 3, None), (3, 3, 3), (40, 3, 40),
        (4, 5, None), (5, 5, 5), (0, 5, 0),
        (1, 1, 1),
    ],
)  # fmt: skip
def test_suppress(count: int, threshold: int, shown: int | None) -> None:
    assert suppress(count, threshold=threshold) == shown


def test_suppress_default_threshold_is_three() -> None:
    assert (suppress(2), suppress(3)) == (None, 3)


@pytest.mark.parametrize("count,threshold", [(-1, 3), (2, 0), (True, 3)])
def test_suppress_refuses_bad_input(count: Any, threshold: int) -> None:
    with pytest.raises(ValueError):
        suppress(count, threshold=threshold)


@pytest.mark.parametrize(
    "numerator,denominator,threshold,expected",
    [
        (0, 0, 3, None), (1, 2, 3, None), (1, 3, 3, 1 / 3), (0, 3, 3, 0.0), (3, 3, 3, 1.0),
        (2, 4, 5, None), (2, 5, 5, 0.4),
    ],
)  # fmt: skip
def test_rate(numerator: int, denominator: int, threshold: int, expected: float | None) -> None:
    assert rate(numerator, denominator, threshold=threshold) == expected


@pytest.mark.parametrize("numerator,denominator", [(-1, 5), (6, 5)])
def test_rate_refuses_impossible_fractions(numerator: int, denominator: int) -> None:
    with pytest.raises(ValueError):
        rate(numerator, denominator, threshold=3)
