"""IPS employment-journey rules, tested at every boundary with dates passed in (no clock)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.ips.rules import (
    CASELOAD_LIMIT,
    FIRST_EMPLOYER_CONTACT_DAYS,
    IN_WORK_REVIEW_EVERY_DAYS,
    Alert,
    AlertKind,
    Check,
    CheckStatus,
    FirstContact,
    Job,
    MilestoneKind,
    SustainmentWeeks,
    action_overdue,
    can_assign,
    caseload_fidelity_score,
    caseload_state,
    first_contact_alert,
    first_contact_due_on,
    first_employer_contact,
    in_work_support_open,
    in_work_support_until,
    support_review_due,
    sustainment_checks,
)

JOINED = date(2026, 1, 5)
START = date(2026, 3, 2)
WEEK = 7


def day(base: date, offset: int) -> date:
    return base + timedelta(days=offset)


def job(*, started_on: date = START, ended_on: date | None = None) -> Job:
    return Job(
        employer="Tyneside Bakery",
        role="Bakery assistant",
        hours_per_week=16,
        started_on=started_on,
        ended_on=ended_on,
    )


# --- vocabulary -----------------------------------------------------------------------------


def test_milestone_kinds_are_the_stored_strings() -> None:
    assert [str(kind) for kind in MilestoneKind] == [
        "referral",
        "first_meeting",
        "first_employer_contact",
        "job_start",
        "job_end",
    ]


def test_settings_are_the_documented_numbers() -> None:
    assert FIRST_EMPLOYER_CONTACT_DAYS == 30
    assert IN_WORK_REVIEW_EVERY_DAYS == 14
    assert CASELOAD_LIMIT == 30


def test_a_job_may_end_on_the_day_it_starts() -> None:
    assert job(ended_on=START).ended_on == START


@pytest.mark.parametrize(
    ("hours", "ended_on", "message"),
    [
        (16, day(START, -1), "cannot end before it starts"),
        (0, None, "hours_per_week"),
        (-4, None, "hours_per_week"),
    ],
)
def test_a_job_refuses_impossible_values(hours: float, ended_on: date | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Job("Tyneside Bakery", "Bakery assistant", hours, START, ended_on)


# --- first employer contact -----------------------------------------------------------------


TODAY = date(2026, 3, 10)


def test_nothing_recorded_is_no_first_contact() -> None:
    assert first_employer_contact(TODAY) is None


@pytest.mark.parametrize("source", ["milestone", "employer_contact", "job_start"])
@pytest.mark.parametrize(
    ("offset", "counts"),
    [
        (-400, True),
        (-1, True),  # yesterday
        (0, True),  # today: it has happened
        (1, False),  # tomorrow: not yet
    ],
)
def test_each_kind_of_evidence_counts_up_to_today(source: str, offset: int, counts: bool) -> None:
    """A recorded milestone, a logged contact and a job start each satisfy the milestone."""
    on = day(TODAY, offset)
    found = first_employer_contact(TODAY, **{f"{source}s": [on]})
    assert found == (FirstContact(on=on, source=source) if counts else None)  # type: ignore[arg-type]


def test_a_job_start_alone_is_a_first_employer_contact() -> None:
    """The journey never shows a job with "no employer contact yet"."""
    assert first_employer_contact(TODAY, job_starts=[day(TODAY, -5)]) == FirstContact(
        on=day(TODAY, -5), source="job_start"
    )


def test_the_earliest_evidence_wins_whatever_its_kind() -> None:
    found = first_employer_contact(
        TODAY,
        milestones=[day(TODAY, -3)],
        employer_contacts=[day(TODAY, -2), day(TODAY, -9)],
        job_starts=[day(TODAY, -8)],
    )
    assert found == FirstContact(on=day(TODAY, -9), source="employer_contact")
    # A job started a day before the earliest logged contact names the job start.
    earlier_job = first_employer_contact(
        TODAY, employer_contacts=[day(TODAY, -9)], job_starts=[day(TODAY, -10)]
    )
    assert earlier_job == FirstContact(on=day(TODAY, -10), source="job_start")


def test_future_evidence_does_not_hide_past_evidence() -> None:
    found = first_employer_contact(
        TODAY, employer_contacts=[day(TODAY, 1)], job_starts=[day(TODAY, 0)]
    )
    assert found == FirstContact(on=TODAY, source="job_start")


def test_on_a_tie_the_most_direct_evidence_names_the_source() -> None:
    same = day(TODAY, -4)
    assert first_employer_contact(
        TODAY, milestones=[same], employer_contacts=[same], job_starts=[same]
    ) == FirstContact(on=same, source="milestone")
    assert first_employer_contact(
        TODAY, employer_contacts=[same], job_starts=[same]
    ) == FirstContact(on=same, source="employer_contact")


def test_first_contact_is_due_thirty_days_after_joining() -> None:
    assert first_contact_due_on(JOINED) == day(JOINED, 30) == date(2026, 2, 4)
    assert first_contact_due_on(JOINED, days=0) == JOINED


@pytest.mark.parametrize(
    ("today_offset", "expected_days_past_due"),
    [
        (-1, None),  # before joining
        (0, None),  # the day of joining
        (29, None),  # the day before the deadline
        (30, 0),  # the deadline: due today
        (31, 1),  # the day after: overdue
        (60, 30),
    ],
)
def test_no_employer_contact_alerts_from_day_30(
    today_offset: int, expected_days_past_due: int | None
) -> None:
    alert = first_contact_alert(JOINED, None, day(JOINED, today_offset))
    if expected_days_past_due is None:
        assert alert is None
    else:
        assert alert == Alert(
            kind=AlertKind.first_employer_contact,
            due_on=day(JOINED, 30),
            days_past_due=expected_days_past_due,
        )
        assert alert.overdue is (expected_days_past_due > 0)


@pytest.mark.parametrize(
    ("contact_offset", "today_offset"),
    [
        (30, 30),  # contact on the deadline, seen that day
        (30, 31),
        (30, 400),
        (29, 30),
        (0, 0),  # contact on the day of joining
        (-3, 10),  # job development during referral counts
        (31, 31),  # late, but made: nothing left to do
        (45, 90),
    ],
)
def test_a_recorded_contact_clears_the_alert(contact_offset: int, today_offset: int) -> None:
    contact_on = day(JOINED, contact_offset)
    assert first_contact_alert(JOINED, contact_on, day(JOINED, today_offset)) is None


def test_a_contact_dated_after_today_is_refused() -> None:
    with pytest.raises(ValueError, match="after today"):
        first_contact_alert(JOINED, day(JOINED, 11), day(JOINED, 10))


@pytest.mark.parametrize(
    ("days", "today_offset", "expected"),
    [(14, 13, None), (14, 14, 0), (14, 15, 1), (0, 0, 0), (0, 1, 1)],
)
def test_the_contact_window_is_a_parameter(
    days: int, today_offset: int, expected: int | None
) -> None:
    alert = first_contact_alert(JOINED, None, day(JOINED, today_offset), days=days)
    assert (alert.days_past_due if alert else None) == expected


def test_a_negative_contact_window_is_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        first_contact_alert(JOINED, None, JOINED, days=-1)


# --- in-work support window -----------------------------------------------------------------


def test_support_lasts_26_weeks_from_the_start_day() -> None:
    until = in_work_support_until(job())
    assert until == day(START, 26 * WEEK - 1) == date(2026, 8, 30)
    assert (until - START).days + 1 == 182


@pytest.mark.parametrize(
    ("ended_offset", "expected_until_offset"),
    [
        (None, 26 * WEEK - 1),
        (0, 0),  # ended on the first day
        (40, 40),  # ended inside the window: support closes with the job
        (26 * WEEK - 2, 26 * WEEK - 2),
        (26 * WEEK - 1, 26 * WEEK - 1),  # ended on the window's last day
        (26 * WEEK, 26 * WEEK - 1),  # ended after the window: window unchanged
        (400, 26 * WEEK - 1),
    ],
)
def test_support_until_closes_with_the_job(
    ended_offset: int | None, expected_until_offset: int
) -> None:
    ended_on = None if ended_offset is None else day(START, ended_offset)
    assert in_work_support_until(job(ended_on=ended_on)) == day(START, expected_until_offset)


@pytest.mark.parametrize(
    ("today_offset", "expected"),
    [
        (-1, False),  # before the start
        (0, True),  # the start day
        (26 * WEEK - 1, True),  # start + 26 weeks - 1 day: the last day
        (26 * WEEK, False),  # start + 26 weeks: closed
    ],
)
def test_support_window_edges(today_offset: int, expected: bool) -> None:
    assert in_work_support_open(job(), day(START, today_offset)) is expected


@pytest.mark.parametrize(("today_offset", "expected"), [(40, True), (41, False)])
def test_support_window_closes_after_the_last_day_in_the_job(
    today_offset: int, expected: bool
) -> None:
    assert in_work_support_open(job(ended_on=day(START, 40)), day(START, today_offset)) is expected


# --- in-work support reviews ----------------------------------------------------------------


def review_alert(days_past_due: int, due_on: date) -> Alert:
    return Alert(AlertKind.in_work_support_review, due_on, days_past_due)


@pytest.mark.parametrize(
    ("today_offset", "expected_days_past_due"),
    [
        (0, None),  # start day
        (13, None),
        (14, 0),  # two weeks after the start with no review: due today
        (15, 1),  # older than the cadence: overdue
        (26 * WEEK - 1, 26 * WEEK - 1 - 14),  # still alerting on the window's last day
        (26 * WEEK, None),  # window closed
    ],
)
def test_first_review_is_due_a_fortnight_after_the_start(
    today_offset: int, expected_days_past_due: int | None
) -> None:
    alert = support_review_due(job(), None, day(START, today_offset))
    expected = (
        None
        if expected_days_past_due is None
        else review_alert(expected_days_past_due, day(START, 14))
    )
    assert alert == expected


@pytest.mark.parametrize(
    ("today_after_review", "expected_days_past_due"),
    [(0, None), (13, None), (14, 0), (15, 1), (20, 6)],
)
def test_next_review_is_due_a_fortnight_after_the_last(
    today_after_review: int, expected_days_past_due: int | None
) -> None:
    reviewed = day(START, 30)
    alert = support_review_due(job(), reviewed, day(reviewed, today_after_review))
    expected = (
        None
        if expected_days_past_due is None
        else review_alert(expected_days_past_due, day(reviewed, 14))
    )
    assert alert == expected


@pytest.mark.parametrize(
    ("reviewed_offset", "today_offset", "expected"),
    [
        (26 * WEEK - 15, 26 * WEEK - 1, 0),  # due on the last day of the window
        (26 * WEEK - 16, 26 * WEEK - 1, 1),
        (26 * WEEK - 16, 26 * WEEK, None),  # overdue, but the window has closed
        (26 * WEEK - 14, 26 * WEEK - 1, None),  # next review would fall after the window
    ],
)
def test_reviews_at_the_end_of_the_window(
    reviewed_offset: int, today_offset: int, expected: int | None
) -> None:
    alert = support_review_due(job(), day(START, reviewed_offset), day(START, today_offset))
    assert (alert.days_past_due if alert else None) == expected


def test_no_review_alert_before_the_job_starts() -> None:
    assert support_review_due(job(), None, day(START, -1)) is None


@pytest.mark.parametrize(("today_offset", "expected"), [(40, 26), (41, None)])
def test_no_review_alert_once_the_job_has_ended(today_offset: int, expected: int | None) -> None:
    alert = support_review_due(job(ended_on=day(START, 40)), None, day(START, today_offset))
    assert (alert.days_past_due if alert else None) == expected


def test_a_review_from_before_the_job_start_does_not_count() -> None:
    earlier_job_review = day(START, -3)
    assert support_review_due(job(), earlier_job_review, day(START, 13)) is None
    assert support_review_due(job(), earlier_job_review, day(START, 14)) == review_alert(
        0, day(START, 14)
    )


@pytest.mark.parametrize(("today_offset", "expected"), [(6, None), (7, 0), (8, 1)])
def test_the_review_cadence_is_a_parameter(today_offset: int, expected: int | None) -> None:
    alert = support_review_due(job(), None, day(START, today_offset), every_days=7)
    assert (alert.days_past_due if alert else None) == expected


def test_review_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="every_days"):
        support_review_due(job(), None, START, every_days=0)
    with pytest.raises(ValueError, match="after today"):
        support_review_due(job(), day(START, 5), day(START, 4))


# --- job sustainment ------------------------------------------------------------------------


def test_sustainment_checks_fall_13_26_and_52_weeks_after_the_start() -> None:
    checks = sustainment_checks(job(), START)
    assert checks == [
        Check(13, date(2026, 6, 1), "not_yet"),
        Check(26, date(2026, 8, 31), "not_yet"),
        Check(52, date(2027, 3, 1), "not_yet"),
    ]
    assert [(check.due_on - START).days for check in checks] == [91, 182, 364]


@pytest.mark.parametrize("weeks", [13, 26, 52])
@pytest.mark.parametrize(
    ("today_from_due", "ended_from_due", "expected"),
    [
        (-1, None, "not_yet"),  # the day before
        (0, None, "due"),  # the day itself
        (1, None, "sustained"),  # the day after
        (-1, -1, "ended_before"),  # ended the day before, seen that day
        (0, -1, "ended_before"),  # ended the day before, seen on the due day
        (5, -1, "ended_before"),
        (0, 0, "due"),  # ended on the due day: held on it
        (1, 0, "sustained"),
        (-2, -1, "not_yet"),  # a planned end after today is not yet an ending
        (1, 1, "sustained"),  # ended the day after the due day
    ],
)
def test_sustainment_check_boundaries(
    weeks: SustainmentWeeks,
    today_from_due: int,
    ended_from_due: int | None,
    expected: CheckStatus,
) -> None:
    due_on = day(START, weeks * WEEK)
    ended_on = None if ended_from_due is None else day(due_on, ended_from_due)
    checks = {
        c.weeks: c for c in sustainment_checks(job(ended_on=ended_on), day(due_on, today_from_due))
    }
    assert checks[weeks] == Check(weeks, due_on, expected)


def test_a_job_that_ended_between_checks() -> None:
    ended = job(ended_on=day(START, 20 * WEEK))
    statuses = [check.status for check in sustainment_checks(ended, day(START, 30 * WEEK))]
    assert statuses == ["sustained", "ended_before", "ended_before"]


def test_a_job_that_ended_on_the_start_day_sustains_nothing() -> None:
    statuses = [check.status for check in sustainment_checks(job(ended_on=START), START)]
    assert statuses == ["ended_before", "ended_before", "ended_before"]


# --- plan actions ---------------------------------------------------------------------------

DUE = date(2026, 4, 10)


@pytest.mark.parametrize(
    ("status", "today_offset", "expected"),
    [
        ("open", -1, False),
        ("open", 0, False),  # due today is not overdue
        ("open", 1, True),  # overdue the day after
        ("open", 30, True),
        ("done", 1, False),
        ("cancelled", 1, False),
        ("done", 0, False),
    ],
)
def test_action_overdue_from_the_day_after_it_is_due(
    status: str, today_offset: int, expected: bool
) -> None:
    assert action_overdue(DUE, status, day(DUE, today_offset)) is expected


def test_an_action_with_no_due_date_is_never_overdue() -> None:
    assert action_overdue(None, "open", date(2099, 1, 1)) is False


def test_closed_statuses_are_the_plan_schemas() -> None:
    from app.plans.schemas import ActionStatus

    today = day(DUE, 1)
    assert {s: action_overdue(DUE, s, today) for s in ActionStatus} == {
        ActionStatus.open: True,
        ActionStatus.done: False,
        ActionStatus.cancelled: False,
    }


# --- caseload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        (0, "ok"),
        (20, "ok"),  # IPS-25 best practice: 20 or fewer
        (21, "warning"),  # warning starts above 20
        (29, "warning"),
        (30, "at_limit"),
        (31, "over_limit"),
        (45, "over_limit"),
    ],
)
def test_caseload_state(active: int, expected: str) -> None:
    assert caseload_state(active) == expected


@pytest.mark.parametrize(
    ("active", "expected"),
    [(15, "ok"), (16, "warning"), (24, "warning"), (25, "at_limit"), (26, "over_limit")],
)
def test_caseload_state_settings(active: int, expected: str) -> None:
    assert caseload_state(active, limit=25, warn_above=15) == expected


def test_caseload_state_without_a_warning_band() -> None:
    assert caseload_state(29, limit=30, warn_above=30) == "ok"
    assert caseload_state(30, limit=30, warn_above=30) == "at_limit"


@pytest.mark.parametrize(
    ("active", "kwargs", "message"),
    [
        (-1, {}, "active_clients"),
        (5, {"limit": 0}, "limit"),
        (5, {"warn_above": 31}, "warn_above"),
        (5, {"warn_above": -1}, "warn_above"),
    ],
)
def test_caseload_state_refuses_impossible_values(
    active: int, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        caseload_state(active, **kwargs)


@pytest.mark.parametrize(
    ("active", "override", "allowed", "needs_override", "reason"),
    [
        (0, False, True, False, "would be 1, within the limit of 30"),
        (20, False, True, False, "would be 21, within"),
        (28, False, True, False, "would be 29, within"),
        (29, False, True, False, "would be 30, within the limit of 30"),  # up to the limit
        (30, False, False, True, "would be 31, over the limit of 30; a supervisor's override"),
        (30, True, True, True, "assigned under a supervisor's override"),
        (31, False, False, True, "would be 32, over"),
        (31, True, True, True, "would be 32, over"),
        (29, True, True, False, "within"),  # an override not needed is not used
    ],
)
def test_can_assign(
    active: int, override: bool, allowed: bool, needs_override: bool, reason: str
) -> None:
    decision = can_assign(active, supervisor_override=override)
    assert (decision.allowed, decision.needs_override) == (allowed, needs_override)
    assert reason in decision.reason


@pytest.mark.parametrize(("active", "allowed"), [(19, True), (20, False)])
def test_can_assign_with_a_lower_limit(active: int, allowed: bool) -> None:
    assert can_assign(active, limit=20, supervisor_override=False).allowed is allowed


def test_can_assign_refuses_impossible_values() -> None:
    with pytest.raises(ValueError, match="active_clients"):
        can_assign(-1, supervisor_override=False)
    with pytest.raises(ValueError, match="limit"):
        can_assign(1, limit=0, supervisor_override=False)


# --- IPS-25 caseload size -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        (0, 5),
        (20, 5),
        (21, 4),
        (25, 4),
        (26, 3),
        (30, 3),
        (31, 2),
        (40, 2),
        (41, 1),
        (120, 1),
    ],
)
def test_fidelity_score_full_time(clients: int, expected: int) -> None:
    assert caseload_fidelity_score(clients, 1.0) == expected


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        (10, 5),  # 20 per FTE
        (11, 4),  # 22
        (12, 4),  # 24
        (13, 3),  # 26
        (15, 3),  # 30
        (16, 2),  # 32
        (20, 2),  # 40
        (21, 1),  # 42
    ],
)
def test_fidelity_score_half_time(clients: int, expected: int) -> None:
    assert caseload_fidelity_score(clients, 0.5) == expected


@pytest.mark.parametrize(
    ("clients", "fte", "expected"),
    [
        (6, 0.3, 5),  # exactly 20 per FTE, though 6 / 0.3 is 20.000000000000004 in floats
        (7, 0.3, 4),  # 23.3
        (40, 2, 5),  # a team: 20 per FTE
        (41, 2, 4),  # 20.5 is not "20 or fewer"
        (50, 2, 4),  # 25
        (51, 2, 3),  # 25.5 is over 25
        (81, 2, 1),  # 40.5 is over 40
        (30, 1.5, 5),
    ],
)
def test_fidelity_score_part_time_and_teams(clients: int, fte: float, expected: int) -> None:
    assert caseload_fidelity_score(clients, fte) == expected


@pytest.mark.parametrize(
    ("clients", "fte", "message"),
    [(10, 0, "fte"), (10, -0.5, "fte"), (10, float("nan"), "fte"), (-1, 1.0, "clients")],
)
def test_fidelity_score_refuses_impossible_values(clients: int, fte: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        caseload_fidelity_score(clients, fte)
