"""IPS employment-journey rules: pure functions over dates the caller passes in.

Nothing here reads a clock, a database or the environment. The caller supplies ``today`` (from
the injected ``app.clock.Clock``, converted to the team's local date) so every rule can be tested
at its boundaries without sleeping.

Sources (the project's domain notes, DOMAIN.md, which draw on the IPS trailblazer documents and
the published IPS-25 fidelity scale):

* IPS principles — rapid job search (first employer contact within 30 days of joining), in-work
  support for 26 weeks after each job start, caseload at most 30 per employment specialist in the
  trailblazer.
* Programme outcomes — job sustainment at 13, 26 and 52 weeks.
* IPS-25 fidelity scale, item 1 "caseload size" — 5 = 20 or fewer per full-time specialist,
  4 = 21-25, 3 = 26-30, 2 = 31-40, 1 = 41+.

Date conventions used throughout:

* All dates are calendar days; a "week" is exactly 7 days (52 weeks = 364 days, one day short of a
  calendar year).
* Something *due on* day X is on time if it happens on X; it is *overdue* from X + 1.
* ``Job.ended_on`` is the last day the person held the job (inclusive).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Final, Literal

SustainmentWeeks = Literal[13, 26, 52]
CheckStatus = Literal["not_yet", "due", "sustained", "ended_before"]
CaseloadState = Literal["ok", "warning", "at_limit", "over_limit"]

# --- settings (named so callers and tests refer to one value) -------------------------------

FIRST_EMPLOYER_CONTACT_DAYS: Final = 30
"""IPS rapid job search: first employer contact within one month (30 days) of joining."""

IN_WORK_SUPPORT_WEEKS: Final = 26
"""IPS follow-along support: in-work support continues for 26 weeks after each job start."""

IN_WORK_REVIEW_EVERY_DAYS: Final = 14
"""Teamwell's in-work review cadence: a recorded review at least fortnightly in the window.

A Teamwell setting, not an IPS number. IPS asks for individualised follow-along support, with
in-person contact weekly in at least the first month of a job and tapering as the worker wants
(IPS Employment Center FAQ, "What type of job supports do employment specialists provide?").
The review is the structured check on that support, so a missed one shows within two weeks;
it is a floor, not a cap on contact. Pass ``every_days=7`` for a weekly cadence.
"""

SUSTAINMENT_WEEKS: Final[tuple[SustainmentWeeks, ...]] = (13, 26, 52)
"""Job sustainment outcome points the programme is judged on."""

CASELOAD_LIMIT: Final = 30
"""Trailblazer maximum: at most 30 clients per employment specialist."""

CASELOAD_BEST_PRACTICE: Final = 20
"""IPS-25 best practice: 20 or fewer clients per full-time employment specialist."""

CLOSED_ACTION_STATUSES: Final = frozenset({"done", "cancelled"})
"""Plan-action statuses that can never be overdue (``app.plans.schemas.ActionStatus`` values)."""


# --- vocabulary -----------------------------------------------------------------------------


class MilestoneKind(StrEnum):
    """Points on a client's IPS employment journey, in the order they usually happen."""

    referral = "referral"
    first_meeting = "first_meeting"
    first_employer_contact = "first_employer_contact"
    job_start = "job_start"
    job_end = "job_end"


class AlertKind(StrEnum):
    first_employer_contact = "first_employer_contact"
    in_work_support_review = "in_work_support_review"


@dataclass(frozen=True)
class Job:
    """A job the client started. ``ended_on`` is the last day in the job.

    Its quality: ``competitive`` (open labour market), the hourly pay and the wage threshold in
    force when it was recorded (both in pence; None when not recorded) and the contract type."""

    employer: str
    role: str
    hours_per_week: float
    started_on: date
    ended_on: date | None = None
    competitive: bool = True
    hourly_pay_pence: int | None = None
    wage_threshold_pence: int | None = None
    contract_type: str | None = None

    def __post_init__(self) -> None:
        if self.hours_per_week <= 0:
            raise ValueError("hours_per_week must be more than 0")
        if self.ended_on is not None and self.ended_on < self.started_on:
            raise ValueError("a job cannot end before it starts")


