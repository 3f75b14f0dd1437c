"""Who supervises whom: a person's current supervisors and supervisees (docs/supervision.md)."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.users import service as users_service
from app.users.models import Role, SupervisionLink, User
from auth.policies import supervision as supervision_policies


async def supervisee_ids(*, session: AsyncSession, supervisor_id: uuid.UUID) -> set[uuid.UUID]:
    """The supervisor's current supervisees."""
    return await users_service.supervisee_ids(session=session, supervisor_id=supervisor_id)


async def supervisor_ids(*, session: AsyncSession, supervisee_id: uuid.UUID) -> set[uuid.UUID]:
    """Everyone who currently supervises this person (active supervisors only)."""
    rows = await session.exec(
        select(SupervisionLink.supervisor_id)
        .join(User, col(User.id) == SupervisionLink.supervisor_id)
        .where(
            SupervisionLink.supervisee_id == supervisee_id,
            *supervision_policies.link_in_force(),
            col(User.is_active).is_(True),
            User.role == Role.supervisor,
        )
    )
    return set(rows.all())
