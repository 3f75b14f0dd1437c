"""Questionnaire links: a client completes a measure remotely from a one-time link.

Staff on the care team make a link for one instrument; its random token is stored only as a
digest. The link is emailed to the client's login email when they have one. Opening it needs no
sign-in; it can be used once (a conditional update on ``used_at``) until it expires.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.clock import as_utc
from app.context import Context
from app.crypto import new_token, token_digest
from app.errors import Gone, NotFound
from app.measures import service
from app.measures.instruments import REGISTRY
from app.measures.models import MeasureLink, MeasureResponse
from app.users.models import User
from auth.email import EmailMessage, EmailSender

LINK_PATH = "/#/q/"


class MeasureLinkNotFound(NotFound):
    title = "Questionnaire link not found"


class MeasureLinkGone(Gone):
    slug, title = "measure-link-gone", "This questionnaire link can no longer be used"


def link_url(public_url: str, token: str) -> str:
    # In the fragment, so the token never reaches a server log or a Referer header.
    return public_url.rstrip("/") + LINK_PATH + token


def first_name(client: ClientRecord) -> str:
    parts = client.display_name.split()
    return parts[0] if parts else ""


def link_email(*, to: str, client: ClientRecord, link: str, expires: datetime) -> EmailMessage:
    """No clinical content: not which questionnaire it is (its name says what it measures),
    only the first name, the link and when it expires."""
    when = as_utc(expires).strftime("%d %B %Y at %H:%M UTC")
    text = (
        f"Hello {first_name(client)},\n\n"
        "Your care team has asked you to complete a short questionnaire.\n"
        "Open this link to answer it; you do not need to sign in:\n\n"
        f"{link}\n\n"
        f"The link works once and expires on {when}.\n"
    )
    return EmailMessage(to=to, subject="A questionnaire from your care team", text=text)


async def create(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    by: User,
    instrument_code: str,
    lifetime: timedelta,
) -> tuple[MeasureLink, str]:
    """Store a link for this client and instrument; return it with its token."""
    if instrument_code not in REGISTRY:
        raise service.InvalidMeasure(
            f"Unknown measure {instrument_code!r}; known: {sorted(REGISTRY)}."
        )
    now = ctx.now()
    token = new_token()
    link = MeasureLink(
        client_id=client.id,
        instrument=instrument_code,
        token_hash=token_digest(token),
        created_by=by.id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    await session.flush()
    return link, token


async def send(
    *,
    session: AsyncSession,
    sender: EmailSender,
    client: ClientRecord,
    link: MeasureLink,
    url: str,
    to: str | None = None,
) -> bool:
    """Email the link to ``to``, or else to the client's login email. False when there is
    neither. (A text message goes through app/notifications/link_texts.py instead.)"""
    if to is None:
        user = await session.get(User, client.user_id) if client.user_id is not None else None
        if user is None or not user.email:
            return False
        to = user.email
    await sender.send(
        link_email(
            to=to,
            client=client,
            link=url,
            expires=link.expires_at,
        )
    )
    return True


async def open_link(*, session: AsyncSession, ctx: Context, token: str) -> MeasureLink:
    """The link behind this token while it can be used: 404 unknown, 410 used or expired."""
    rows = await session.exec(
        select(MeasureLink).where(MeasureLink.token_hash == token_digest(token))
    )
    link = rows.first()
    if link is None:
        raise MeasureLinkNotFound("No questionnaire has this link. Check it was copied in full.")
    if link.used_at is not None:
        raise MeasureLinkGone("This questionnaire has already been completed. Thank you.")
    if as_utc(link.expires_at) <= ctx.now():
        raise MeasureLinkGone("This link has expired. Ask your care team for a new one.")
    return link


async def respondent(*, session: AsyncSession, client: ClientRecord, link: MeasureLink) -> User:
    """Who the answers are recorded as given by: the client's own login if they have one, else
    the member of staff who made the link (the answers are still marked as given remotely)."""
    if client.user_id is not None:
        user = await session.get(User, client.user_id)
        if user is not None:
            return user
    creator = await session.get(User, link.created_by)
    assert creator is not None  # a foreign key
    return creator


async def use(
    *,
    session: AsyncSession,
    ctx: Context,
    link: MeasureLink,
    client: ClientRecord,
    by: User,
    raw_answers: dict[Any, Any],
) -> tuple[MeasureResponse, service.RiskAlerting | None]:
    """Record the answers and spend the link. Of two concurrent uses only one can win."""
    now = ctx.now()
    claimed = await session.exec(
        update(MeasureLink)
        .where(
            col(MeasureLink.id) == link.id,
            col(MeasureLink.used_at).is_(None),
            col(MeasureLink.expires_at) > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise MeasureLinkGone("This questionnaire has just been completed.")
    response, alerting = await service.record(
        session=session,
        ctx=ctx,
        client=client,
        by=by,
        instrument_code=link.instrument,
        raw_answers=raw_answers,
        session_key=None,
    )
    if response.mode != "remote":
        response.mode = "remote"
        session.add(response)
    await session.refresh(link)
    link.response_id = response.id
    session.add(link)
    await session.flush()
    return response, alerting


async def client_of(*, session: AsyncSession, link: MeasureLink) -> ClientRecord:
    return await clients_service.get(session=session, client_id=link.client_id)


async def open_for_client(
    *, session: AsyncSession, client_id: uuid.UUID, now: datetime
) -> list[MeasureLink]:
    """The client's links still waiting for answers (neither used nor expired), soonest to
    expire first: the questionnaires their care team asked of them."""
    rows = await session.exec(
        select(MeasureLink)
        .where(
            MeasureLink.client_id == client_id,
            col(MeasureLink.used_at).is_(None),
            col(MeasureLink.expires_at) > now,
        )
        .order_by(col(MeasureLink.expires_at), col(MeasureLink.id))
    )
    return list(rows.all())
