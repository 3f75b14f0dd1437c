"""Invitations by one-time link: admins invite by email, the invited person accepts once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.context import Actor, Context, acting_as
from app.db import SessionDep
from app.errors import Problem
from app.pagination import Page, PageDep, page_of
from app.users.schemas import UserPublic
from auth.deps import AccountManager, AnonymousContext, RuntimeDep
from auth.email import EmailSenderDep
from auth.invitations import service
from auth.invitations.schemas import InvitationAccept, InvitationCreate, InvitationPublic

router = APIRouter(prefix="/invitations", tags=["invitations"])


@router.post("", response_model=InvitationPublic, status_code=status.HTTP_201_CREATED)
async def create_invitation(
    body: InvitationCreate,
    principal: AccountManager,
    session: SessionDep,
    runtime: RuntimeDep,
    sender: EmailSenderDep,
) -> InvitationPublic:
    """Invite someone into your organisation (admins). They are emailed a link that works once
    and expires after the configured number of days.

    A client invitation names the client's existing record (``client_id``), which must have no
    login yet; a staff invitation may name a team to join. The email must have no account and
    no pending invitation (409). If the email cannot be sent nothing is saved (502)."""
    invitation, token = await service.create(
        session=session,
        ctx=principal.ctx,
        inviter=principal.user,
        data=body,
        lifetime=timedelta(days=runtime.settings.invitation_days),
    )
    await principal.audit(
        "invitation.create",
        resource_type="invitation",
        resource_id=invitation.id,
        client_id=invitation.client_id,
        detail=f"role {invitation.role}",
    )
    await service.send(
        session=session,
        sender=sender,
        invitation=invitation,
        token=token,
        inviter=principal.user,
        public_url=runtime.settings.public_url,
    )
    return service.to_public(invitation, principal.ctx.now())


@router.get("", response_model=Page[InvitationPublic])
async def list_invitations(
    principal: AccountManager, session: SessionDep, page: PageDep
) -> Page[InvitationPublic]:
    """Your organisation's invitations, newest first: pending, accepted, revoked and expired."""
    rows, total = await service.list_for_organisation(
        session=session,
        organisation_id=principal.user.organisation_id,
        limit=page.limit,
        offset=page.offset,
    )
    now = principal.ctx.now()
    return page_of(page, [service.to_public(i, now) for i in rows], total)


@router.post("/{invitation_id}/revoke", response_model=InvitationPublic)
async def revoke_invitation(
    invitation_id: uuid.UUID, principal: AccountManager, session: SessionDep
) -> InvitationPublic:
    """Withdraw an invitation so its link no longer works (admins). Revoking one that is
    already revoked changes nothing; one already accepted cannot be revoked (409)."""
    invitation = await service.get(
        session=session,
        invitation_id=invitation_id,
        organisation_id=principal.user.organisation_id,
    )
    if await service.revoke(session=session, ctx=principal.ctx, invitation=invitation):
        await principal.audit(
            "invitation.revoke",
            resource_type="invitation",
            resource_id=invitation.id,
            client_id=invitation.client_id,
        )
    return service.to_public(invitation, principal.ctx.now())


async def _audit_refused_link(
    session: SessionDep, ctx: Context, token: str, refused: Problem
) -> None:
    """Record a refused link (``invitation.accept``, ``denied``) and commit it before the
    request is refused. Whoever holds a used, revoked or expired link is not known: the actor
    stays anonymous, and the event names the invitation and carries its organisation, so that
    organisation's admins see it. A link no invitation has names nothing, as with a forged
    token: no resource, no organisation."""
    await session.rollback()
    known = None
    if isinstance(refused, service.InvitationGone):
        known = await service.get_by_token(session=session, token=token)
    actor = Actor(
        user_id=None,
        role=None,
        organisation_id=known.organisation_id if known else None,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )
    await audit_service.record(
        session,
        Context(actor=actor, clock=ctx.clock),
        action="invitation.accept",
        resource_type="invitation",
        resource_id=known.id if known else None,
        client_id=known.client_id if known else None,
        outcome=Outcome.denied,
        detail=f"{refused.slug}: {refused.detail}" if known else "no invitation has this link",
    )
    await session.commit()


@router.post("/accept", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def accept_invitation(
    body: InvitationAccept, session: SessionDep, ctx: AnonymousContext
) -> UserPublic:
    """Accept an invitation with the token from its link, choosing a name and password.

    Creates the account (then sign in as usual; staff set up multi-factor authentication
    first). A link works once: used, revoked or expired links answer 410, unknown ones 404."""
    try:
        invitation, user = await service.accept(session=session, ctx=ctx, data=body)
    except (service.InvitationGone, service.InvitationNotFound) as exc:
        await _audit_refused_link(session, ctx, body.token, exc)
        raise
    await audit_service.record(
        session,
        acting_as(ctx, user),
        action="invitation.accept",
        resource_type="invitation",
        resource_id=invitation.id,
        client_id=invitation.client_id,
    )
    return UserPublic.model_validate(user)
