from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.db import SessionDep
from app.pagination import Page, PageDep, page_of
from app.teams import service
from app.teams.schemas import (
    PendingTeamMember,
    TeamCreate,
    TeamMemberAdd,
    TeamMemberPublic,
    TeamPublic,
    TeamUpdate,
)
from app.users import service as users_service
from auth.deps import (
    AccountManager,
    MembershipToConfirm,
    MembershipToDecline,
    OrganisationTeam,
    Staff,
    VisibleTeam,
    refuse_unless,
)
from auth.policies import teams as team_policies

router = APIRouter(prefix="/teams", tags=["teams"])


@router.get("", response_model=Page[TeamPublic])
async def list_teams(principal: Staff, session: SessionDep, page: PageDep) -> Page[TeamPublic]:
    """Teams of the caller's organisation."""
    rows, total = await service.list_for_organisation(
        session=session,
        organisation_id=principal.user.organisation_id,
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(page, [TeamPublic.model_validate(t) for t in rows], total)


@router.post("", response_model=TeamPublic, status_code=status.HTTP_201_CREATED)
async def create_team(
    body: TeamCreate, principal: AccountManager, session: SessionDep
) -> TeamPublic:
    """Create a team in the admin's organisation."""
    team = await service.create(
        session=session,
        ctx=principal.ctx,
        organisation_id=principal.user.organisation_id,
        data=body,
    )
    await principal.audit("team.create", resource_type="team", resource_id=team.id)
    return TeamPublic.model_validate(team)


@router.get("/pending-members", response_model=list[PendingTeamMember])
async def pending_members(principal: Staff, session: SessionDep) -> list[PendingTeamMember]:
    """People proposed for the teams you may confirm members of (a team's supervisors, or its
    clinical members when it has no supervisor), waiting for you; oldest first. Empty for
    everyone else."""
    return await service.pending_for(session=session, user=principal.user)


@router.get("/{team_id}", response_model=TeamPublic)
async def get_team(principal: Staff, team: VisibleTeam) -> TeamPublic:
    """One team of the caller's organisation or that the caller belongs to."""
    return TeamPublic.model_validate(team)


@router.patch("/{team_id}", response_model=TeamPublic)
async def update_team(
    body: TeamUpdate, principal: AccountManager, team: OrganisationTeam, session: SessionDep
) -> TeamPublic:
    """Rename a team or change its area cluster (admins of its organisation)."""
    team = await service.update(session=session, team=team, data=body)
    await principal.audit(
        "team.update",
        resource_type="team",
        resource_id=team.id,
        detail=",".join(sorted(body.model_dump(exclude_unset=True))),
    )
    return TeamPublic.model_validate(team)


@router.delete("/{team_id}/members/{user_id}", response_model=list[TeamMemberPublic])
async def remove_member(
    user_id: uuid.UUID, principal: AccountManager, team: OrganisationTeam, session: SessionDep
) -> list[TeamMemberPublic]:
    """Take someone off a team (admins of its organisation); answers the members left. From then
    on they no longer read the team's conversation or join its meetings as a member."""
    await service.remove_member(session=session, team=team, user_id=user_id)
    await principal.audit(
        "team.member_remove", resource_type="team", resource_id=team.id, detail=f"user {user_id}"
    )
    return await service.members(session=session, team_id=team.id)


@router.get("/{team_id}/members", response_model=list[TeamMemberPublic])
async def list_members(
    principal: Staff, team: VisibleTeam, session: SessionDep
) -> list[TeamMemberPublic]:
    """The staff on a team."""
    return await service.members(session=session, team_id=team.id)


@router.post(
    "/{team_id}/members", response_model=list[TeamMemberPublic], status_code=status.HTTP_201_CREATED
)
async def add_member(
    body: TeamMemberAdd, principal: AccountManager, team: OrganisationTeam, session: SessionDep
) -> list[TeamMemberPublic]:
    """Propose a member of clinical staff of the team's organisation for a team (admins). The
    membership is ``pending`` and grants nothing until one of the team's supervisors (or, with
    none, a clinical member) confirms it; the first member of a team with nothing recorded is
    ``active`` at once. Another organisation's person is not found (404); clients and admins
    are refused (403): a team's members read its conversation, and admins see no clinical
    content."""
    user = await users_service.get(session=session, user_id=body.user_id)
    if user.organisation_id != team.organisation_id:
        # Another organisation's people are not found here, as everywhere (docs/security.md).
        raise users_service.UserNotFound()
    decision = team_policies.can_join_team(user)
    await refuse_unless(
        decision,
        session,
        principal,
        action="team.member_add",
        resource_type="team",
        resource_id=team.id,
    )
    membership = await service.add_member(
        session=session, ctx=principal.ctx, team=team, user=user, proposed_by=principal.id
    )
    await principal.audit(
        "team.member_add",
        resource_type="team",
        resource_id=team.id,
        detail=f"user {user.id} {service.membership_status(membership)}",
    )
    return await service.members(session=session, team_id=team.id)


@router.post("/{team_id}/members/{user_id}/confirm", response_model=list[TeamMemberPublic])
async def confirm_member(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Staff,
    membership: MembershipToConfirm,
    session: SessionDep,
) -> list[TeamMemberPublic]:
    """Confirm a proposed member: from now on they read the team's conversation, join its
    meetings and see their colleagues' presence. The team's supervisors in force confirm (its
    clinical members, when it has no supervisor); anyone else 403, audited. 409
    ``team-member-not-pending`` when they are already on the team."""
    await service.confirm_member(session=session, ctx=principal.ctx, membership=membership)
    await principal.audit(
        "team.member_confirm", resource_type="team", resource_id=team_id, detail=f"user {user_id}"
    )
    return await service.members(session=session, team_id=team_id)


@router.post("/{team_id}/members/{user_id}/decline", response_model=list[TeamMemberPublic])
async def decline_member(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Staff,
    membership: MembershipToDecline,
    session: SessionDep,
) -> list[TeamMemberPublic]:
    """Decline a proposed member: the proposal goes (an admin may propose them again). Who may
    confirm may decline; anyone else 403, audited. 409 ``team-member-not-pending`` when they
    are already on the team."""
    await service.decline_member(session=session, ctx=principal.ctx, membership=membership)
    await principal.audit(
        "team.member_decline", resource_type="team", resource_id=team_id, detail=f"user {user_id}"
    )
    return await service.members(session=session, team_id=team_id)
