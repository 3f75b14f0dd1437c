from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy import update as sql_update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound, Unprocessable
from app.pagination import paginate
from app.users.models import Role, SupervisionLink, User
from app.users.schemas import (
    SupervisionLinkStatus,
    SupervisionPublic,
    UserCreate,
    UserUpdate,
)
from auth.passwords import hash_password
from auth.policies import supervision as supervision_policies


class UserNotFound(NotFound):
    title = "User not found"


class NotASupervisor(Unprocessable):
    slug, title = "not-a-supervisor", "That person is not a supervisor"


class SupervisionLinkNotFound(NotFound):
    title = "Supervision link not found"


class SupervisionLinkNotPending(Conflict):
    slug, title = "supervision-link-not-pending", "This proposal has already been decided"


class RoleChangeRefused(Unprocessable):
    slug, title = "role-change-refused", "This role change is not allowed"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    return await found(session, User, user_id, missing=UserNotFound)


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
    return await paginate(
        session, query, col(User.display_name), col(User.id), limit=limit, offset=offset
    )


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
    *,
    session: AsyncSession,
    ctx: Context,
    organisation_id: uuid.UUID,
    data: UserCreate,
    password: str | None = None,
) -> User:
    """Store an account. ``password`` is for the person's own choice (accepting an invitation)
    and for the operator's command line; the API never passes an admin's."""
    email = normalise_email(str(data.email))
    if await get_by_email(session=session, email=email) is not None:
        raise Conflict("An account with that email already exists.")
    user = User(
        organisation_id=organisation_id,
        email=email,
        display_name=data.display_name,
        role=data.role,
        password_hash=hash_password(password) if password else None,
        created_at=ctx.now(),
    )
    session.add(user)
    await session.flush()
    return user


async def active_supervisors(*, session: AsyncSession, organisation_id: uuid.UUID) -> list[User]:
    """The organisation's supervisors whose accounts are active."""
    rows = await session.exec(
        select(User)
        .where(
            User.organisation_id == organisation_id,
            User.role == Role.supervisor,
            col(User.is_active).is_(True),
        )
        .order_by(col(User.display_name), col(User.id))
    )
    return list(rows.all())


async def update(*, session: AsyncSession, user: User, data: UserUpdate) -> User:
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, name, value)
    session.add(user)
    await session.flush()
    return user


def link_pending() -> list[ColumnElement[bool]]:
    return [
        col(SupervisionLink.accepted_at).is_(None),
        col(SupervisionLink.declined_at).is_(None),
        col(SupervisionLink.until).is_(None),
    ]


def link_status(link: SupervisionLink) -> SupervisionLinkStatus:
    if link.declined_at is not None:
        return SupervisionLinkStatus.declined
    if link.accepted_at is None:
        return (
            SupervisionLinkStatus.withdrawn
            if link.until is not None
            else SupervisionLinkStatus.pending
        )
    return SupervisionLinkStatus.ended if link.until is not None else SupervisionLinkStatus.active


async def get_link(*, session: AsyncSession, link_id: uuid.UUID) -> SupervisionLink:
    return await found(session, SupervisionLink, link_id, missing=SupervisionLinkNotFound)


async def propose_supervisor(
    *, session: AsyncSession, ctx: Context, supervisee: User, supervisor: User
) -> SupervisionLink:
    """Propose who supervises a member of staff. Nothing changes for anyone until the supervisee
    accepts: the current link stays in force, and an earlier proposal still open is withdrawn.
    Proposing the supervisor already in force changes nothing and answers that link."""
    if not supervision_policies.can_be_supervisor(supervisor):
        raise NotASupervisor()
    if supervisor.id == supervisee.id:
        raise NotASupervisor("Nobody supervises themselves.")
    current = await session.exec(
        select(SupervisionLink).where(
            SupervisionLink.supervisee_id == supervisee.id,
            SupervisionLink.supervisor_id == supervisor.id,
            *supervision_policies.link_in_force(),
        )
    )
    in_force = current.first()
    if in_force is not None:
        return in_force
    open_proposals = await session.exec(
        select(SupervisionLink).where(
            SupervisionLink.supervisee_id == supervisee.id, *link_pending()
        )
    )
    for link in open_proposals.all():
        link.until = ctx.now()
        session.add(link)
    link = SupervisionLink(
        supervisor_id=supervisor.id,
        supervisee_id=supervisee.id,
        since=ctx.now(),
        proposed_by=ctx.actor.user_id,
    )
    session.add(link)
    await session.flush()
    return link


