"""IPS-25 fidelity self-reviews of a team: recording a review (total and band by the rules in
``app.supervision.rules``), listing a team's reviews over time, and the draft that pre-fills
the three items Teamwell can measure from its own data.

The scoring of the measured items (pure functions below) reads the published IPS-25 anchors as
far as Teamwell's data allow; ``docs/reports.md`` ("IPS-25 fidelity") explains each choice. The
scores are *suggested*: the supervisor decides every item's score.

* Caseload size — ``app.ips.rules.caseload_fidelity_score`` on the clients on the team's
  employment specialists' caseloads per full-time equivalent (FTE). Teamwell does not record
  working hours, so each active employment specialist counts as one FTE unless the supervisor
  gives the team's total FTE.
* Rapid job search — the IPS-25 anchors are the *average* days from programme entry to the first
  face-to-face employer contact: 5 = within 30 days (one month), 4 = 31-60, 3 = 61-150,
  2 = 151-270, 1 = 271 or more. Teamwell takes the mean over the team's clients who joined in
  the window and have had a first employer contact; a fractional mean belongs to the band above
  the whole-number ceiling it exceeds (30.5 days scores 4).
* Job development, frequent employer contact — the anchors count face-to-face employer contacts
  per employment specialist per week: 5 = 6 or more, 4 = 5, 3 = 4, 2 = 2, 1 = fewer than 2.
  Each anchor is read as "at least this many", so 3 a week (between the anchors 2 and 4) scores
  2 and 5.5 scores 4. The manual rates each specialist and averages; Teamwell suggests from the
  team's average rate, and cannot tell face-to-face contacts from others in the log.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.brokerage import service as brokerage_service
from app.context import Context
from app.errors import Conflict, NotFound, Unprocessable
from app.fidelity.models import FidelityReview
from app.fidelity.schemas import (
    CaseloadMeasure,
    EmployerContactMeasure,
    EmployerDiversityMeasure,
    FidelityDraft,
    FidelityReviewCreate,
    FidelityReviewPublic,
    MeasuredItems,
    RapidJobSearchMeasure,
)
from app.ips import rules as ips_rules
from app.ips import service as ips_service
from app.ips.models import EmployerContact
from app.reports import service as reports_service
from app.supervision import rules
from app.teams import service as teams_service
from app.teams.models import Team
from app.users import service as users_service
from app.users.models import Role, User

CASELOAD_ITEM: Final = "caseload size"
RAPID_SEARCH_ITEM: Final = "rapid job search"
EMPLOYER_CONTACT_ITEM: Final = "job development - frequent employer contact"
EMPLOYER_DIVERSITY_ITEM: Final = "diversity of employers"
MEASURED_ITEMS: Final = (
    CASELOAD_ITEM,
    RAPID_SEARCH_ITEM,
    EMPLOYER_CONTACT_ITEM,
    EMPLOYER_DIVERSITY_ITEM,
)

EMPLOYER_DIVERSITY_FLOORS: Final = (
    (Fraction(90, 100), 5),
    (Fraction(75, 100), 4),
    (Fraction(50, 100), 3),
    (Fraction(25, 100), 2),
)
"""Share of jobs with different employers, at least -> score; below 25% scores 1."""

RAPID_SEARCH_CEILINGS: Final = ((30, 5), (60, 4), (150, 3), (270, 2))
"""Mean days from joining to first employer contact, at most -> score; beyond 270 scores 1."""

EMPLOYER_CONTACT_FLOORS: Final = ((6, 5), (5, 4), (4, 3), (2, 2))
"""Employer contacts per specialist per week, at least -> score; fewer than 2 scores 1."""


class InvalidFidelityScores(Unprocessable):
    slug, title = "invalid-fidelity-review", "The IPS-25 scores are not valid"


class FidelityReviewNotFound(NotFound):
    title = "Fidelity review not found"


class FidelityReviewExists(Conflict):
    slug, title = "fidelity-review-exists", "This team already has a review on that date"


@dataclass(frozen=True)
class FidelitySettings:
    contact_weeks: int = 4
    rapid_search_days: int = 365


# --- pure scoring ----------------------------------------------------------------------------


def rapid_job_search_score(mean_days: Fraction | float) -> int:
    """IPS-25 rapid job search from the mean days to the first employer contact."""
    if mean_days < 0:
        raise ValueError("mean_days must not be negative")
    for ceiling, score in RAPID_SEARCH_CEILINGS:
        if mean_days <= ceiling:
            return score
    return 1


def employer_contact_score(per_specialist_per_week: Fraction | float) -> int:
    """IPS-25 job development (frequent employer contact) from contacts per specialist a week."""
    if per_specialist_per_week < 0:
        raise ValueError("the rate must not be negative")
    for floor, score in EMPLOYER_CONTACT_FLOORS:
        if per_specialist_per_week >= floor:
            return score
    return 1


def employer_diversity_score(share: Fraction | float) -> int:
    """IPS-25 diversity of employers from the share of jobs with different employers."""
    if not 0 <= share <= 1:
        raise ValueError("the share must be from 0 to 1")
    for floor, score in EMPLOYER_DIVERSITY_FLOORS:
        if share >= floor:
            return score
    return 1


def score_problems(scores: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every fault in a set of IPS-25 scores, each naming its field: a missing item, an unknown
    item, or a score that is not a whole number 1-5."""
    problems = [
        {"field": f"body.scores.{item}", "message": "missing: every IPS-25 item is scored"}
        for item in rules.FIDELITY_ITEMS
        if item not in scores
    ]
    problems += [
        {"field": f"body.scores.{name}", "message": "not an IPS-25 item"}
        for name in sorted(set(scores) - set(rules.FIDELITY_ITEMS))
    ]
    low, high = rules.FIDELITY_ITEM_MIN, rules.FIDELITY_ITEM_MAX
    problems += [
        {
            "field": f"body.scores.{item}",
            "message": f"must be a whole number {low}-{high}, got {scores[item]!r}",
        }
        for item in rules.FIDELITY_ITEMS
        if item in scores
        and (
            isinstance(scores[item], bool)
            or not isinstance(scores[item], int)
            or not low <= scores[item] <= high
        )
    ]
    return problems


