"""Programme report figures: each figure's definition as data, and the pure computation.

Nothing here reads a clock, a database or the environment. The caller passes the facts of the
scope's clients (``ClientFacts``), the period's first day and the day the figures are counted to
(``as_of``: the period's last day, or today when that is earlier), and the suppression threshold.
``docs/reports.md`` prints the same definitions; the web client shows them from the report.

Sources (the project's domain notes, which draw on the IPS trailblazer documents and NHS Talking
Therapies conventions):

* IPS rapid job search — first employer contact within 30 days of joining
  (``app.ips.rules.first_contact_due_on``).
* Job sustainment at 13, 26 and 52 weeks (``app.ips.rules.sustainment_checks``), of competitive
  jobs only unless the ``sustainment_competitive_only`` setting is off
  (``app.ips.rules.counts_for_sustainment``): IPS counts competitive employment.
* Job quality — pay against the wage threshold in force when the job was recorded (by default
  the Real Living Wage), contract type, competitive or not.
* Talking Therapies — recovery counts only clients at caseness at the first measure; reliable
  improvement counts every client with two paired measures (``app.measures.scoring.change``).
* Small-number suppression — ``app.supervision.rules.suppress`` and ``rate``.
* Benefit off-flow — ``app.benefits.rules`` (out-of-work benefits, spells, the restart window);
  the trailblazer's evaluation counts "out-of-work benefit off-flows".
* Eligibility at referral — ``app.clients.eligibility``.

Suppression (what leaves the service)
    1. *Primary*: a count from 1 to ``threshold - 1`` is withheld (zero is shown).
    2. A figure whose denominator is withheld shows neither its numerator (even 0) nor its value:
       "0 of 2" says something about both people.
    3. *Complementary*, when the figures are split by arm: the arms and "not allocated" add up to
       the overall figure shown beside them, so a single withheld part could be worked out by
       subtraction. Whenever exactly one part of a count is withheld while the overall count is
       shown, the smallest other non-zero part is withheld too (ties: in group order).
    4. A proportion or a median is shown only when every count it is made from is shown.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, TypeVar

from app.benefits import rules as benefit_rules
from app.ips import rules as ips_rules
from app.supervision.rules import rate, suppress

Unit = Literal["count", "proportion", "days", "hours"]
Group = Literal["ips", "treatment_as_usual", "not_allocated"]

ARM_GROUPS: Final[tuple[Group, ...]] = ("ips", "treatment_as_usual", "not_allocated")
"""The parts of a split by evaluation arm, in the order they are shown. A client with no
allocation in any trial is "not allocated"."""

PROPORTION_DECIMALS: Final = 4

K = TypeVar("K", bound=str)
CONTRACT_LABELS: Final[Mapping[str, str]] = {
    "permanent": "permanent",
    "fixed_term": "fixed-term",
    "zero_hours": "zero-hours",
    "self_employed": "self-employed",
    "apprenticeship": "apprenticeship",
}
"""The contract mix shown beside job entries (``app.ips.models.ContractType`` values)."""


@dataclass(frozen=True, slots=True)
class Definition:
    """What a figure counts, in words shown beside it."""

    key: str
    label: str
    unit: Unit
    definition: str
    numerator: str
    denominator: str | None


def _sustained(weeks: int) -> Definition:
    return Definition(
        key=f"sustained_{weeks}_weeks",
        label=f"Jobs sustained at {weeks} weeks",
        unit="proportion",
        definition=(
            f"Of the competitive jobs whose {weeks}-week point (the start day + {weeks} weeks) "
            "fell in the period, the share the client still held on that day (a job that ended "
            "on that day counts as held). Jobs that are not competitive are left out, as IPS "
            "does, unless the service counts every job (the sustainment_competitive_only "
            "setting)."
        ),
        numerator=f"Jobs still held at their {weeks}-week point",
        denominator=f"Jobs whose {weeks}-week point fell in the period",
    )


DEFINITIONS: Final[tuple[Definition, ...]] = (
    Definition(
        key="referrals",
        label="Referrals",
        unit="count",
        definition="Referrals dated in the period, for clients of the scope (a re-referral "
        "counts again).",
        numerator="Referrals dated in the period",
        denominator=None,
    ),
    Definition(
        key="ineligible_referrals",
        label="Ineligible referrals",
        unit="count",
        definition="Referrals dated in the period whose eligibility answers made them "
        "ineligible (they are counted in Referrals too; none is dropped).",
        numerator="Referrals dated in the period recorded as ineligible",
        denominator=None,
    ),
    Definition(
        key="engagement",
        label="Engagement",
        unit="proportion",
        definition="Of the clients with a referral dated in the period, the share who had "
        "their first meeting with the team by the end of the period.",
        numerator="Clients referred in the period who had a first meeting",
        denominator="Clients with a referral dated in the period",
    ),
    Definition(
        key="job_entries",
        label="Job entries",
        unit="count",
        definition="Jobs started in the period, competitive or not (a client starting two jobs "
        "counts twice).",
        numerator="Job starts dated in the period",
        denominator=None,
    ),
    Definition(
        key="job_entries_competitive",
        label="Job entries: competitive",
        unit="proportion",
        definition="Of the jobs started in the period, the share that are competitive: open "
        "to anyone on the open labour market and paid at least the usual rate, not set aside "
        "for disabled people (the IPS goal).",
        numerator="Competitive job starts dated in the period",
        denominator="Job starts dated in the period",
    ),
    Definition(
        key="job_entries_at_wage_threshold",
        label="Job entries: at or above the wage threshold",
        unit="proportion",
        definition="Of the jobs started in the period whose hourly pay was recorded, the share "
        "paid at or above the wage threshold in force when the job was recorded (by default "
        "the Real Living Wage; the wage_threshold_pence setting).",
        numerator="Job starts paid at or above the wage threshold",
        denominator="Job starts dated in the period with their hourly pay recorded",
    ),
    Definition(
        key="job_entries_median_hours",
        label="Job entries: median hours a week",
        unit="hours",
        definition="The median contracted hours a week of the jobs started in the period.",
        numerator="Median hours a week",
        denominator="Job starts dated in the period",
    ),
    *(
        Definition(
            key=f"job_entries_{contract}",
            label=f"Job entries: {label}",
            unit="count",
            definition=f"Jobs started in the period on a {label} contract (contract mix).",
            numerator=f"Job starts on a {label} contract dated in the period",
            denominator=None,
        )
        for contract, label in CONTRACT_LABELS.items()
    ),
    _sustained(13),
    _sustained(26),
    _sustained(52),
    Definition(
        key="benefit_off_flows",
        label="Benefit off-flows",
        unit="count",
        definition="Clients who left out-of-work benefits (ESA, JSA, or Universal Credit in any "
        "regime but working enough; PIP is not one) on a day in the period and did not claim "
        "one again within the restart window: the day the last out-of-work claim of a spell "
        "ended, with no other in force. Claims that restart within the window are one spell. "
        "An off-flow is counted once the window has passed by the end of the period; a client "
        "counts once.",
        numerator="Clients with an off-flow dated in the period, confirmed by its end",
        denominator=None,
    ),
    Definition(
        key="off_flow_rate",
        label="Off out-of-work benefits, of those claiming at referral",
        unit="proportion",
        definition="Of the clients with a referral dated in the period who were claiming an "
        "out-of-work benefit on the day of their first referral in the period (the baseline), "
        "the share off out-of-work benefits at the end of the period for at least the restart "
        "window.",
        numerator="Clients off out-of-work benefits for at least the window at the period's end",
        denominator="Clients referred in the period, claiming an out-of-work benefit then",
    ),
    Definition(
        key="first_employer_contact_median_days",
        label="Time to first employer contact (median days)",
        unit="days",
        definition="For clients who joined in the period (their first meeting, or the day "
        "their record was made if there has been none) and have had a first employer contact "
        "by the end of it: the median number of days from joining to that contact (0 when "
        "the contact came first). A first employer contact is the earliest of a recorded "
        "first employer contact, an employer contact logged for the client, or a job start.",
        numerator="Median days from joining to the first employer contact",
        denominator="Clients who joined in the period and had a first employer contact",
    ),
    Definition(
        key="first_employer_contact_within_30_days",
        label="First employer contact within 30 days",
        unit="proportion",
        definition="Of the clients who joined in the period and whose outcome is known by the "
        "end of it (they have had a first employer contact, or 30 days have passed since "
        "joining), the share whose first employer contact was no later than 30 days after "
        "joining (the IPS rapid job search standard).",
        numerator="Clients with a first employer contact within 30 days of joining",
        denominator="Clients who joined in the period, with a contact or 30 days behind them",
    ),
    Definition(
        key="recovery",
        label="Recovery (PHQ-9 and GAD-7)",
        unit="proportion",
        definition="Clients whose latest paired PHQ-9 and anxiety measure (GAD-7 by default) "
        "up to the end of the period was completed in the period, with at least two pairs: of "
        "those at caseness at the first pair (PHQ-9 of 10 or more, or GAD-7 of 8 or more), the "
        "share at neither threshold at the latest pair (NHS Talking Therapies).",
        numerator="Clients at caseness at the first pair and at neither threshold at the latest",
        denominator="Clients at caseness at the first pair",
    ),
    Definition(
        key="reliable_improvement",
        label="Reliable improvement (PHQ-9 and GAD-7)",
        unit="proportion",
        definition="Clients whose latest paired PHQ-9 and anxiety measure up to the end of the "
        "period was completed in the period, with at least two pairs: the share whose PHQ-9 "
        "fell by 6 or more or GAD-7 by 4 or more between the first and the latest pair, with "
        "neither rising by that much (NHS Talking Therapies).",
        numerator="Clients with a reliable improvement",
        denominator="Clients with two or more paired measures, the latest in the period",
    ),
    Definition(
        key="diversion_uptake",
        label="Diversion-pathway uptake",
        unit="proportion",
        definition="Clients whose plan's diversion pathway (life-skills and vocational-skills "
        "activities offered instead of sanctions) was changed in the period and, as it stood "
        "at the end of the period, offered at least one session: the share who had attended "
        "at least one session.",
        numerator="Clients who attended at least one diversion session",
        denominator="Clients offered at least one diversion session, recorded in the period",
    ),
)
BY_KEY: Final[Mapping[str, Definition]] = {d.key: d for d in DEFINITIONS}


# --- the facts a report is made from ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomeFacts:
    """A client's change between their first and latest paired measures up to ``as_of``."""

    last_pair_on: date
    caseness: bool
    recovery: bool
    reliable_improvement: bool


