from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlalchemy import update as sql_update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound
from app.pagination import paginate
from app.teams.models import Team, TeamMembership
from app.teams.schemas import (
    PendingTeamMember,
    TeamCreate,
    TeamMemberPublic,
    TeamMembershipStatus,
    TeamUpdate,
)
from app.users.models import CLINICAL_ROLES, User
from auth.policies import teams as team_policies


class TeamNotFound(NotFound):
    title = "Team not found"


class TeamMembershipNotFound(NotFound):
    title = "Not on this team, nor proposed for it"


class TeamMembershipNotPending(Conflict):
    slug, title = "team-member-not-pending", "This person is already on the team"


async def get(*, session: AsyncSession, team_id: uuid.UUID) -> Team:
    return await found(session, Team, team_id, missing=TeamNotFound)


async def list_for_organisation(
    *, session: AsyncSession, organisation_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Team], int]:
    query = select(Team).where(Team.organisation_id == organisation_id)
    return await paginate(session, query, col(Team.name), col(Team.id), limit=limit, offset=offset)


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


def teams_in_force_of(user_id: Any) -> SelectOfScalar[uuid.UUID]:
    """The teams this person is a member of in force, as a subquery for other services (the
    person's id, or a bound parameter standing for it)."""
    return select(TeamMembership.team_id).where(
        TeamMembership.user_id == user_id, *team_policies.membership_in_force()
    )


async def has_nothing_recorded(*, session: AsyncSession, team_id: uuid.UUID) -> bool:
    """Whether the team has no members (in force or proposed) and nothing a member would read:
    no conversation, no meetings, no fidelity reviews, no clients. Such a team's first member
    is in force at once: there is nobody to confirm them, and nothing for them to see."""
    # Imported here: those services read teams themselves.
    from app.clients.models import ClientRecord
    from app.fidelity.models import FidelityReview
    from app.meetings.models import Meeting
    from app.messaging.models import Conversation

    for query in (
        select(TeamMembership.id).where(TeamMembership.team_id == team_id),
        select(Conversation.id).where(Conversation.team_id == team_id),
        select(Meeting.id).where(Meeting.team_id == team_id),
        select(FidelityReview.id).where(FidelityReview.team_id == team_id),
        select(ClientRecord.id).where(ClientRecord.team_id == team_id),
    ):
        if (await session.exec(query.limit(1))).first() is not None:
            return False
    return True


async def update(*, session: AsyncSession, team: Team, data: TeamUpdate) -> Team:
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(team, key, value)
    session.add(team)
    await session.flush()
    return team


class NotAMember(NotFound):
    title = "Not on this team"


async def remove_member(*, session: AsyncSession, team: Team, user_id: uuid.UUID) -> None:
    membership = (
        await session.exec(
            select(TeamMembership).where(
                TeamMembership.team_id == team.id, TeamMembership.user_id == user_id
            )
        )
    ).first()
    if membership is None:
        raise NotAMember("That person is not on the team.")
    await session.delete(membership)
    await session.flush()


async def add_member(
    *,
    session: AsyncSession,
    ctx: Context,
    team: Team,
    user: User,
    proposed_by: uuid.UUID | None,
    in_force: bool = False,
) -> TeamMembership:
    """Propose a member. It is pending, granting nothing, until someone of the team confirms it
    (``confirm_member``); ``in_force`` only for data seeded as a running service would have it.
    The first member of a team with nothing recorded is in force at once
    (``has_nothing_recorded``)."""
    existing = await session.exec(
        select(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user.id
        )
    )
    if existing.first() is not None:
        raise Conflict("That person is already on the team, or proposed for it.")
    now = ctx.now()
    at_once = in_force or await has_nothing_recorded(session=session, team_id=team.id)
    membership = TeamMembership(
        team_id=team.id,
        user_id=user.id,
        since=now,
        proposed_by=proposed_by,
        confirmed_at=now if at_once else None,
    )
    session.add(membership)
    await session.flush()
    return membership


def membership_status(membership: TeamMembership) -> TeamMembershipStatus:
    if membership.confirmed_at is None:
        return TeamMembershipStatus.pending
    return TeamMembershipStatus.active


async def members(*, session: AsyncSession, team_id: uuid.UUID) -> list[TeamMemberPublic]:
    """Everyone on the team or proposed for it, each with their membership's status."""
    rows = await session.exec(
        select(TeamMembership, User)
        .join(User, col(User.id) == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id)
        .order_by(col(User.display_name))
    )
    return [
        TeamMemberPublic(
            user_id=user.id,
            display_name=user.display_name,
            role=user.role,
            since=m.since,
            status=membership_status(m),
            proposed_by=m.proposed_by,
            confirmed_at=m.confirmed_at,
            confirmed_by=m.confirmed_by,
        )
        for m, user in rows.all()
    ]


