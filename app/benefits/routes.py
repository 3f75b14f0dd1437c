"""A client's benefit history: dated claims, the better-off calculations done with them, and
the off-flow status computed from the claims (``app.benefits.rules``). Every read and write is
in the audit trail; no benefit detail goes into its ``detail``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app import events
from app.audit.writer import AuditedRead
from app.benefits import events as benefit_events
from app.benefits import service
from app.benefits.schemas import (
    BenefitClaimCreate,
    BenefitClaimEnd,
    BenefitClaimPublic,
    BenefitsPublic,
    BetterOffCreate,
    BetterOffPublic,
)
from app.db import SessionDep
from auth.deps import BenefitsReader, BenefitsRecorder, ClientAccess
from auth.policies import benefits as benefit_policies

router = APIRouter(prefix="/clients/{client_id}/benefits", tags=["benefits"])


async def restart_window(request: Request) -> int:
    window: int = request.app.state.settings.benefit_restart_window_days
    return window


WindowDep = Annotated[int, Depends(restart_window)]


async def _announce(
    session: SessionDep, access: ClientAccess, change: benefit_events.Change
) -> None:
    """Tell the history's readers of the change once it is stored (app/events.py)."""
    events.announce(
        session,
        benefit_events.benefits_updated(
            audience=await benefit_policies.benefits_audience(session, access.client),
            client_id=access.client.id,
            change=change,
            by=access.principal.id,
            by_name=access.principal.user.display_name,
        ),
    )


@router.get("", response_model=BenefitsPublic, dependencies=[AuditedRead])
async def get_benefits(
    access: BenefitsReader, session: SessionDep, window: WindowDep
) -> BenefitsPublic:
    """The benefit history, the better-off calculations, and the off-flow status today."""
    await access.audit("benefits.read", resource_type="benefits", resource_id=access.client.id)
    return await service.history(
        session=session, ctx=access.ctx, client=access.client, window_days=window
    )


@router.post("/claims", response_model=BenefitClaimPublic, status_code=status.HTTP_201_CREATED)
async def add_claim(
    body: BenefitClaimCreate, access: BenefitsRecorder, session: SessionDep
) -> BenefitClaimPublic:
    """Record a benefit the client claims or claimed (an ended claim may be recorded at once)."""
    claim = await service.add_claim(
        session=session, ctx=access.ctx, client=access.client, data=body
    )
    await access.audit("benefits.claim_add", resource_type="benefit_claim", resource_id=claim.id)
    await _announce(session, access, "claim_added")
    return service.claim_public(claim, {claim.recorded_by: access.principal.user.display_name})


@router.post("/claims/{claim_id}/end", response_model=BenefitClaimPublic)
async def end_claim(
    claim_id: uuid.UUID, body: BenefitClaimEnd, access: BenefitsRecorder, session: SessionDep
) -> BenefitClaimPublic:
    """Record the day a claim stopped being paid (once)."""
    claim = await service.end_claim(
        session=session,
        ctx=access.ctx,
        client=access.client,
        claim_id=claim_id,
        ended_on=body.ended_on,
    )
    await access.audit("benefits.claim_end", resource_type="benefit_claim", resource_id=claim.id)
    await _announce(session, access, "claim_ended")
    names = await service.users_service.names(session=session, ids={claim.recorded_by})
    return service.claim_public(claim, names)


@router.post(
    "/better-off-calculations",
    response_model=BetterOffPublic,
    status_code=status.HTTP_201_CREATED,
)
async def add_better_off_calculation(
    body: BetterOffCreate, access: BenefitsRecorder, session: SessionDep
) -> BetterOffPublic:
    """Record welfare-benefits counselling: a better-off calculation done, its day and outcome."""
    found = await service.add_calculation(
        session=session, ctx=access.ctx, client=access.client, data=body
    )
    await access.audit(
        "benefits.better_off_add", resource_type="better_off_calculation", resource_id=found.id
    )
    await _announce(session, access, "calculation_added")
    return service.calculation_public(
        found, {found.recorded_by: access.principal.user.display_name}
    )
