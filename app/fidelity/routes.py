"""IPS-25 fidelity self-reviews of a team (``docs/reports.md``, "IPS-25 fidelity").

A supervisor who is a member of the team records a review for a date: the 25 items scored 1-5,
with the total and band computed, and what Teamwell measured for the items it can (caseload
size, rapid job search, frequent employer contact) kept with it. The draft pre-fills those
items. The team's clinical members read its reviews over time. Every access is audited.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from app.db import SessionDep
from app.fidelity import service
from app.fidelity.schemas import (
    FTE_DESCRIPTION,
    MAX_SPECIALIST_FTE,
    FidelityDraft,
    FidelityReviewCreate,
    FidelityReviewPublic,
)
from auth.deps import TeamAccess, team_access
from auth.policies import teams as team_policies

router = APIRouter(prefix="/teams/{team_id}/fidelity-reviews", tags=["fidelity"])


TeamSupervisor = Annotated[
    TeamAccess, Depends(team_access(team_policies.can_view_team, "fidelity_review.write"))
]
FidelityReader = Annotated[
    TeamAccess, Depends(team_access(team_policies.can_read_fidelity, "fidelity_review.read"))
]
FteQuery = Annotated[float | None, Query(gt=0, le=MAX_SPECIALIST_FTE, description=FTE_DESCRIPTION)]


def fidelity_settings(request: Request) -> service.FidelitySettings:
    settings = request.app.state.settings
    return service.FidelitySettings(
        contact_weeks=settings.fidelity_contact_weeks,
        rapid_search_days=settings.fidelity_rapid_search_days,
    )


FidelitySettingsDep = Annotated[service.FidelitySettings, Depends(fidelity_settings)]


@router.get("/draft", response_model=FidelityDraft)
async def draft_review(
    access: TeamSupervisor,
    session: SessionDep,
    settings: FidelitySettingsDep,
    reviewed_on: Annotated[date | None, Query(description="Defaults to today")] = None,
    specialist_fte: FteQuery = None,
) -> FidelityDraft:
    """A review form for the team pre-filled from its data: the 25 items in scale order, and for
    caseload size, rapid job search and frequent employer contact what Teamwell measured and
    the score it suggests. Team supervisors only."""
    today = access.principal.ctx.now().date()
    day = reviewed_on or today
    found = await service.draft(
        session=session,
        team=access.team,
        reviewed_on=day,
        today=today,
        specialist_fte=specialist_fte,
        settings=settings,
    )
    await access.audit("fidelity_review.draft", detail=day.isoformat())
    return found


@router.post("", response_model=FidelityReviewPublic, status_code=status.HTTP_201_CREATED)
async def record_review(
    body: FidelityReviewCreate,
    access: TeamSupervisor,
    session: SessionDep,
    settings: FidelitySettingsDep,
) -> FidelityReviewPublic:
    """Record the team's IPS-25 review for a date (one per team and date; not after today):
    every item scored 1-5. The total (25-125) and band (exemplary 115+, good 100-114, fair
    74-99, not IPS 73 or less) are computed, and what Teamwell measured on that date is kept
    with the review. Team supervisors only."""
    review = await service.record(
        session=session,
        ctx=access.principal.ctx,
        team=access.team,
        reviewer=access.principal.user,
        data=body,
        settings=settings,
    )
    await access.audit(
        "fidelity_review.create",
        resource_type="fidelity_review",
        resource_id=review.id,
        detail=f"team {access.team.id} on {review.reviewed_on.isoformat()}: "
        f"{review.total} ({review.band})",
    )
    return (await service.public(session=session, reviews=[review]))[0]


@router.get("", response_model=list[FidelityReviewPublic])
async def list_reviews(access: FidelityReader, session: SessionDep) -> list[FidelityReviewPublic]:
    """The team's reviews, oldest first, to chart change over time. The team's clinical
    members and supervisors."""
    found = await service.reviews_of(session=session, team_id=access.team.id)
    await access.audit("fidelity_review.list")
    return await service.public(session=session, reviews=found)


@router.get("/{review_id}", response_model=FidelityReviewPublic)
async def get_review(
    review_id: uuid.UUID, access: FidelityReader, session: SessionDep
) -> FidelityReviewPublic:
    """One review of the team. The team's clinical members and supervisors."""
    review = await service.get(session=session, team_id=access.team.id, review_id=review_id)
    await access.audit(
        "fidelity_review.read", resource_type="fidelity_review", resource_id=review.id
    )
    return (await service.public(session=session, reviews=[review]))[0]
