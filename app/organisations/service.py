from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound
from app.organisations.models import Organisation
from app.organisations.schemas import OrganisationCreate, OrganisationUpdate
from app.pagination import paginate


class OrganisationNotFound(NotFound):
    title = "Organisation not found"


async def get(*, session: AsyncSession, organisation_id: uuid.UUID) -> Organisation:
    return await found(session, Organisation, organisation_id, missing=OrganisationNotFound)


async def get_by_slug(*, session: AsyncSession, slug: str) -> Organisation:
    found = (await session.exec(select(Organisation).where(Organisation.slug == slug))).first()
    if found is None:
        raise OrganisationNotFound()
    return found


async def names(*, session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.exec(
        select(Organisation.id, Organisation.name).where(col(Organisation.id).in_(ids))
    )
    return dict(rows.all())


async def list_all(
    *, session: AsyncSession, limit: int, offset: int
) -> tuple[list[Organisation], int]:
    return await paginate(
        session,
        select(Organisation),
        col(Organisation.name),
        col(Organisation.id),
        limit=limit,
        offset=offset,
    )


async def create(*, session: AsyncSession, ctx: Context, data: OrganisationCreate) -> Organisation:
    existing = await session.exec(select(Organisation.id).where(Organisation.slug == data.slug))
    if existing.first() is not None:
        raise Conflict(f"An organisation with the slug {data.slug!r} already exists.")
    organisation = Organisation(
        slug=data.slug, name=data.name, kind=data.kind, created_at=ctx.now()
    )
    session.add(organisation)
    await session.flush()
    return organisation


async def update(
    *, session: AsyncSession, organisation: Organisation, data: OrganisationUpdate
) -> Organisation:
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(organisation, name, value)
    session.add(organisation)
    await session.flush()
    return organisation
