"""A client's benefit history and better-off calculations. Callers check the policy; this runs
the SQL and hands the pure rules (``app.benefits.rules``) what they count."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.benefits import rules
from app.benefits.models import BenefitClaim, BetterOffCalculation
from app.benefits.schemas import (
    BenefitClaimCreate,
    BenefitClaimPublic,
    BenefitsPublic,
    BetterOffCreate,
    BetterOffPublic,
    OffFlowPublic,
)
from app.clients import service as clients_service
from app.clients.models import ClientRecord, Referral
from app.context import Context
from app.errors import Conflict, NotFound, Unprocessable
from app.ips.service import not_after_today
from app.users import service as users_service


class BenefitClaimNotFound(NotFound):
    title = "Benefit claim not found"


class ClaimAlreadyEnded(Conflict):
    slug, title = "claim-already-ended", "This claim has already ended"


class InvalidClaimDates(Unprocessable):
    slug, title = "invalid-claim-dates", "The dates do not fit the claim"


def as_rule_claim(claim: BenefitClaim) -> rules.Claim:
    return rules.Claim(
        benefit=claim.benefit,
        started_on=claim.started_on,
        ended_on=claim.ended_on,
        uc_regime=claim.uc_regime,
    )


async def claims(*, session: AsyncSession, client_id: uuid.UUID) -> list[BenefitClaim]:
    rows = await session.exec(
        select(BenefitClaim)
        .where(BenefitClaim.client_id == client_id)
        .order_by(col(BenefitClaim.started_on), col(BenefitClaim.recorded_at))
    )
    return list(rows.all())


async def claims_of(
    *, session: AsyncSession, client_ids: Iterable[uuid.UUID] | object
) -> dict[uuid.UUID, list[rules.Claim]]:
    """Every client's claims as the rules read them (``client_ids`` may be a subquery)."""
    found: dict[uuid.UUID, list[rules.Claim]] = defaultdict(list)
    for claim in await session.exec(
        select(BenefitClaim).where(col(BenefitClaim.client_id).in_(client_ids))  # type: ignore[arg-type]
    ):
        found[claim.client_id].append(as_rule_claim(claim))
    return found


async def calculations(
    *, session: AsyncSession, client_id: uuid.UUID
) -> list[BetterOffCalculation]:
    rows = await session.exec(
        select(BetterOffCalculation)
        .where(BetterOffCalculation.client_id == client_id)
        .order_by(col(BetterOffCalculation.done_on), col(BetterOffCalculation.recorded_at))
    )
    return list(rows.all())


async def add_claim(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, data: BenefitClaimCreate
) -> BenefitClaim:
    not_after_today(ctx, "started_on", data.started_on)
    if data.ended_on is not None:
        not_after_today(ctx, "ended_on", data.ended_on)
    now = ctx.now()
    assert ctx.actor.user_id is not None
    claim = BenefitClaim(
        client_id=client.id,
        benefit=data.benefit,
        esa_group=data.esa_group,
        uc_regime=data.uc_regime,
        other_name=data.other_name,
        started_on=data.started_on,
        ended_on=data.ended_on,
        source=data.source,
        recorded_by=ctx.actor.user_id,
        recorded_at=now,
        ended_by=ctx.actor.user_id if data.ended_on is not None else None,
        ended_at=now if data.ended_on is not None else None,
    )
    session.add(claim)
    await session.flush()
    return claim


async def end_claim(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    claim_id: uuid.UUID,
    ended_on: date,
) -> BenefitClaim:
    claim = await clients_service.record_of(
        session, BenefitClaim, claim_id, client, missing=BenefitClaimNotFound
    )
    if claim.ended_on is not None:
        raise ClaimAlreadyEnded(f"This claim ended on {claim.ended_on.isoformat()}.")
    not_after_today(ctx, "ended_on", ended_on)
    if ended_on <= claim.started_on:
        raise InvalidClaimDates(
            f"ended_on must be after the claim started ({claim.started_on.isoformat()}).",
            extra={"errors": [{"field": "body.ended_on", "message": "not after started_on"}]},
        )
    claim.ended_on = ended_on
    claim.ended_by = ctx.actor.user_id
    claim.ended_at = ctx.now()
    session.add(claim)
    await session.flush()
    return claim


async def add_calculation(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, data: BetterOffCreate
) -> BetterOffCalculation:
    not_after_today(ctx, "done_on", data.done_on)
    assert ctx.actor.user_id is not None
    found = BetterOffCalculation(
        client_id=client.id,
        done_on=data.done_on,
        outcome=data.outcome,
        hours_modelled=data.hours_modelled,
        recorded_by=ctx.actor.user_id,
        recorded_at=ctx.now(),
    )
    session.add(found)
    await session.flush()
    return found


async def baseline_on(*, session: AsyncSession, client_id: uuid.UUID) -> date | None:
    """The baseline day: the client's first referral."""
    rows = await session.exec(
        select(col(Referral.referred_on))
        .where(col(Referral.client_id) == client_id)
        .order_by(col(Referral.referred_on))
    )
    return rows.first()


def claim_public(claim: BenefitClaim, names: dict[uuid.UUID, str]) -> BenefitClaimPublic:
    return BenefitClaimPublic(
        id=claim.id,
        benefit=claim.benefit,
        esa_group=claim.esa_group,
        uc_regime=claim.uc_regime,
        other_name=claim.other_name,
        out_of_work=rules.is_out_of_work(as_rule_claim(claim)),
        started_on=claim.started_on,
        ended_on=claim.ended_on,
        source=claim.source,
        recorded_by=claim.recorded_by,
        recorded_by_name=names.get(claim.recorded_by),
        recorded_at=claim.recorded_at,
        ended_by=claim.ended_by,
        ended_at=claim.ended_at,
    )


def calculation_public(found: BetterOffCalculation, names: dict[uuid.UUID, str]) -> BetterOffPublic:
    return BetterOffPublic(
        id=found.id,
        done_on=found.done_on,
        outcome=found.outcome,
        hours_modelled=found.hours_modelled,
        recorded_by=found.recorded_by,
        recorded_by_name=names.get(found.recorded_by),
        recorded_at=found.recorded_at,
    )


async def history(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, window_days: int
) -> BenefitsPublic:
    """The claims, the better-off calculations and the off-flow status computed today."""
    found = await claims(session=session, client_id=client.id)
    done = await calculations(session=session, client_id=client.id)
    names = await users_service.names(
        session=session,
        ids={c.recorded_by for c in found} | {d.recorded_by for d in done},
    )
    today = ctx.now().date()
    as_rules = [as_rule_claim(c) for c in found]
    status = rules.off_flow(as_rules, as_of=today, window_days=window_days)
    baseline = await baseline_on(session=session, client_id=client.id)
    return BenefitsPublic(
        client_id=client.id,
        claims=[claim_public(c, names) for c in found],
        better_off_calculations=[calculation_public(d, names) for d in done],
        off_flow=OffFlowPublic(
            as_of=today,
            state=status.state,
            off_since=status.off_since,
            days_off=status.days_off,
            off_flows=list(status.off_flows),
            restart_window_days=window_days,
            baseline_on=baseline,
            on_out_of_work_benefit_at_baseline=(
                rules.on_out_of_work_benefit(as_rules, baseline) if baseline else None
            ),
        ),
    )
