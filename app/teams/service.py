from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.errors import Conflict, NotFound
from app.teams.models import Team, TeamMembership
from app.teams.schemas import TeamCreate, TeamMemberPublic
from app.users.models import User


class TeamNotFound(NotFound):
    title = "Team not found"


async def get(*, session: AsyncSession, team_id: uuid.UUID) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise TeamNotFound()
    return team


async def list_for_organisation(
    *, session: AsyncSession, organisation_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Team], int]:
    query = select(Team).where(Team.organisation_id == organisation_id)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(col(Team.name)).limit(limit).offset(offset))
    return list(rows.all()), int(total)


async def create(
    *, session: AsyncSession, ctx: Context, organisation_id: uuid.UUID, data: TeamCreate
) -> Team:
    team = Team(
        organisation_id=organisation_id,
        name=data.name,
        area_cluster=data.area_cluster,
        created_at=ctx.now(),
    )
    session.add(team)
    await session.flush()
    return team


async def add_member(
    *, session: AsyncSession, ctx: Context, team: Team, user: User
) -> TeamMembership:
    existing = await session.exec(
        select(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user.id
        )
    )
    if existing.first() is not None:
        raise Conflict("That person is already on the team.")
    membership = TeamMembership(team_id=team.id, user_id=user.id, since=ctx.now())
    session.add(membership)
    await session.flush()
    return membership


async def members(*, session: AsyncSession, team_id: uuid.UUID) -> list[TeamMemberPublic]:
    rows = await session.exec(
        select(TeamMembership, User)
        .join(User, col(User.id) == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id)
        .order_by(col(User.display_name))
    )
    return [
        TeamMemberPublic(
            user_id=user.id, display_name=user.display_name, role=user.role, since=m.since
        )
        for m, user in rows.all()
    ]


async def team_ids_of(*, session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
    )
    return set(rows.all())


async def colleague_ids(*, session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """People who share a team with this person (not themselves)."""
    my_teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
    rows = await session.exec(
        select(TeamMembership.user_id).where(col(TeamMembership.team_id).in_(my_teams))
    )
    return set(rows.all()) - {user_id}


async def member_ids(*, session: AsyncSession, team_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(TeamMembership.user_id).where(TeamMembership.team_id == team_id)
    )
    return set(rows.all())


async def count_for_organisation(*, session: AsyncSession, organisation_id: uuid.UUID) -> int:
    rows = await session.exec(
        select(func.count()).select_from(Team).where(Team.organisation_id == organisation_id)
    )
    return int(rows.one())
