"""The cadence a supervisor sets for a supervisee: how often to check in and to have
supervision, or the settings' defaults (docs/supervision.md).
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.supervision.models import SupervisionCadence
from app.supervision.schemas import CadencePublic, CadenceSet
from app.supervision.service import SupervisionSettings, actor_id


def _cadence_public(
    supervisee_id: uuid.UUID, row: SupervisionCadence | None, settings: SupervisionSettings
) -> CadencePublic:
    if row is None:
        return CadencePublic(
            supervisee_id=supervisee_id,
            check_in_days=settings.check_in_days,
            supervision_days=settings.supervision_days,
            is_default=True,
            set_by=None,
            set_at=None,
        )
    return CadencePublic(
        supervisee_id=supervisee_id,
        check_in_days=row.check_in_days,
        supervision_days=row.supervision_days,
        is_default=False,
        set_by=row.set_by,
        set_at=row.set_at,
    )


async def cadence(
    *, session: AsyncSession, supervisee_id: uuid.UUID, settings: SupervisionSettings
) -> CadencePublic:
    """The cadence a supervisor set for this person, or the settings' defaults."""
    row = await session.get(SupervisionCadence, supervisee_id)
    return _cadence_public(supervisee_id, row, settings)


async def set_cadence(
    *,
    session: AsyncSession,
    ctx: Context,
    supervisee_id: uuid.UUID,
    data: CadenceSet,
    settings: SupervisionSettings,
) -> CadencePublic:
    row = await session.get(SupervisionCadence, supervisee_id)
    if row is None:
        row = SupervisionCadence(
            supervisee_id=supervisee_id,
            check_in_days=data.check_in_days,
            supervision_days=data.supervision_days,
            set_by=actor_id(ctx),
            set_at=ctx.now(),
        )
    else:
        row.check_in_days = data.check_in_days
        row.supervision_days = data.supervision_days
        row.set_by = actor_id(ctx)
        row.set_at = ctx.now()
    session.add(row)
    await session.flush()
    return _cadence_public(supervisee_id, row, settings)
