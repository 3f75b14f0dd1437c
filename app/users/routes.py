from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.audit import service as audit_service
from app.db import SessionDep
from app.pagination import Page, PageDep
from app.users import service
from app.users.models import Role, User
from app.users.schemas import (
    SupervisionPublic,
    SupervisorAssign,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from auth import service as auth_service
from auth.deps import AccountManager, Principal, RuntimeDep, Staff

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
        staff_only=principal.user.role != Role.admin,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[UserPublic.model_validate(u) for u in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate, principal: AccountManager, session: SessionDep
) -> UserPublic:
    """Create an account directly (admins). Usually people are invited instead, so they choose
    their own password."""
    user = await service.create(
        session=session,
        ctx=principal.ctx,
        organisation_id=principal.user.organisation_id,
        data=body,
    )
    await audit_service.record(
        session, principal.ctx, action="user.create", resource_type="user", resource_id=user.id
    )
    return UserPublic.model_validate(user)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: uuid.UUID, principal: Staff, session: SessionDep) -> UserPublic:
    """One person in the caller's organisation."""
    user = await _user_in_own_organisation(session, principal, user_id)
    if principal.user.role != Role.admin and not user.is_staff:
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
    """Change a person's name or role, or deactivate them (which ends all their sessions)."""
    user = await _user_in_own_organisation(session, principal, user_id)
    user = await service.update(session=session, user=user, data=body)
    if body.is_active is False:
        await auth_service.revoke_all_sessions(
            session=session, runtime=runtime, user_id=user.id, reason="deactivated"
        )
    await audit_service.record(
        session,
        principal.ctx,
        action="user.update",
        resource_type="user",
        resource_id=user.id,
        detail=",".join(sorted(body.model_dump(exclude_unset=True))),
    )
    return UserPublic.model_validate(user)


@router.put("/{user_id}/supervisor", response_model=SupervisionPublic)
async def assign_supervisor(
    user_id: uuid.UUID, body: SupervisorAssign, principal: AccountManager, session: SessionDep
) -> SupervisionPublic:
    """Set who supervises a member of staff (admins). The previous link is ended, not erased."""
    supervisee = await _user_in_own_organisation(session, principal, user_id)
    supervisor = await _user_in_own_organisation(session, principal, body.supervisor_id)
    link = await service.assign_supervisor(
        session=session, ctx=principal.ctx, supervisee=supervisee, supervisor=supervisor
    )
    await audit_service.record(
        session,
        principal.ctx,
        action="user.supervisor_assign",
        resource_type="user",
        resource_id=supervisee.id,
        detail=f"supervisor {supervisor.id}",
    )
    return SupervisionPublic.model_validate(link)