async def accept_supervisor(
    *, session: AsyncSession, ctx: Context, link: SupervisionLink
) -> SupervisionLink:
    """The supervisee accepts a proposal: it comes into force and the link it replaces ends
    (one current supervisor per person; ended links are kept, never deleted). The update is
    conditional, so of an accept and a decline at once only one wins."""
    now = ctx.now()
    claimed = await session.exec(
        sql_update(SupervisionLink)
        .where(col(SupervisionLink.id) == link.id, *link_pending())
        .values(accepted_at=now, since=now)
    )
    if claimed.rowcount != 1:
        await session.refresh(link)
        raise SupervisionLinkNotPending(f"This proposal is {link_status(link)}.")
    await session.exec(
        sql_update(SupervisionLink)
        .where(
            col(SupervisionLink.supervisee_id) == link.supervisee_id,
            col(SupervisionLink.id) != link.id,
            *supervision_policies.link_in_force(),
        )
        .values(until=now)
    )
    await session.refresh(link)
    return link


async def decline_supervisor(
    *, session: AsyncSession, ctx: Context, link: SupervisionLink
) -> SupervisionLink:
    now = ctx.now()
    claimed = await session.exec(
        sql_update(SupervisionLink)
        .where(col(SupervisionLink.id) == link.id, *link_pending())
        .values(declined_at=now, until=now)
    )
    await session.refresh(link)
    if claimed.rowcount != 1:
        raise SupervisionLinkNotPending(f"This proposal is {link_status(link)}.")
    return link


async def links_public(
    *, session: AsyncSession, links: list[SupervisionLink]
) -> list[SupervisionPublic]:
    """The links as the API shows them, with the two people's names (and the supervisor's
    email, so a supervisee can tell a proposed supervisor from someone of the same name)."""
    people = {
        u.id: u
        for u in await many(
            session=session,
            ids={p for link in links for p in (link.supervisor_id, link.supervisee_id)},
        )
    }
    views = []
    for link in links:
        supervisor, supervisee = people.get(link.supervisor_id), people.get(link.supervisee_id)
        views.append(
            SupervisionPublic(
                id=link.id,
                supervisor_id=link.supervisor_id,
                supervisor_name=supervisor.display_name if supervisor else None,
                supervisor_email=supervisor.email if supervisor else None,
                supervisee_id=link.supervisee_id,
                supervisee_name=supervisee.display_name if supervisee else None,
                status=link_status(link),
                since=link.since,
                until=link.until,
                proposed_by=link.proposed_by,
                accepted_at=link.accepted_at,
                declined_at=link.declined_at,
            )
        )
    return views


async def supervision_links_of(
    *, session: AsyncSession, user_id: uuid.UUID
) -> list[SupervisionLink]:
    """The links naming this person, as supervisee or supervisor, that are pending or in force
    (oldest first)."""
    rows = await session.exec(
        select(SupervisionLink)
        .where(
            or_(
                col(SupervisionLink.supervisee_id) == user_id,
                col(SupervisionLink.supervisor_id) == user_id,
            ),
            col(SupervisionLink.until).is_(None),
        )
        .order_by(col(SupervisionLink.since), col(SupervisionLink.id))
    )
    return list(rows.all())


async def supervisee_ids(*, session: AsyncSession, supervisor_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(SupervisionLink.supervisee_id).where(
            SupervisionLink.supervisor_id == supervisor_id, *supervision_policies.link_in_force()
        )
    )
    return set(rows.all())


async def count_accounts(*, session: AsyncSession, organisation_id: uuid.UUID) -> tuple[int, int]:
    """The organisation's accounts (staff and clients): (active, inactive)."""
    rows = await session.exec(
        select(User.is_active, func.count())
        .where(User.organisation_id == organisation_id)
        .group_by(col(User.is_active))
    )
    counts = {bool(active): int(n) for active, n in rows.all()}
    return counts.get(True, 0), counts.get(False, 0)