def _decimal(value: Fraction, places: int = 2) -> float:
    return round(float(value), places)


# --- measuring -------------------------------------------------------------------------------


async def team_specialists(*, session: AsyncSession, team_id: uuid.UUID) -> list[User]:
    """The team's active employment specialists."""
    members = await teams_service.member_ids(session=session, team_id=team_id)
    if not members:
        return []
    rows = await session.exec(
        select(User).where(
            col(User.id).in_(members),
            User.role == Role.employment_specialist,
            col(User.is_active).is_(True),
        )
    )
    return list(rows.all())


async def _caseload(
    session: AsyncSession, specialists: list[User], specialist_fte: float | None
) -> CaseloadMeasure:
    caseloads = await ips_service.caseload_clients(
        session=session, specialist_ids={s.id for s in specialists}
    )
    clients = sum(len(found) for found in caseloads.values())
    fte = specialist_fte if specialist_fte is not None else float(len(specialists))
    source = "given" if specialist_fte is not None else "one_per_specialist"
    if fte <= 0:
        return CaseloadMeasure(
            specialists=len(specialists),
            fte=None,
            fte_source=source,
            clients=clients,
            clients_per_fte=None,
            suggested_score=None,
            basis="No active employment specialist is on the team, so there is no caseload "
            "ratio to measure.",
        )
    per_fte = Fraction(clients) / Fraction(str(fte))
    assumption = (
        "the full-time equivalents given"
        if specialist_fte is not None
        else "each active employment specialist counted as one full-time equivalent"
    )
    return CaseloadMeasure(
        specialists=len(specialists),
        fte=fte,
        fte_source=source,
        clients=clients,
        clients_per_fte=_decimal(per_fte),
        suggested_score=ips_rules.caseload_fidelity_score(clients, fte),
        basis=f"Open cases on the team's employment specialists' caseloads now, per full-time "
        f"equivalent ({assumption}). 5 = 20 or fewer, 4 = 21-25, 3 = 26-30, 2 = 31-40, "
        "1 = 41 or more.",
    )


async def _rapid_search(
    session: AsyncSession, team: Team, reviewed_on: date, window_days: int
) -> RapidJobSearchMeasure:
    window_from = reviewed_on - timedelta(days=window_days - 1)
    facts = await reports_service.client_facts(
        session=session,
        team_ids=[team.id],
        first_day=window_from,
        as_of=reviewed_on,
        with_outcomes=False,
    )
    joined = [c for c in facts if window_from <= c.joined_on <= reviewed_on]
    days = [
        max(0, (c.first_employer_contact_on - c.joined_on).days)
        for c in joined
        if c.first_employer_contact_on is not None
    ]
    waiting = sum(
        1
        for c in joined
        if c.first_employer_contact_on is None
        and reviewed_on > ips_rules.first_contact_due_on(c.joined_on)
    )
    mean = Fraction(sum(days), len(days)) if days else None
    return RapidJobSearchMeasure(
        window_from=window_from,
        window_to=reviewed_on,
        clients_joined=len(joined),
        clients_contacted=len(days),
        mean_days=_decimal(mean, 1) if mean is not None else None,
        median_days=float(statistics.median(days)) if days else None,
        waiting_over_30_days=waiting,
        suggested_score=rapid_job_search_score(mean) if mean is not None else None,
        basis="Mean days from joining (first meeting, or the day the record was made) to the "
        "first employer contact, for the team's clients who joined in the window and have had "
        "one. 5 = within 30, 4 = 31-60, 3 = 61-150, 2 = 151-270, 1 = 271 or more. Clients "
        "still waiting are not in the mean: see waiting_over_30_days.",
    )


