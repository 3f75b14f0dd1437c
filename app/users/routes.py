from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.db import SessionDep
from app.pagination import Page, PageDep, page_of
from app.users import service
from app.users.models import User
from app.users.schemas import (
    SupervisionPublic,
    SupervisorAssign,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from auth import service as auth_service
from auth.deps import AccountManager, Principal, RuntimeDep, Staff, refuse_unless
from auth.policies import accounts as account_policies

router = APIRouter(prefix="/users", tags=["users"])


async def _user_in_own_organisation(
    session: SessionDep, principal: Principal, user_id: uuid.UUID
) -> User:
    user = await service.get(session=session, user_id=user_id)
    if user.organisation_id != principal.user.organisation_id:
        raise service.UserNotFound()
    return user


@router.get("", response_model=Page[UserPublic])
async def list_users(principal: Staff, session: SessionDep, page: PageDep) -> Page[UserPublic]:
    """People in the caller's organisation. Admins see every account; clinical staff see the
    staff directory (clients are found through their records, not here)."""
    rows, total = await service.list_users(
        session=session,
        organisation_id=principal.user.organisation_id,
        staff_only=not account_policies.sees_client_accounts(principal.user),
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(page, [UserPublic.model_validate(u) for u in rows], total)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate, principal: AccountManager, session: SessionDep
) -> UserPublic:
    """Create an account without a password (admins), for people who sign in by single sign-on.
    An admin never sets a password, so it can never sign in as the account it made: invite
    people instead (``POST /invitations``) to have them choose their own."""
    user = await service.create(
        session=session,
        ctx=principal.ctx,
        organisation_id=principal.user.organisation_id,
        data=body,
    )
    await principal.audit("user.create", resource_type="user", resource_id=user.id)
    return UserPublic.model_validate(user)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: uuid.UUID, principal: Staff, session: SessionDep) -> UserPublic:
    """One person in the caller's organisation."""
    user = await _user_in_own_organisation(session, principal, user_id)
    if not user.is_staff and not account_policies.sees_client_accounts(principal.user):
        raise service.UserNotFound()
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    principal: AccountManager,
    session: SessionDep,
    runtime: RuntimeDep,
) -> UserPublic:
    """Change a person's name or role, or deactivate them (which ends all their sessions).
    Roles change only among the clinical roles: nobody becomes or stops being an admin or a
    client this way (403, audited)."""
    user = await _user_in_own_organisation(session, principal, user_id)
    if body.role is not None:
        decision = account_policies.can_change_role(user, body.role)
        await refuse_unless(
            decision,
            session,
            principal,
            action="user.update",
            resource_type="user",
            resource_id=user.id,
        )
    user = await service.update(session=session, user=user, data=body)
    if body.is_active is False:
        await auth_service.revoke_all_sessions(
            session=session, runtime=runtime, user_id=user.id, reason="deactivated"
        )
    await principal.audit(
        "user.update",
        resource_type="user",
        resource_id=user.id,
        detail=",".join(sorted(body.model_dump(exclude_unset=True))),
    )
    return UserPublic.model_validate(user)


@router.get("/{user_id}/supervisor", response_model=list[SupervisionPublic])
async def supervision_of(
    user_id: uuid.UUID, principal: AccountManager, session: SessionDep
) -> list[SupervisionPublic]:
    """Who supervises this person (admins): the links naming them as supervisee that are
    ``pending`` (proposed, waiting for them) or ``active``; oldest first."""
    supervisee = await _user_in_own_organisation(session, principal, user_id)
    links = await service.supervision_links_of(session=session, user_id=supervisee.id)
    mine = [link for link in links if link.supervisee_id == supervisee.id]
    return await service.links_public(session=session, links=mine)


@router.put("/{user_id}/supervisor", response_model=SupervisionPublic)
async def assign_supervisor(
    user_id: uuid.UUID, body: SupervisorAssign, principal: AccountManager, session: SessionDep
) -> SupervisionPublic:
    """Propose who supervises a member of staff (admins). The link is ``pending`` and opens
    nothing until the supervisee accepts it (``POST /supervision/links/{id}/accept``); then the
    previous link ends (kept, not erased). A newer proposal withdraws an unanswered one;
    proposing the supervisor already in force answers that link unchanged."""
    supervisee = await _user_in_own_organisation(session, principal, user_id)
    supervisor = await _user_in_own_organisation(session, principal, body.supervisor_id)
    link = await service.propose_supervisor(
        session=session, ctx=principal.ctx, supervisee=supervisee, supervisor=supervisor
    )
    await principal.audit(
        "user.supervisor_assign",
        resource_type="user",
        resource_id=supervisee.id,
        detail=f"supervisor {supervisor.id} ({service.link_status(link)})",
    )
    return (await service.links_public(session=session, links=[link]))[0]
