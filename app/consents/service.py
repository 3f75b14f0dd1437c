"""Consent decisions: appended, never overwritten; the latest per organisation and purpose rules."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
from app.consents.schemas import ConsentDecision
from app.context import Context


async def record(
    *, session: AsyncSession, ctx: Context, client_id: uuid.UUID, decision: ConsentDecision
) -> ConsentRecord:
    entry = ConsentRecord(
        client_id=client_id,
        organisation_id=decision.organisation_id,
        purpose=decision.purpose,
        state=decision.state,
        note=decision.note,
        recorded_at=ctx.now(),
        recorded_by=ctx.actor.user_id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def history(*, session: AsyncSession, client_id: uuid.UUID) -> list[ConsentRecord]:
    rows = await session.exec(
        select(ConsentRecord)
        .where(ConsentRecord.client_id == client_id)
        .order_by(col(ConsentRecord.id))
    )
    return list(rows.all())


def current_of(records: list[ConsentRecord]) -> list[ConsentRecord]:
    """The latest decision per (organisation, purpose), from a history in time order."""
    latest: dict[tuple[uuid.UUID, str], ConsentRecord] = {}
    for entry in records:
        latest[(entry.organisation_id, entry.purpose)] = entry
    return list(latest.values())


async def granted_clients(
    *,
    session: AsyncSession,
    client_ids: set[uuid.UUID],
    organisation_id: uuid.UUID,
    purpose: ConsentPurpose,
) -> set[uuid.UUID]:
    """Of these clients, those whose latest decision for this organisation and purpose grants."""
    if not client_ids:
        return set()
    rows = await session.exec(
        select(ConsentRecord)
        .where(
            col(ConsentRecord.client_id).in_(client_ids),
            ConsentRecord.organisation_id == organisation_id,
            ConsentRecord.purpose == purpose,
        )
        .order_by(col(ConsentRecord.id))
    )
    latest: dict[uuid.UUID, ConsentRecord] = {}
    for entry in rows.all():
        latest[entry.client_id] = entry
    return {cid for cid, entry in latest.items() if entry.state == ConsentState.granted}
