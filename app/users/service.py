from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.errors import Conflict, NotFound, Problem
from app.users.models import Role, SupervisionLink, User
from app.users.schemas import UserCreate, UserUpdate
from auth.passwords import hash_password


class UserNotFound(NotFound):
    title = "User not found"


class NotASupervisor(Problem):
    status, slug, title = 422, "not-a-supervisor", "That person is not a supervisor"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    rows = await session.exec(select(User).where(User.email == normalise_email(email)))
    return rows.first()


async def list_users(
    *,
    session: AsyncSession,
    organisation_id: uuid.UUID,
    staff_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    query = select(User).where(User.organisation_id == organisation_id)
    if staff_only:
        query = query.where(User.role != Role.client)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(col(User.display_name)).limit(limit).offset(offset))
    return list(rows.all()), int(total)


async def many(*, session: AsyncSession, ids: set[uuid.UUID]) -> list[User]:
    """Those of these people who exist, in one query."""
    if not ids:
        return []
    rows = await session.exec(select(User).where(col(User.id).in_(ids)))
    return list(rows.all())


async def names(*, session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.exec(select(User.id, User.display_name).where(col(User.id).in_(ids)))
    return dict(rows.all())


async def create(
    *, session: AsyncSession, ctx: Context, organisation_id: uuid.UUID, data: UserCreate
) -> User:
    email = normalise_email(str(data.email))
    if await get_by_email(session=session, email=email) is not None:
        raise Conflict("An account with that email already exists.")
    user = User(
        organisation_id=organisation_id,
        email=email,
        display_name=data.display_name,
        role=data.role,
        password_hash=hash_password(data.password) if data.password else None,
        created_at=ctx.now(),
    )
    session.add(user)
    await session.flush()
    return user


async def update(*, session: AsyncSession, user: User, data: UserUpdate) -> User:
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, name, value)
    session.add(user)
    await session.flush()
    return user


async def assign_supervisor(
    *, session: AsyncSession, ctx: Context, supervisee: User, supervisor: User
) -> SupervisionLink:
    if supervisor.role != Role.supervisor:
        raise NotASupervisor()
    # One current supervisor per person: the previous link is ended, never deleted.
    current = await session.exec(
        select(SupervisionLink).where(
            SupervisionLink.supervisee_id == supervisee.id, col(SupervisionLink.until).is_(None)
        )
    )
    for link in current.all():
        link.until = ctx.now()
        session.add(link)
    link = SupervisionLink(
        supervisor_id=supervisor.id, supervisee_id=supervisee.id, since=ctx.now()
    )
    session.add(link)
    await session.flush()
    return link


async def supervisee_ids(*, session: AsyncSession, supervisor_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(SupervisionLink.supervisee_id).where(
            SupervisionLink.supervisor_id == supervisor_id, col(SupervisionLink.until).is_(None)
        )
    )
    return set(rows.all())