async def _employer_contacts(
    session: AsyncSession, specialists: list[User], reviewed_on: date, weeks: int
) -> EmployerContactMeasure:
    window_from = reviewed_on - timedelta(days=7 * weeks - 1)
    contacts = 0
    if specialists:
        contacts = int(
            (
                await session.exec(
                    select(func.count()).where(
                        col(EmployerContact.specialist_id).in_([s.id for s in specialists]),
                        col(EmployerContact.contacted_on) >= window_from,
                        col(EmployerContact.contacted_on) <= reviewed_on,
                    )
                )
            ).one()
        )
    rate = Fraction(contacts, len(specialists) * weeks) if specialists else None
    return EmployerContactMeasure(
        window_from=window_from,
        window_to=reviewed_on,
        weeks=weeks,
        specialists=len(specialists),
        contacts=contacts,
        contacts_per_specialist_per_week=_decimal(rate) if rate is not None else None,
        suggested_score=employer_contact_score(rate) if rate is not None else None,
        basis="Employer contacts the team's employment specialists logged in the window, per "
        "specialist per week. 5 = 6 or more, 4 = 5, 3 = 4, 2 = 2, 1 = fewer than 2 (each "
        "anchor read as 'at least'). The log does not say which contacts were face to face.",
    )


async def _employer_diversity(
    session: AsyncSession,
    team: Team,
    specialists: list[User],
    reviewed_on: date,
    window_days: int,
    contact_weeks: int,
) -> EmployerDiversityMeasure:
    window_from = reviewed_on - timedelta(days=window_days - 1)
    facts = await reports_service.client_facts(
        session=session,
        team_ids=[team.id],
        first_day=window_from,
        as_of=reviewed_on,
        with_outcomes=False,
    )
    names = [
        " ".join(job.employer.casefold().split())
        for c in facts
        for job in c.jobs
        if window_from <= job.started_on <= reviewed_on
    ]
    share = Fraction(len(set(names)), len(names)) if names else None
    directory, contacted = await brokerage_service.directory_use(
        session=session,
        specialist_ids=[s.id for s in specialists],
        contacted_from=reviewed_on - timedelta(days=7 * contact_weeks - 1),
        contacted_to=reviewed_on,
    )
    return EmployerDiversityMeasure(
        window_from=window_from,
        window_to=reviewed_on,
        jobs=len(names),
        employers=len(set(names)),
        share_different=_decimal(share, 4) if share is not None else None,
        directory_employers=directory,
        directory_employers_contacted=contacted,
        suggested_score=employer_diversity_score(share) if share is not None else None,
        basis="Job starts of the team's clients in the window and how many different employers "
        "they are with (names, case and spacing ignored). 5 = 90-100% different, 4 = 75-89%, "
        "3 = 50-74%, 2 = 25-49%, 1 = under 25%. The employer directory and the contacts "
        "logged against it show how many employers the specialists work with.",
    )


async def measure(
    *,
    session: AsyncSession,
    team: Team,
    reviewed_on: date,
    specialist_fte: float | None,
    settings: FidelitySettings,
) -> MeasuredItems:
    """The three items Teamwell measures, for a review on ``reviewed_on``."""
    specialists = await team_specialists(session=session, team_id=team.id)
    return MeasuredItems(
        caseload_size=await _caseload(session, specialists, specialist_fte),
        rapid_job_search=await _rapid_search(
            session, team, reviewed_on, settings.rapid_search_days
        ),
        frequent_employer_contact=await _employer_contacts(
            session, specialists, reviewed_on, settings.contact_weeks
        ),
        diversity_of_employers=await _employer_diversity(
            session,
            team,
            specialists,
            reviewed_on,
            settings.rapid_search_days,
            settings.contact_weeks,
        ),
    )


