"""Guest links: one person without a Teamwell account joins one client session's lobby.

Staff who run the session (``auth.policies.meetings.can_invite_guests``) make a link for the
client, an interpreter or a family member the client asked for. The link's token and its short
code are stored only as digests. Opening the link asks only for a first name (the client's,
checked against their record; the guest's, as staff wrote it) or the short code; then the guest
is given a short-lived credential for that one meeting (``auth.tokens.TokenSigner.guest_token``)
and waits in the lobby for staff to admit them.

A link works once, only between ``open_minutes_before`` the session's start and
``close_minutes_after`` its end, until it is revoked, and not after ``max_attempts`` wrong names
or codes. The rules are pure functions of the link, the meeting and the time (``refusal``); the
service stores what they decide.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.clock import as_utc
from app.context import Context
from app.crypto import new_token, same_secret, token_digest
from app.errors import Conflict, Forbidden, Gone, NotFound, Problem, Unprocessable
from app.meetings.models import GuestKind, GuestLink, Meeting, MeetingState
from app.users.models import User
from auth.email import EmailMessage, EmailSender

LINK_PATH = "/#/guest/"
CODE_DIGITS = 6


class GuestLinkNotFound(NotFound):
    slug, title = "guest-link-not-found", "Join link not found"


class GuestLinkGone(Gone):
    slug, title = "guest-link-gone", "This join link can no longer be used"


class GuestLinkNotOpen(Conflict):
    slug, title = "guest-link-not-open", "This join link is not open yet"


class GuestNameRefused(Forbidden):
    slug, title = "guest-name-refused", "The name or code does not match"


class GuestNameRequired(Unprocessable):
    slug, title = "guest-name-required", "A name is needed for this guest"


@dataclass(frozen=True)
class Window:
    """When a guest link works: from ``opens_at`` until ``closes_at``."""

    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class Rules:
    """The named settings the rules read (``guest_link_*`` in app/config.py)."""

    open_minutes_before: int
    close_minutes_after: int
    max_attempts: int
    credential_minutes: int


def window(meeting: Meeting, rules: Rules) -> Window:
    return Window(
        opens_at=as_utc(meeting.starts_at) - timedelta(minutes=rules.open_minutes_before),
        closes_at=as_utc(meeting.ends_at) + timedelta(minutes=rules.close_minutes_after),
    )


def refusal(link: GuestLink, meeting: Meeting, rules: Rules, now: datetime) -> Problem | None:
    """Why the link cannot be used now, or None. The order matters only for what the guest is
    told: a link that is gone for good says so rather than "not open yet"."""
    if link.revoked_at is not None:
        return GuestLinkGone("This link was withdrawn. Ask the person who sent it for a new one.")
    if link.used_at is not None:
        return GuestLinkGone(
            "This link has already been used. Ask the person who sent it for a new one."
        )
    if link.failed_attempts >= rules.max_attempts:
        return GuestLinkGone(
            "This link is locked after too many attempts. Ask the person who sent it for a new one."
        )
    if meeting.state == MeetingState.ended or meeting.cancelled_at is not None:
        return GuestLinkGone("This appointment has ended or was cancelled.")
    span = window(meeting, rules)
    if now >= span.closes_at:
        return GuestLinkGone("This link has expired. Ask the person who sent it for a new one.")
    if now < span.opens_at:
        when = span.opens_at.strftime("%d %B %Y at %H:%M UTC")
        return GuestLinkNotOpen(f"This link opens on {when}, shortly before the appointment.")
    return None


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def first_name(full_name: str) -> str:
    parts = full_name.split()
    return parts[0] if parts else ""


def expected_name(link: GuestLink, client: ClientRecord) -> str:
    """The name a guest gives to join: the client's name on their record, or the guest's name
    as staff wrote it."""
    return client.display_name if link.kind == GuestKind.client else link.guest_name


def name_matches(expected: str, given: str) -> bool:
    """The first name (or the whole name), ignoring case and spaces: what a person types on a
    phone. An empty expected name matches nothing."""
    wanted = _normalised(given)
    if not wanted:
        return False
    return wanted in {_normalised(first_name(expected)), _normalised(expected)} - {""}


def code_matches(link: GuestLink, given: str) -> bool:
    return same_secret(link.code_hash, token_digest("".join(given.split())))


def new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def link_url(public_url: str, token: str) -> str:
    # In the fragment, so the token never reaches a server log or a Referer header.
    return public_url.rstrip("/") + LINK_PATH + token


def guest_label(link: GuestLink, client: ClientRecord) -> str:
    """How the participant list and attendance name the guest."""
    if link.kind == GuestKind.client:
        return first_name(client.display_name) or "Client"
    role = "interpreter" if link.kind == GuestKind.interpreter else "family member"
    return f"{link.guest_name} ({role})"


def invitation_email(*, to: str, link: GuestLink, url: str, span: Window) -> EmailMessage:
    """No clinical content, and no name but the guest's own: only the link and the time."""
    opens = span.opens_at.strftime("%d %B %Y at %H:%M UTC")
    role = {
        GuestKind.client: "",
        GuestKind.interpreter: " as an interpreter",
        GuestKind.family: " at the client's request",
    }[link.kind]
    text = (
        "Hello,\n\n"
        f"You have been invited to join a video appointment{role}.\n"
        "Open this link on a phone or computer at the time of the appointment; you do not need "
        "an account:\n\n"
        f"{url}\n\n"
        f"The link opens on {opens} and works once. You will be asked for your first name, "
        "then wait until you are let in.\n"
    )
    return EmailMessage(to=to, subject="Your video appointment link", text=text)