@dataclass(frozen=True)
class Alert:
    """Something the team must act on: due on ``due_on``; ``days_past_due`` 0 means due today."""

    kind: AlertKind
    due_on: date
    days_past_due: int

    @property
    def overdue(self) -> bool:
        return self.days_past_due > 0


@dataclass(frozen=True)
class Check:
    """One job-sustainment outcome point for one job."""

    weeks: SustainmentWeeks
    due_on: date
    status: CheckStatus


@dataclass(frozen=True)
class Decision:
    allowed: bool
    needs_override: bool
    reason: str


def _alert(kind: AlertKind, due_on: date, today: date) -> Alert | None:
    """An alert from the due day on; nothing before it."""
    if today < due_on:
        return None
    return Alert(kind=kind, due_on=due_on, days_past_due=(today - due_on).days)


def _non_negative(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative")


# --- rapid job search -----------------------------------------------------------------------


def first_contact_due_on(joined_on: date, *, days: int = FIRST_EMPLOYER_CONTACT_DAYS) -> date:
    """The last day on which a first employer contact is still on time: joined_on + ``days``."""
    _non_negative("days", days)
    return joined_on + timedelta(days=days)


FirstContactSource = Literal["milestone", "employer_contact", "job_start"]


@dataclass(frozen=True)
class FirstContact:
    """The day of a client's first employer contact and what on the journey showed it."""

    on: date
    source: FirstContactSource


FIRST_CONTACT_SOURCES: Final[tuple[FirstContactSource, ...]] = (
    "milestone",
    "employer_contact",
    "job_start",
)
"""On a tie, the more direct evidence names the source: a recorded first-contact milestone,
then a logged employer contact, then a job start."""


def first_employer_contact(
    today: date,
    *,
    milestones: Iterable[date] = (),
    employer_contacts: Iterable[date] = (),
    job_starts: Iterable[date] = (),
) -> FirstContact | None:
    """A client's first employer contact: the earliest day, up to and including ``today``, of a
    recorded first-employer-contact milestone, an employer contact logged for the client, or a
    job start.

    A job start counts because a competitive job is never found without contacting an employer
    (IPS rapid job search counts contact with an employer about a job; the offer is one): a
    journey that shows a job but "no employer contact yet" contradicts itself. A day after
    ``today`` is ignored (not yet happened), so the contact on ``today`` counts and one dated
    tomorrow does not. On a tie the source is the first in ``FIRST_CONTACT_SOURCES``. ``None``
    when nothing qualifies.
    """
    evidence: dict[FirstContactSource, Iterable[date]] = {
        "milestone": milestones,
        "employer_contact": employer_contacts,
        "job_start": job_starts,
    }
    found: FirstContact | None = None
    for source in FIRST_CONTACT_SOURCES:
        for day in evidence[source]:
            if day <= today and (found is None or day < found.on):
                found = FirstContact(on=day, source=source)
    return found


def first_contact_alert(
    joined_on: date,
    first_employer_contact_on: date | None,
    today: date,
    *,
    days: int = FIRST_EMPLOYER_CONTACT_DAYS,
) -> Alert | None:
    """IPS rapid job search: first employer contact within 30 days of joining.

    Joined on D, the contact is due on D + 30 and is on time if it happens on or before that day.
    With no contact yet: no alert up to D + 29; on D + 30 an alert that is due today
    (``days_past_due == 0``); from D + 31 on, overdue. Once a contact is recorded there is never
    an alert (a late contact is a fidelity finding, not something left to do). A contact before
    joining (job development during referral) counts. A contact dated after ``today`` is a data
    error and raises ``ValueError``.
    """
    if first_employer_contact_on is not None:
        if first_employer_contact_on > today:
            raise ValueError("first_employer_contact_on is after today")
        return None
    due_on = first_contact_due_on(joined_on, days=days)
    return _alert(AlertKind.first_employer_contact, due_on, today)


# --- in-work support ------------------------------------------------------------------------


def in_work_support_until(job: Job) -> date:
    """IPS follow-along support: in-work support for 26 weeks after each job start.

    Returns the last day (inclusive) of the support window. The window opens on ``started_on``
    and covers 26 weeks = 182 days, so its last day is started_on + 26 weeks - 1 day and
    started_on + 26 weeks is outside it. If the job ends sooner, the window closes on the job's
    last day: the specialist goes back to job search with the client, and the next job start
    opens a new 26-week window.
    """
    until = job.started_on + timedelta(weeks=IN_WORK_SUPPORT_WEEKS, days=-1)
    if job.ended_on is not None and job.ended_on < until:
        return job.ended_on
    return until


def in_work_support_open(job: Job, today: date) -> bool:
    """Whether ``today`` falls in the job's in-work support window (both ends inclusive)."""
    return job.started_on <= today <= in_work_support_until(job)


def support_review_due(
    job: Job,
    last_review_on: date | None,
    today: date,
    *,
    every_days: int = IN_WORK_REVIEW_EVERY_DAYS,
) -> Alert | None:
    """An in-work support review alert while the 26-week support window is open.

    Source: IPS in-work support for 26 weeks after a job start (DOMAIN.md); the fortnightly
    cadence is Teamwell's setting (``IN_WORK_REVIEW_EVERY_DAYS``).

    The next review is due ``every_days`` after the last review, or after the job start if there
    has been no review since (a review dated before the job start belongs to an earlier job and
    is ignored). On the due day the alert is due today; once the last review is older than the
    cadence (from the day after) it is overdue. Outside the support window — before the start,
    after 26 weeks, or after the job ended — there is no alert. A review dated after ``today``
    raises ``ValueError``.
    """
    if every_days <= 0:
        raise ValueError("every_days must be at least 1")
    if last_review_on is not None and last_review_on > today:
        raise ValueError("last_review_on is after today")
    if not in_work_support_open(job, today):
        return None
    since = job.started_on
    if last_review_on is not None and last_review_on > since:
        since = last_review_on
    due_on = since + timedelta(days=every_days)
    return _alert(AlertKind.in_work_support_review, due_on, today)


# --- job sustainment ------------------------------------------------------------------------


def sustainment_checks(job: Job, today: date) -> list[Check]:
    """Job sustainment at 13, 26 and 52 weeks (programme outcomes, DOMAIN.md).

    Each check is due on started_on + N weeks. Its status on ``today``:

    * ``ended_before`` — the job ended (by today) before the due day: not sustained, settled.
    * ``not_yet`` — the due day is still ahead.
    * ``due`` — today is the due day and the job was still held at the start of it: confirm it.
    * ``sustained`` — the due day has passed and the job had not ended before it.

    ``ended_on`` is the last day in the job, so a job that ended *on* the due day was held on it
    and counts as sustained. A planned end date after ``today`` is not yet an ending.
    """
    checks = []
    for weeks in SUSTAINMENT_WEEKS:
        due_on = job.started_on + timedelta(weeks=weeks)
        status: CheckStatus
        if job.ended_on is not None and job.ended_on < due_on and job.ended_on <= today:
            status = "ended_before"
        elif today < due_on:
            status = "not_yet"
        elif today == due_on:
            status = "due"
        else:
            status = "sustained"
        checks.append(Check(weeks=weeks, due_on=due_on, status=status))
    return checks


def meets_wage_threshold(pay_pence: int | None, threshold_pence: int | None) -> bool | None:
    """Pay at or above the threshold meets it; None when either is unknown."""
    if pay_pence is None or threshold_pence is None:
        return None
    return pay_pence >= threshold_pence


def counts_for_sustainment(job: Job, *, competitive_only: bool = True) -> bool:
    """IPS counts competitive jobs (open labour market, paid at least the usual rate) as its
    outcome; a sheltered or set-aside job counts only when the setting says so."""
    return job.competitive or not competitive_only


# --- plan actions ---------------------------------------------------------------------------


def action_overdue(due_on: date | None, status: str, today: date) -> bool:
    """A plan action is overdue from the day after ``due_on`` unless it is done or cancelled.

    Source: the shared client plan (an action with an owner and a due date, DOMAIN.md "who uses
    it": the keyworker keeps the plan moving). An action due today is not yet overdue; an action
    with no due date is never overdue. ``status`` takes ``app.plans.schemas.ActionStatus`` or its
    string value; anything but ``done``/``cancelled`` counts as still open.
    """
    if due_on is None or status in CLOSED_ACTION_STATUSES:
        return False
    return today > due_on


# --- caseload -------------------------------------------------------------------------------


def caseload_state(
    active_clients: int,
    *,
    limit: int = CASELOAD_LIMIT,
    warn_above: int = CASELOAD_BEST_PRACTICE,
) -> CaseloadState:
    """Where one employment specialist's caseload stands.

    Sources: trailblazer limit of at most 30 per specialist; IPS-25 best practice of 20 or fewer.
    ``ok`` up to ``warn_above`` (20); ``warning`` above it (21) up to one below the limit (29);
    ``at_limit`` at the limit (30); ``over_limit`` above it (31+, only reached by override).
    """
    _non_negative("active_clients", active_clients)
    if limit <= 0:
        raise ValueError("limit must be at least 1")
    if not 0 <= warn_above <= limit:
        raise ValueError("warn_above must be between 0 and limit")
    if active_clients > limit:
        return "over_limit"
    if active_clients == limit:
        return "at_limit"
    if active_clients > warn_above:
        return "warning"
    return "ok"


def can_assign(
    active_clients: int,
    *,
    limit: int = CASELOAD_LIMIT,
    supervisor_override: bool = False,
) -> Decision:
    """Whether one more client may be assigned to a specialist with ``active_clients``.

    Source: trailblazer caseload of at most 30 per employment specialist. Taking the caseload up
    to the limit is allowed (29 -> 30); beyond it (30 -> 31) needs a supervisor's override, and is
    allowed only when ``supervisor_override`` is given.
    """
    _non_negative("active_clients", active_clients)
    if limit <= 0:
        raise ValueError("limit must be at least 1")
    after = active_clients + 1
    if after <= limit:
        return Decision(
            allowed=True,
            needs_override=False,
            reason=f"Caseload would be {after}, within the limit of {limit}.",
        )
    if supervisor_override:
        return Decision(
            allowed=True,
            needs_override=True,
            reason=f"Caseload would be {after}, over the limit of {limit}; "
            "assigned under a supervisor's override.",
        )
    return Decision(
        allowed=False,
        needs_override=True,
        reason=f"Caseload would be {after}, over the limit of {limit}; "
        "a supervisor's override is needed.",
    )


def caseload_fidelity_score(clients: int, fte: float) -> int:
    """IPS-25 item 1, caseload size, scored 1-5 on clients per full-time-equivalent specialist.

    5 = 20 or fewer, 4 = 21-25, 3 = 26-30, 2 = 31-40, 1 = 41 or more. ``clients`` and ``fte`` may
    be one specialist's or a whole team's totals. The ratio is compared exactly (``fte`` is read
    as the decimal it was written as, so 6 clients at 0.3 FTE is 20, not 20.000000000000004), and
    a fractional ratio belongs to the band above a whole-number ceiling it exceeds: 20.5 per FTE
    is not "20 or fewer" and scores 4.
    """
    _non_negative("clients", clients)
    if not fte > 0:
        raise ValueError("fte must be more than 0")
    per_fte = Fraction(clients) / Fraction(str(fte))
    for ceiling, score in ((20, 5), (25, 4), (30, 3), (40, 2)):
        if per_fte <= ceiling:
            return score
    return 1