async def team_ids_of(*, session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """The teams this person is a member of in force."""
    rows = await session.exec(teams_in_force_of(user_id))
    return set(rows.all())


def colleagues_of(user_id: Any) -> SelectOfScalar[uuid.UUID]:
    """``colleague_ids`` as a query (themselves included), for other services to combine (the
    person's id, or a bound parameter standing for it)."""
    return select(TeamMembership.user_id).where(
        col(TeamMembership.team_id).in_(teams_in_force_of(user_id)),
        *team_policies.membership_in_force(),
    )


async def colleague_ids(*, session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """People who share a team with this person (not themselves), both in force."""
    rows = await session.exec(colleagues_of(user_id))
    return set(rows.all()) - {user_id}


async def is_member(*, session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the person is a member of the team in force."""
    found = await session.exec(
        select(TeamMembership.id).where(
            TeamMembership.team_id == team_id,
            TeamMembership.user_id == user_id,
            *team_policies.membership_in_force(),
        )
    )
    return found.first() is not None


async def member_ids(*, session: AsyncSession, team_id: uuid.UUID) -> set[uuid.UUID]:
    """The team's members in force."""
    rows = await session.exec(
        select(TeamMembership.user_id).where(
            TeamMembership.team_id == team_id, *team_policies.membership_in_force()
        )
    )
    return set(rows.all())


# --- confirming a proposed member ----------------------------------------------------------


async def confirmer_ids(*, session: AsyncSession, team_id: uuid.UUID) -> set[uuid.UUID]:
    """Who may confirm a proposed member of this team: its active supervisors in force, or,
    when it has none, its active clinical members in force. Each already reads what the new
    member would; none is an admin (admins are never members)."""
    rows = await session.exec(
        select(User.id, User.role)
        .join(TeamMembership, col(TeamMembership.user_id) == User.id)
        .where(
            TeamMembership.team_id == team_id,
            *team_policies.membership_in_force(),
            col(User.is_active).is_(True),
            col(User.role).in_(CLINICAL_ROLES),
        )
    )
    return team_policies.confirmers_among(rows.all())


async def get_membership(
    *, session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> TeamMembership:
    found = await session.exec(
        select(TeamMembership).where(
            TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
        )
    )
    membership = found.first()
    if membership is None:
        raise TeamMembershipNotFound()
    return membership


async def pending_for(*, session: AsyncSession, user: User) -> list[PendingTeamMember]:
    """Proposed members of the teams this person may confirm members of, oldest first."""
    pending: list[PendingTeamMember] = []
    for team_id in sorted(await team_ids_of(session=session, user_id=user.id)):
        if user.id not in await confirmer_ids(session=session, team_id=team_id):
            continue
        team = await get(session=session, team_id=team_id)
        rows = await session.exec(
            select(TeamMembership, User)
            .join(User, col(User.id) == TeamMembership.user_id)
            .where(TeamMembership.team_id == team_id, col(TeamMembership.confirmed_at).is_(None))
        )
        proposals = list(rows.all())
        proposers = {
            u.id: u.display_name
            for u in (
                await session.exec(
                    select(User).where(
                        col(User.id).in_({m.proposed_by for m, _ in proposals if m.proposed_by})
                    )
                )
            ).all()
        }
        pending.extend(
            PendingTeamMember(
                team_id=team.id,
                team_name=team.name,
                user_id=person.id,
                display_name=person.display_name,
                email=person.email,
                role=person.role,
                proposed_by=m.proposed_by,
                proposed_by_name=proposers.get(m.proposed_by) if m.proposed_by else None,
                proposed_at=m.since,
            )
            for m, person in proposals
        )
    pending.sort(key=lambda p: (p.proposed_at, p.team_name, p.display_name))
    return pending


async def confirm_member(
    *, session: AsyncSession, ctx: Context, membership: TeamMembership
) -> TeamMembership:
    """The proposal comes into force. The update is conditional, so of a confirm and a decline
    at once only one wins."""
    now = ctx.now()
    claimed = await session.exec(
        sql_update(TeamMembership)
        .where(col(TeamMembership.id) == membership.id, col(TeamMembership.confirmed_at).is_(None))
        .values(confirmed_at=now, confirmed_by=ctx.actor.user_id, since=now)
    )
    if claimed.rowcount != 1:
        raise TeamMembershipNotPending()
    await session.refresh(membership)
    return membership


async def decline_member(
    *, session: AsyncSession, ctx: Context, membership: TeamMembership
) -> None:
    """The proposal goes (it never granted anything; the audit trail keeps that it was made and
    declined). An admin may propose the person again."""
    claimed = await session.exec(
        sql_delete(TeamMembership).where(
            col(TeamMembership.id) == membership.id, col(TeamMembership.confirmed_at).is_(None)
        )
    )
    if claimed.rowcount != 1:
        raise TeamMembershipNotPending()


async def count_for_organisation(*, session: AsyncSession, organisation_id: uuid.UUID) -> int:
    rows = await session.exec(
        select(func.count()).select_from(Team).where(Team.organisation_id == organisation_id)
    )
    return int(rows.one())
