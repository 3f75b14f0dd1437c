"""Benefit off-flow, computed from a client's dated benefit history. Pure: no clock, no database;
the caller passes the day to count to (``as_of``, from ``app.clock`` through the context).

Definitions (docs/reports.md prints the same words):

* A claim is *in force* on the days from its start to the day before its end: ``ended_on`` is the
  first day the client was no longer paid it. An open claim (no end) is in force from its start.
* *Out-of-work* benefits are ESA (every group), JSA, and Universal Credit in every conditionality
  regime except "working enough" (the regime of a claimant whose earnings are already at the
  threshold: in work, not out of it). PIP is paid in or out of work, so it is never out-of-work;
  "other" benefits are not counted either.
* Out-of-work claims that overlap, follow back to back, or where one restarts fewer than
  ``window_days`` days after the end of another, are one *spell* on benefits: a claim that ends
  and restarts within the window is not an off-flow.
* An *off-flow* is the end of a spell: the client is off out-of-work benefits from the day their
  last out-of-work claim of the spell ends, with no other out-of-work claim in force. It is
  *confirmed* once ``window_days`` days have passed since then with no new claim (before that it
  is *pending*: a restart could still join it to the spell).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final

DEFAULT_RESTART_WINDOW_DAYS: Final = 28
"""The default of the ``benefit_restart_window_days`` setting (``app.config``). The programme's
documents name off-flow as an outcome without defining a restart window, so four weeks is
Teamwell's own choice (docs/reports.md, "Where the 28 days comes from"); a programme with its
evaluators' definition sets its own."""


class BenefitKind(StrEnum):
    esa = "esa"  # Employment and Support Allowance
    universal_credit = "universal_credit"
    jsa = "jsa"  # Jobseeker's Allowance
    pip = "pip"  # Personal Independence Payment: paid in or out of work
    other = "other"


class EsaGroup(StrEnum):
    assessment_phase = "assessment_phase"
    work_related_activity = "work_related_activity"
    support = "support"


class UcRegime(StrEnum):
    """Universal Credit conditionality regimes (labour-market regimes)."""

    intensive_work_search = "intensive_work_search"
    light_touch = "light_touch"
    work_preparation = "work_preparation"
    work_focused_interview = "work_focused_interview"
    no_work_requirements = "no_work_requirements"
    working_enough = "working_enough"


class OffFlowState(StrEnum):
    never_claimed = "never_claimed"  # no out-of-work claim started by as_of
    on_benefits = "on_benefits"  # an out-of-work claim in force on as_of
    pending = "pending"  # the spell ended less than the window ago: a restart would join it
    off = "off"  # off out-of-work benefits for at least the window


@dataclass(frozen=True, slots=True)
class Claim:
    benefit: BenefitKind
    started_on: date
    ended_on: date | None = None
    uc_regime: UcRegime | None = None


@dataclass(frozen=True, slots=True)
class Spell:
    """Days on out-of-work benefits, ``[started_on, ended_on)``; ``ended_on`` None while open."""

    started_on: date
    ended_on: date | None


@dataclass(frozen=True, slots=True)
class OffFlowStatus:
    state: OffFlowState
    off_since: date | None  # the day the last spell ended (pending or off)
    days_off: int | None  # as_of - off_since, in days
    off_flows: tuple[date, ...]  # every confirmed off-flow day up to as_of, oldest first


def is_out_of_work(claim: Claim) -> bool:
    if claim.benefit in (BenefitKind.esa, BenefitKind.jsa):
        return True
    if claim.benefit == BenefitKind.universal_credit:
        return claim.uc_regime != UcRegime.working_enough
    return False


def in_force(claim: Claim, day: date) -> bool:
    return claim.started_on <= day and (claim.ended_on is None or day < claim.ended_on)


def on_out_of_work_benefit(claims: tuple[Claim, ...] | list[Claim], day: date) -> bool:
    """Whether any out-of-work claim is in force on ``day`` (the baseline at referral)."""
    return any(is_out_of_work(c) and in_force(c, day) for c in claims)


def spells(
    claims: tuple[Claim, ...] | list[Claim], *, as_of: date, window_days: int
) -> list[Spell]:
    """The out-of-work spells known on ``as_of``: claims started after it are not yet known and
    an end after it is not yet reached (the claim is still in force)."""
    known = sorted(
        (
            (c.started_on, c.ended_on if c.ended_on is not None and c.ended_on <= as_of else None)
            for c in claims
            if is_out_of_work(c) and c.started_on <= as_of
        ),
        key=lambda pair: pair[0],
    )
    found: list[Spell] = []
    window = timedelta(days=window_days)
    for start, end in known:
        if found:
            last = found[-1]
            # Overlapping, back to back, or restarting within the window (fewer than
            # ``window_days`` days after the last end): the same spell.
            if last.ended_on is None or start <= last.ended_on or start < last.ended_on + window:
                if last.ended_on is None or end is None:
                    merged_end = None
                else:
                    merged_end = max(last.ended_on, end)
                found[-1] = Spell(last.started_on, merged_end)
                continue
        found.append(Spell(start, end))
    return found


def off_flow(
    claims: tuple[Claim, ...] | list[Claim], *, as_of: date, window_days: int
) -> OffFlowStatus:
    """Where the client stands on ``as_of``: on benefits, off (and since when), or pending."""
    if window_days < 0:
        raise ValueError("window_days must not be negative")
    found = spells(claims, as_of=as_of, window_days=window_days)
    if not found:
        return OffFlowStatus(OffFlowState.never_claimed, None, None, ())
    window = timedelta(days=window_days)
    confirmed = tuple(
        s.ended_on for s in found if s.ended_on is not None and s.ended_on + window <= as_of
    )
    last = found[-1]
    if last.ended_on is None:
        return OffFlowStatus(OffFlowState.on_benefits, None, None, confirmed)
    days_off = (as_of - last.ended_on).days
    state = OffFlowState.off if last.ended_on + window <= as_of else OffFlowState.pending
    return OffFlowStatus(state, last.ended_on, days_off, confirmed)
