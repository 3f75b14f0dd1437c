"""Matching a client's job preferences to vacancies: a pure, explained rule.

Nothing here reads a clock, a database or the environment. The caller passes the client's
preferences (from the vocational profile of their plan: job types, locations, hours a week,
sectors, minimum hourly pay),
the vacancies with their employer's sector, the wage threshold and ``today``.

Each criterion gives ``met``, ``not_met`` or ``unknown`` (the client stated no preference, or
the vacancy does not say), with the reason in words:

* **type** — a preferred job type appears in the vacancy's title or its sector's name, or the
  sector's letter is named (case and spacing ignored);
* **location** — a preferred location appears in the vacancy's location, or the other way round;
* **hours** — the vacancy's hours are within ``HOURS_TOLERANCE`` of the preferred hours;
* **pay** — the vacancy pays at least the wage threshold (job quality, docs/reports.md);
* **sector** — the employer's sector (a UK SIC 2007 section letter, the list job quality uses)
  is one of the client's preferred sectors;
* **minimum_pay** — the vacancy pays at least the client's own minimum hourly pay.

A vacancy is a match when it is open, its closing day has not passed, and no criterion is
``not_met``: so a vacancy outside the client's sectors or below their own minimum pay is not
suggested at all, rather than ranked lower, as the client said they would not take it.
Matches are ordered by how many criteria are met, then by closing day (soonest first, none
last), then by title. IPS job search follows the client's preferences, so an unknown is never
held against a vacancy: the specialist sees why it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

HOURS_TOLERANCE: Final = 8.0
"""Hours a week a vacancy may differ from the preferred hours and still match them."""

Outcome = Literal["met", "not_met", "unknown"]
CRITERIA: Final = ("type", "location", "hours", "pay", "sector", "minimum_pay")


@dataclass(frozen=True)
class Preferences:
    types: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    hours_per_week: float | None = None
    sectors: tuple[str, ...] = ()
    min_hourly_pay_pence: int | None = None


@dataclass(frozen=True)
class Opening:
    """A vacancy as the rule sees it."""

    key: str
    title: str
    status: str
    hours_per_week: float
    hourly_pay_pence: int | None = None
    location: str | None = None
    sector: str | None = None
    closing_on: date | None = None


@dataclass(frozen=True)
class Criterion:
    name: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Match:
    opening: Opening
    criteria: tuple[Criterion, ...]

    @property
    def met(self) -> int:
        return sum(c.outcome == "met" for c in self.criteria)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _type(prefs: Preferences, opening: Opening, sectors: Mapping[str, str]) -> Criterion:
    wanted = [_norm(t) for t in prefs.types if t.strip()]
    if not wanted:
        return Criterion("type", "unknown", "No preferred job type recorded")
    sector = sectors.get(opening.sector or "", "")
    within = f"{_norm(opening.title)} | {_norm(sector)}"
    for raw, want in zip(prefs.types, wanted, strict=False):
        if want in within or (opening.sector and want == opening.sector.casefold()):
            return Criterion("type", "met", f"Preferred type “{raw.strip()}” fits this job")
    return Criterion("type", "not_met", "None of the preferred job types fits this job")


def _location(prefs: Preferences, opening: Opening) -> Criterion:
    wanted = [(raw.strip(), _norm(raw)) for raw in prefs.locations if raw.strip()]
    if not wanted:
        return Criterion("location", "unknown", "No preferred location recorded")
    if not opening.location or not opening.location.strip():
        return Criterion("location", "unknown", "The vacancy gives no location")
    where = _norm(opening.location)
    for raw, want in wanted:
        if want in where or where in want:
            return Criterion("location", "met", f"In the preferred location “{raw}”")
    return Criterion("location", "not_met", "Not in any preferred location")


def _hours(prefs: Preferences, opening: Opening, tolerance: float) -> Criterion:
    if prefs.hours_per_week is None:
        return Criterion("hours", "unknown", "No preferred hours recorded")
    gap = abs(opening.hours_per_week - prefs.hours_per_week)
    text = f"{opening.hours_per_week:g} hours a week against {prefs.hours_per_week:g} preferred"
    return Criterion("hours", "met" if gap <= tolerance else "not_met", text)


def _pay(opening: Opening, threshold_pence: int, threshold_name: str) -> Criterion:
    if opening.hourly_pay_pence is None:
        return Criterion("pay", "unknown", "The vacancy gives no hourly pay")
    if opening.hourly_pay_pence >= threshold_pence:
        return Criterion("pay", "met", f"Pays at least the {threshold_name}")
    return Criterion("pay", "not_met", f"Pays less than the {threshold_name}")


def _sector(prefs: Preferences, opening: Opening, sectors: Mapping[str, str]) -> Criterion:
    if not prefs.sectors:
        return Criterion("sector", "unknown", "No preferred sector recorded")
    if not opening.sector:
        return Criterion("sector", "unknown", "The employer's sector is not recorded")
    name = sectors.get(opening.sector, opening.sector)
    if opening.sector in prefs.sectors:
        return Criterion("sector", "met", f"In a preferred sector ({name})")
    return Criterion("sector", "not_met", f"Not in a preferred sector ({name})")


def _minimum_pay(prefs: Preferences, opening: Opening) -> Criterion:
    if prefs.min_hourly_pay_pence is None:
        return Criterion("minimum_pay", "unknown", "No minimum hourly pay recorded")
    if opening.hourly_pay_pence is None:
        return Criterion("minimum_pay", "unknown", "The vacancy gives no hourly pay")
    wanted = f"£{prefs.min_hourly_pay_pence / 100:.2f}"
    if opening.hourly_pay_pence >= prefs.min_hourly_pay_pence:
        return Criterion("minimum_pay", "met", f"Pays at least the client's minimum of {wanted}")
    return Criterion("minimum_pay", "not_met", f"Pays less than the client's minimum of {wanted}")


def is_live(opening: Opening, today: date) -> bool:
    """Open, and its closing day (the last day to apply) has not passed."""
    return opening.status == "open" and (opening.closing_on is None or today <= opening.closing_on)


def assess(
    prefs: Preferences,
    opening: Opening,
    *,
    sectors: Mapping[str, str],
    threshold_pence: int,
    threshold_name: str = "wage threshold",
    tolerance: float = HOURS_TOLERANCE,
) -> Match:
    """Every criterion for one vacancy, with its reason."""
    return Match(
        opening=opening,
        criteria=(
            _type(prefs, opening, sectors),
            _location(prefs, opening),
            _hours(prefs, opening, tolerance),
            _pay(opening, threshold_pence, threshold_name),
            _sector(prefs, opening, sectors),
            _minimum_pay(prefs, opening),
        ),
    )


def matches(
    prefs: Preferences,
    openings: Sequence[Opening],
    *,
    today: date,
    sectors: Mapping[str, str],
    threshold_pence: int,
    threshold_name: str = "wage threshold",
    tolerance: float = HOURS_TOLERANCE,
) -> list[Match]:
    """The live vacancies no criterion rules out, best first (see the module's docstring)."""
    found = [
        assess(
            prefs,
            o,
            sectors=sectors,
            threshold_pence=threshold_pence,
            threshold_name=threshold_name,
            tolerance=tolerance,
        )
        for o in openings
        if is_live(o, today)
    ]
    kept = [m for m in found if all(c.outcome != "not_met" for c in m.criteria)]
    return sorted(
        kept,
        key=lambda m: (
            -m.met,
            m.opening.closing_on is None,
            m.opening.closing_on or date.max,
            m.opening.title.casefold(),
            m.opening.key,
        ),
    )


# --- applications ---------------------------------------------------------------------------

NEXT_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    "applied": frozenset({"interview", "offer", "unsuccessful", "withdrawn"}),
    "interview": frozenset({"offer", "unsuccessful", "withdrawn"}),
    "offer": frozenset({"started", "unsuccessful", "withdrawn"}),
    "started": frozenset(),
    "unsuccessful": frozenset(),
    "withdrawn": frozenset(),
}
"""Where an application may move from each status: forward only, and ``started`` (the job
start) only from an accepted offer. The last three are final."""


def can_move(current: str, to: str) -> bool:
    return to in NEXT_STATUSES.get(current, frozenset())