def suggested_scores(measured: MeasuredItems) -> dict[str, int]:
    found = {
        CASELOAD_ITEM: measured.caseload_size.suggested_score,
        RAPID_SEARCH_ITEM: measured.rapid_job_search.suggested_score,
        EMPLOYER_CONTACT_ITEM: measured.frequent_employer_contact.suggested_score,
        EMPLOYER_DIVERSITY_ITEM: measured.diversity_of_employers.suggested_score,
    }
    return {item: score for item, score in found.items() if score is not None}


def not_after_today(reviewed_on: date, today: date, field: str) -> None:
    ips_service.refuse_future(
        reviewed_on, today, field=field, advice="a review is of a day that has come."
    )


async def draft(
    *,
    session: AsyncSession,
    team: Team,
    reviewed_on: date,
    today: date,
    specialist_fte: float | None,
    settings: FidelitySettings,
) -> FidelityDraft:
    not_after_today(reviewed_on, today, "query.reviewed_on")
    measured = await measure(
        session=session,
        team=team,
        reviewed_on=reviewed_on,
        specialist_fte=specialist_fte,
        settings=settings,
    )
    return FidelityDraft(
        team_id=team.id,
        reviewed_on=reviewed_on,
        items=list(rules.FIDELITY_ITEMS),
        scores=suggested_scores(measured),
        measured=measured,
    )


# --- reviews ---------------------------------------------------------------------------------


async def record(
    *,
    session: AsyncSession,
    ctx: Context,
    team: Team,
    reviewer: User,
    data: FidelityReviewCreate,
    settings: FidelitySettings,
) -> FidelityReview:
    """Store a review: the 25 scores in scale order, total and band, and what Teamwell
    measured for the pre-filled items on the review date."""
    not_after_today(data.reviewed_on, ctx.now().date(), "body.reviewed_on")
    problems = score_problems(data.scores)
    if problems:
        raise InvalidFidelityScores(
            "; ".join(
                f"{p['field'].removeprefix('body.scores.')}: {p['message']}" for p in problems
            ),
            extra={"errors": problems},
        )
    existing = await session.exec(
        select(FidelityReview.id).where(
            FidelityReview.team_id == team.id, FidelityReview.reviewed_on == data.reviewed_on
        )
    )
    if existing.first() is not None:
        raise FidelityReviewExists(
            f"{team.name} already has a fidelity review on {data.reviewed_on.isoformat()}."
        )
    total = rules.fidelity_total(data.scores)
    measured = await measure(
        session=session,
        team=team,
        reviewed_on=data.reviewed_on,
        specialist_fte=data.specialist_fte,
        settings=settings,
    )
    review = FidelityReview(
        team_id=team.id,
        reviewed_on=data.reviewed_on,
        reviewer_id=reviewer.id,
        scores={item: data.scores[item] for item in rules.FIDELITY_ITEMS},
        measured=measured.model_dump(mode="json", by_alias=True),
        total=total,
        band=rules.fidelity_band(total),
        note=data.note,
        created_at=ctx.now(),
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError:
        # Another review of this team on this date was stored in between.
        raise FidelityReviewExists(
            f"{team.name} already has a fidelity review on {data.reviewed_on.isoformat()}."
        ) from None
    return review


async def reviews_of(*, session: AsyncSession, team_id: uuid.UUID) -> list[FidelityReview]:
    """The team's reviews, oldest first (the order a chart of change reads them)."""
    rows = await session.exec(
        select(FidelityReview)
        .where(FidelityReview.team_id == team_id)
        .order_by(col(FidelityReview.reviewed_on), col(FidelityReview.id))
    )
    return list(rows.all())


async def get(*, session: AsyncSession, team_id: uuid.UUID, review_id: uuid.UUID) -> FidelityReview:
    review = await session.get(FidelityReview, review_id)
    if review is None or review.team_id != team_id:
        raise FidelityReviewNotFound()
    return review


async def public(
    *, session: AsyncSession, reviews: list[FidelityReview]
) -> list[FidelityReviewPublic]:
    names = await users_service.names(session=session, ids={r.reviewer_id for r in reviews})
    return [
        FidelityReviewPublic(
            id=r.id,
            team_id=r.team_id,
            reviewed_on=r.reviewed_on,
            reviewer_id=r.reviewer_id,
            reviewer_name=names.get(r.reviewer_id),
            scores={item: int(r.scores[item]) for item in rules.FIDELITY_ITEMS if item in r.scores},
            total=r.total,
            band=rules.fidelity_band(r.total),
            note=r.note,
            measured=dict(r.measured or {}),
            created_at=r.created_at,
        )
        for r in reviews
    ]
