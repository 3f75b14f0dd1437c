"""Invitations by one-time link: the rules (pure functions) and the SQL that applies them.

An admin invites someone by email; the link carries a random token that is stored only as a
digest. Accepting it once creates the account in the invitation's organisation with its role,
joins staff to the named team and links a client's login to their existing record.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clock import as_utc
from app.context import Context, acting_as
from app.crypto import new_token, token_digest
from app.errors import Conflict, Gone, NotFound, Unprocessable
from app.organisations import service as organisations_service
from app.teams import service as teams_service
from app.users import service as users_service
from app.users.models import Role, User
from app.users.schemas import UserCreate
from auth.email import EmailMessage, EmailSender
from auth.invitations.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationPublic,
    InvitationStatus,
)
from auth.models import Invitation

INVITE_PATH = "/#/invite/"

ROLE_PHRASES = {
    Role.peer_keyworker: "as a peer keyworker",
    Role.therapist: "as a therapist",
    Role.employment_specialist: "as an employment specialist",
    Role.supervisor: "as a supervisor",
    Role.admin: "as an administrator",
    Role.client: "to keep in touch with your care team and follow your support",
}

GONE_DETAILS = {
    InvitationStatus.accepted: "This invitation has already been used. Sign in instead.",
    InvitationStatus.revoked: "This invitation was withdrawn. Ask for a new one.",
    InvitationStatus.expired: "This invitation has expired. Ask for a new one.",
}


class InvitationNotFound(NotFound):
    title = "Invitation not found"


class InvitationGone(Gone):
    slug, title = "invitation-gone", "This invitation can no longer be used"


class InvalidInvitation(Unprocessable):
    slug, title = "invalid-invitation", "This invitation cannot be made"


class AccountExists(Conflict):
    slug, title = "account-exists", "An account with that email already exists"


class AlreadyInvited(Conflict):
    slug, title = "already-invited", "There is already a pending invitation"


class AlreadyAccepted(Conflict):
    slug, title = "invitation-accepted", "This invitation has already been accepted"


# --- pure rules ------------------------------------------------------------------------------


def status_of(invitation: Invitation, now: datetime) -> InvitationStatus:
    """Used beats revoked beats expired: what happened first to the link is what it says."""
    if invitation.accepted_at is not None:
        return InvitationStatus.accepted
    if invitation.revoked_at is not None:
        return InvitationStatus.revoked
    if as_utc(invitation.expires_at) <= now:
        return InvitationStatus.expired
    return InvitationStatus.pending


def invite_link(public_url: str, token: str) -> str:
    # In the fragment, so the token never reaches a server log or a Referer header.
    return public_url.rstrip("/") + INVITE_PATH + token


def invitation_email(
    *, invitation: Invitation, link: str, organisation_name: str, inviter_name: str
) -> EmailMessage:
    greeting = f"Hello {invitation.display_name}," if invitation.display_name else "Hello,"
    expires = as_utc(invitation.expires_at).strftime("%d %B %Y at %H:%M UTC")
    text = (
        f"{greeting}\n\n"
        f"{inviter_name} at {organisation_name} has invited you to Teamwell "
        f"{ROLE_PHRASES[invitation.role]}.\n\n"
        "To accept, open this link, choose your password and sign in:\n\n"
        f"{link}\n\n"
        f"The link works once and expires on {expires}. If you were not expecting this "
        "invitation, you can ignore this email.\n"
    )
    return EmailMessage(
        to=invitation.email,
        subject=f"Your invitation to Teamwell from {organisation_name}",
        text=text,
    )


def to_public(invitation: Invitation, now: datetime) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        organisation_id=invitation.organisation_id,
        email=invitation.email,
        role=invitation.role,
        display_name=invitation.display_name,
        team_id=invitation.team_id,
        client_id=invitation.client_id,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        accepted_user_id=invitation.accepted_user_id,
        status=status_of(invitation, now),
    )


# --- queries ---------------------------------------------------------------------------------


def _pending(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Invitation.accepted_at).is_(None),
        col(Invitation.revoked_at).is_(None),
        col(Invitation.expires_at) > now,
    ]


async def get(
    *, session: AsyncSession, invitation_id: uuid.UUID, organisation_id: uuid.UUID
) -> Invitation:
    """An invitation of this organisation (another organisation's is not found)."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.organisation_id != organisation_id:
        raise InvitationNotFound()
    return invitation


async def get_by_token(*, session: AsyncSession, token: str) -> Invitation:
    rows = await session.exec(
        select(Invitation).where(Invitation.token_hash == token_digest(token))
    )
    invitation = rows.first()
    if invitation is None:
        raise InvitationNotFound("No invitation has this link. Check it was copied in full.")
    return invitation


async def list_for_organisation(
    *, session: AsyncSession, organisation_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Invitation], int]:
    query = select(Invitation).where(Invitation.organisation_id == organisation_id)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(
        query.order_by(col(Invitation.created_at).desc(), col(Invitation.id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), int(total)


async def _has_pending(session: AsyncSession, now: datetime, *where: ColumnElement[bool]) -> bool:
    rows = await session.exec(select(Invitation.id).where(*_pending(now), *where).limit(1))
    return rows.first() is not None


# --- changes ---------------------------------------------------------------------------------


async def _check_whom(
    session: AsyncSession, organisation_id: uuid.UUID, data: InvitationCreate, now: datetime
) -> None:
    """A client invitation opens a record of this organisation that has no login yet; a staff
    invitation names no record and at most a team of this organisation."""
    if data.role == Role.client:
        if data.client_id is None:
            raise InvalidInvitation("A client invitation names the client's record (client_id).")
        if data.team_id is not None:
            raise InvalidInvitation("Clients do not join teams; leave team_id out.")
        client = await clients_service.get(session=session, client_id=data.client_id)
        if client.organisation_id != organisation_id:
            raise clients_service.ClientNotFound()
        if client.user_id is not None:
            raise Conflict("This client already has a login.")
        if await _has_pending(session, now, col(Invitation.client_id) == client.id):
            raise AlreadyInvited("This client already has a pending invitation.")
        return
    if data.client_id is not None:
        raise InvalidInvitation(
            "Only client invitations name a client record; leave client_id out."
        )
    if data.team_id is not None:
        team = await teams_service.get(session=session, team_id=data.team_id)
        if team.organisation_id != organisation_id:
            raise teams_service.TeamNotFound()


async def create(
    *,
    session: AsyncSession,
    ctx: Context,
    inviter: User,
    data: InvitationCreate,
    lifetime: timedelta,
) -> tuple[Invitation, str]:
    """Store an invitation into the inviter's organisation; return it with its link's token."""
    now = ctx.now()
    email = users_service.normalise_email(str(data.email))
    if await users_service.get_by_email(session=session, email=email) is not None:
        raise AccountExists("An account with that email already exists.")
    if await _has_pending(session, now, col(Invitation.email) == email):
        raise AlreadyInvited("That email already has a pending invitation; revoke it first.")
    await _check_whom(session, inviter.organisation_id, data, now)
    token = new_token()
    invitation = Invitation(
        organisation_id=inviter.organisation_id,
        email=email,
        role=data.role,
        display_name=data.display_name,
        team_id=data.team_id,
        client_id=data.client_id,
        token_hash=token_digest(token),
        invited_by=inviter.id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(invitation)
    await session.flush()
    return invitation, token


async def send(
    *,
    session: AsyncSession,
    sender: EmailSender,
    invitation: Invitation,
    token: str,
    inviter: User,
    public_url: str,
) -> None:
    """Email the link. Raises ``EmailNotSent`` (502) when it cannot be delivered."""
    organisation = await organisations_service.get(
        session=session, organisation_id=invitation.organisation_id
    )
    message = invitation_email(
        invitation=invitation,
        link=invite_link(public_url, token),
        organisation_name=organisation.name,
        inviter_name=inviter.display_name,
    )
    await sender.send(message)


async def revoke(*, session: AsyncSession, ctx: Context, invitation: Invitation) -> bool:
    """Withdraw an unused invitation. False when it was already withdrawn (nothing changes)."""
    now = ctx.now()
    claimed = await session.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    await session.refresh(invitation)
    if claimed.rowcount == 1:
        return True
    if invitation.accepted_at is not None:
        raise AlreadyAccepted("This invitation was accepted; deactivate the account instead.")
    return False


async def accept(
    *, session: AsyncSession, ctx: Context, data: InvitationAccept
) -> tuple[Invitation, User]:
    """Use the link once: create the account and connect it to its team or client record."""
    invitation = await get_by_token(session=session, token=data.token)
    now = ctx.now()
    status = status_of(invitation, now)
    if status != InvitationStatus.pending:
        raise InvitationGone(GONE_DETAILS[status])
    # Conditional update: of two concurrent uses of one link only one can win.
    claimed = await session.exec(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id, *_pending(now))
        .values(accepted_at=now)
    )
    if claimed.rowcount != 1:
        raise InvitationGone("This invitation has just been used or withdrawn.")
    user = await users_service.create(
        session=session,
        ctx=ctx,
        organisation_id=invitation.organisation_id,
        data=UserCreate(
            email=invitation.email,
            display_name=data.display_name,
            role=invitation.role,
        ),
        password=data.password,
    )
    as_user = acting_as(ctx, user)
    if invitation.team_id is not None:
        team = await teams_service.get(session=session, team_id=invitation.team_id)
        # Proposed by the admin who invited them: in force once the team confirms it.
        await teams_service.add_member(
            session=session, ctx=as_user, team=team, user=user, proposed_by=invitation.invited_by
        )
    if invitation.client_id is not None:
        client = await clients_service.get(session=session, client_id=invitation.client_id)
        await clients_service.link_login(session=session, client=client, user=user)
    invitation.accepted_at = now
    invitation.accepted_user_id = user.id
    session.add(invitation)
    await session.flush()
    return invitation, user


async def count_pending(*, session: AsyncSession, organisation_id: uuid.UUID, now: datetime) -> int:
    """Invitations of the organisation still waiting to be accepted."""
    rows = await session.exec(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.organisation_id == organisation_id, *_pending(now))
    )
    return int(rows.one())