async def create(
    *,
    session: AsyncSession,
    ctx: Context,
    meeting: Meeting,
    by: uuid.UUID,
    kind: GuestKind,
    guest_name: str,
) -> tuple[GuestLink, str, str]:
    """Store a link for this meeting; return it with its token and short code (shown once)."""
    name = " ".join(guest_name.split())
    if kind != GuestKind.client and not name:
        raise GuestNameRequired("Give the interpreter's or family member's name.")
    token, code = new_token(), new_code()
    link = GuestLink(
        meeting_id=meeting.id,
        kind=kind,
        guest_name=name if kind != GuestKind.client else "",
        token_hash=token_digest(token),
        code_hash=token_digest(code),
        created_by=by,
        created_at=ctx.now(),
    )
    session.add(link)
    await session.flush()
    return link, token, code


async def for_meeting(*, session: AsyncSession, meeting_id: uuid.UUID) -> list[GuestLink]:
    rows = await session.exec(
        select(GuestLink)
        .where(GuestLink.meeting_id == meeting_id)
        .order_by(col(GuestLink.created_at), col(GuestLink.id))
    )
    return list(rows.all())


async def get(*, session: AsyncSession, meeting_id: uuid.UUID, link_id: uuid.UUID) -> GuestLink:
    link = await session.get(GuestLink, link_id)
    if link is None or link.meeting_id != meeting_id:
        raise GuestLinkNotFound("This meeting has no such guest link.")
    return link


async def revoke(*, session: AsyncSession, ctx: Context, link: GuestLink) -> GuestLink:
    if link.revoked_at is None:
        link.revoked_at = ctx.now()
        session.add(link)
        await session.flush()
    return link


async def by_token(*, session: AsyncSession, token: str) -> GuestLink:
    rows = await session.exec(select(GuestLink).where(GuestLink.token_hash == token_digest(token)))
    link = rows.first()
    if link is None:
        raise GuestLinkNotFound("No appointment has this link. Check it was copied in full.")
    return link


async def meeting_and_client(
    *, session: AsyncSession, link: GuestLink
) -> tuple[Meeting, ClientRecord]:
    meeting = await session.get(Meeting, link.meeting_id)
    assert meeting is not None and meeting.client_id is not None  # a foreign key; a client session
    client = await clients_service.get(session=session, client_id=meeting.client_id)
    return meeting, client


async def count_failure(*, session: AsyncSession, link: GuestLink) -> int:
    """One more wrong name or code, counted in the database (two guesses at once both count);
    returns the count."""
    await session.exec(
        update(GuestLink)
        .where(col(GuestLink.id) == link.id)
        .values(failed_attempts=GuestLink.failed_attempts + 1)
    )
    await session.refresh(link)
    return link.failed_attempts


async def spend(*, session: AsyncSession, ctx: Context, link: GuestLink) -> None:
    """Use the link up. Of two joins at once only one wins."""
    claimed = await session.exec(
        update(GuestLink)
        .where(col(GuestLink.id) == link.id, col(GuestLink.used_at).is_(None))
        .values(used_at=ctx.now())
    )
    if claimed.rowcount != 1:
        raise GuestLinkGone(
            "This link has just been used. Ask the person who sent it for a new one."
        )
    await session.refresh(link)


async def client_of(*, session: AsyncSession, meeting: Meeting) -> ClientRecord:
    assert meeting.client_id is not None  # guest links are for client sessions
    return await clients_service.get(session=session, client_id=meeting.client_id)


async def client_login_email(*, session: AsyncSession, meeting: Meeting) -> str | None:
    """Where a client's link goes when staff give no address: the client's login email."""
    if meeting.client_id is None:
        return None
    client = await clients_service.get(session=session, client_id=meeting.client_id)
    login = await session.get(User, client.user_id) if client.user_id is not None else None
    return login.email if login is not None and login.email else None


async def send(*, sender: EmailSender, to: str, link: GuestLink, url: str, span: Window) -> None:
    # By email; a text message goes through app/notifications/link_texts.py instead.
    await sender.send(invitation_email(to=to, link=link, url=url, span=span))