@dataclass(frozen=True, slots=True)
class DiversionFacts:
    """The plan's diversion pathway: the days its section was changed (up to ``as_of``) and,
    as the plan stood at the end of ``as_of``, the sessions offered and attended in all."""

    changed_on: tuple[date, ...]
    sessions_offered: int
    sessions_attended: int


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What is recorded about one client of the scope, dated up to ``as_of``."""

    arm: Group
    referred_on: tuple[date, ...]
    first_meeting_on: date | None
    joined_on: date
    first_employer_contact_on: date | None
    jobs: tuple[ips_rules.Job, ...]
    outcome: OutcomeFacts | None = None
    diversion: DiversionFacts | None = None
    benefit_claims: tuple[benefit_rules.Claim, ...] = ()
    ineligible_referred_on: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class Tally:
    """A figure's raw counts before suppression. ``days`` holds the values a median is taken
    of, days or hours (then ``denominator`` is how many there are and ``numerator`` is None)."""

    numerator: int | None
    denominator: int | None
    days: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Cell:
    """A figure fit to leave the service: withheld parts are None and ``suppressed`` is set."""

    value: float | int | None
    numerator: int | None
    denominator: int | None
    suppressed: bool


# --- counting --------------------------------------------------------------------------------


def tally(
    clients: Sequence[ClientFacts],
    *,
    first_day: date,
    as_of: date,
    window_days: int = benefit_rules.DEFAULT_RESTART_WINDOW_DAYS,
    competitive_only: bool = True,
) -> dict[str, Tally]:
    """Every figure's raw counts for these clients over ``[first_day, as_of]`` (both inclusive);
    ``window_days`` is the benefits' restart window; ``competitive_only``: sustainment counts
    competitive jobs only (the IPS rule)."""
    only = competitive_only
    if as_of < first_day:
        raise ValueError("as_of must not be before first_day")

    def in_period(day: date) -> bool:
        return first_day <= day <= as_of

    found: dict[str, Tally] = {}
    found["referrals"] = Tally(
        sum(1 for c in clients for day in c.referred_on if in_period(day)), None
    )
    found["ineligible_referrals"] = Tally(
        sum(1 for c in clients for day in c.ineligible_referred_on if in_period(day)), None
    )
    referred = [c for c in clients if any(in_period(day) for day in c.referred_on)]
    engaged = [c for c in referred if c.first_meeting_on and c.first_meeting_on <= as_of]
    found["engagement"] = Tally(len(engaged), len(referred))
    found.update(_off_flows(clients, referred, first_day, as_of, window_days))
    jobs = [job for c in clients for job in c.jobs if job.started_on <= as_of]
    found.update(_job_quality([job for job in jobs if in_period(job.started_on)]))
    counted = [j for j in jobs if ips_rules.counts_for_sustainment(j, competitive_only=only)]
    for weeks in ips_rules.SUSTAINMENT_WEEKS:
        reached = held = 0
        for job in counted:
            check = next(c for c in ips_rules.sustainment_checks(job, as_of) if c.weeks == weeks)
            if in_period(check.due_on):
                reached += 1
                # "due": today is the point and the job was held at the start of it.
                held += check.status in ("sustained", "due")
        found[f"sustained_{weeks}_weeks"] = Tally(held, reached)

    joined = [c for c in clients if in_period(c.joined_on)]
    contact_days: list[int] = []
    known = within = 0
    for client in joined:
        contact = client.first_employer_contact_on
        due_on = ips_rules.first_contact_due_on(client.joined_on)
        if contact is not None and contact <= as_of:
            contact_days.append(max(0, (contact - client.joined_on).days))
            known += 1
            within += contact <= due_on
        elif as_of > due_on:
            known += 1
    found["first_employer_contact_median_days"] = Tally(
        None, len(contact_days), tuple(sorted(contact_days))
    )
    found["first_employer_contact_within_30_days"] = Tally(within, known)

    finished = [c.outcome for c in clients if c.outcome and in_period(c.outcome.last_pair_on)]
    cases = [o for o in finished if o.caseness]
    found["recovery"] = Tally(sum(o.recovery for o in cases), len(cases))
    found["reliable_improvement"] = Tally(
        sum(o.reliable_improvement for o in finished), len(finished)
    )

    offered = [
        c.diversion
        for c in clients
        if c.diversion
        and c.diversion.sessions_offered >= 1
        and any(in_period(day) for day in c.diversion.changed_on)
    ]
    found["diversion_uptake"] = Tally(sum(d.sessions_attended >= 1 for d in offered), len(offered))
    return found


def _off_flows(
    clients: Sequence[ClientFacts],
    referred: Sequence[ClientFacts],
    first_day: date,
    as_of: date,
    window_days: int,
) -> dict[str, Tally]:
    off_flowed = 0
    for client in clients:
        status = benefit_rules.off_flow(client.benefit_claims, as_of=as_of, window_days=window_days)
        off_flowed += any(first_day <= day <= as_of for day in status.off_flows)
    claiming = stayed_off = 0
    for client in referred:
        baseline = min(day for day in client.referred_on if first_day <= day <= as_of)
        if not benefit_rules.on_out_of_work_benefit(client.benefit_claims, baseline):
            continue
        claiming += 1
        status = benefit_rules.off_flow(client.benefit_claims, as_of=as_of, window_days=window_days)
        stayed_off += status.state == benefit_rules.OffFlowState.off
    return {
        "benefit_off_flows": Tally(off_flowed, None),
        "off_flow_rate": Tally(stayed_off, claiming),
    }


def _job_quality(started: Sequence[ips_rules.Job]) -> dict[str, Tally]:
    """Job entries and their quality, over the jobs started in the period."""
    found = {"job_entries": Tally(len(started), None)}
    found["job_entries_competitive"] = Tally(sum(j.competitive for j in started), len(started))
    paid = [
        met
        for j in started
        if (met := ips_rules.meets_wage_threshold(j.hourly_pay_pence, j.wage_threshold_pence))
        is not None
    ]
    found["job_entries_at_wage_threshold"] = Tally(sum(paid), len(paid))
    found["job_entries_median_hours"] = Tally(
        None, len(started), tuple(sorted(j.hours_per_week for j in started))
    )
    for contract in CONTRACT_LABELS:
        found[f"job_entries_{contract}"] = Tally(
            sum(j.contract_type == contract for j in started), None
        )
    return found


def tally_by_arm(
    clients: Sequence[ClientFacts],
    *,
    first_day: date,
    as_of: date,
    window_days: int = benefit_rules.DEFAULT_RESTART_WINDOW_DAYS,
    competitive_only: bool = True,
) -> dict[Group, dict[str, Tally]]:
    """:func:`tally` for each arm group (every client is in exactly one)."""
    return {
        group: tally(
            [c for c in clients if c.arm == group],
            first_day=first_day,
            as_of=as_of,
            window_days=window_days,
            competitive_only=competitive_only,
        )
        for group in ARM_GROUPS
    }


# --- suppression -----------------------------------------------------------------------------

_Part = Literal["numerator", "denominator"]


@dataclass(slots=True)
class _Shown:
    """Which counts of one tally may be shown."""

    tally: Tally
    numerator: bool
    denominator: bool

    def count(self, part: _Part) -> int | None:
        return self.tally.numerator if part == "numerator" else self.tally.denominator

    def shown(self, part: _Part) -> bool:
        return self.numerator if part == "numerator" else self.denominator

    def withhold(self, part: _Part) -> None:
        if part == "numerator":
            self.numerator = False
        else:
            self.denominator = False


def _primary(item: Tally, threshold: int) -> _Shown:
    def fit(count: int | None) -> bool:
        return count is None or suppress(count, threshold=threshold) is not None

    denominator = fit(item.denominator)
    # A withheld denominator takes its numerator with it (rule 2).
    return _Shown(item, numerator=denominator and fit(item.numerator), denominator=denominator)


def _complementary(overall: _Shown, parts: Sequence[_Shown], part: _Part) -> None:
    """Rule 3: never exactly one withheld part beside a shown total."""
    if overall.count(part) is None or not overall.shown(part):
        return
    withheld = [p for p in parts if not p.shown(part)]
    if len(withheld) != 1:
        return
    candidates = [p for p in parts if p.shown(part) and (p.count(part) or 0) > 0]
    if candidates:
        min(candidates, key=lambda p: p.count(part) or 0).withhold(part)


def _cell(definition: Definition, shown: _Shown, threshold: int) -> Cell:
    item = shown.tally
    numerator = item.numerator if shown.numerator else None
    denominator = item.denominator if shown.denominator else None
    value: float | int | None
    if definition.unit == "count":
        value = numerator
    elif definition.unit in ("days", "hours"):
        value = float(statistics.median(item.days)) if shown.denominator and item.days else None
    elif numerator is not None and denominator is not None:
        found = rate(numerator, denominator, threshold=threshold)
        value = None if found is None else round(found, PROPORTION_DECIMALS)
    else:
        value = None
    suppressed = (item.numerator is not None and numerator is None) or (
        item.denominator is not None and denominator is None
    )
    return Cell(value=value, numerator=numerator, denominator=denominator, suppressed=suppressed)


def present(
    definition: Definition,
    overall: Tally,
    parts: Mapping[K, Tally] | None = None,
    *,
    threshold: int,
) -> tuple[Cell, dict[K, Cell] | None]:
    """One figure, suppressed for export: the overall cell and, when split, one cell per group
    (``parts`` must add up to ``overall``; the groups are the arms, or equality groups)."""
    shown_overall = _primary(overall, threshold)
    if parts is None:
        return _cell(definition, shown_overall, threshold), None
    groups = list(parts)
    shown_parts = [_primary(parts[group], threshold) for group in groups]
    # Denominators first: a part withheld there has already lost its numerator (rule 2).
    for part in ("denominator", "numerator"):
        _complementary(shown_overall, shown_parts, part)
    return _cell(definition, shown_overall, threshold), {
        group: _cell(definition, shown, threshold)
        for group, shown in zip(groups, shown_parts, strict=True)
    }


@dataclass(frozen=True, slots=True)
class Figure:
    definition: Definition
    overall: Cell
    by_arm: dict[Group, Cell] | None


def figures(
    clients: Sequence[ClientFacts],
    *,
    first_day: date,
    as_of: date,
    threshold: int,
    by_arm: bool,
    window_days: int = benefit_rules.DEFAULT_RESTART_WINDOW_DAYS,
    competitive_only: bool = True,
) -> list[Figure]:
    """Every figure in :data:`DEFINITIONS` order, suppressed for export."""
    overall = tally(
        clients,
        first_day=first_day,
        as_of=as_of,
        window_days=window_days,
        competitive_only=competitive_only,
    )
    split = (
        tally_by_arm(
            clients,
            first_day=first_day,
            as_of=as_of,
            window_days=window_days,
            competitive_only=competitive_only,
        )
        if by_arm
        else None
    )
    found = []
    for definition in DEFINITIONS:
        parts = {g: split[g][definition.key] for g in ARM_GROUPS} if split is not None else None
        cell, cells = present(definition, overall[definition.key], parts, threshold=threshold)
        found.append(Figure(definition=definition, overall=cell, by_arm=cells))
    return found


def as_of_day(last_day: date, today: date) -> date:
    """Figures are counted to the period's last day, or to today when that is earlier."""
    return min(last_day, today)


def period_days(first_day: date, last_day: date) -> int:
    """Days in ``[first_day, last_day]``, both inclusive."""
    return (last_day - first_day).days + 1
