"""One-time links sent by text message: a guest link into a client session
(app/meetings/guests.py) or a questionnaire link (app/measures/links.py).

Staff give a UK mobile number, or send to the client's own number on record (the SMS number in
their notification settings, when they have a login and gave one). The text is fixed and says
nothing clinical: a neutral title and the link, through the same SMS sender as notifications
(``sms_backend``; none at all when it is "off"). The number is checked before the link is made,
so a refused number leaves no link behind; each text is audited with only the number's last three
digits, and never the link (its token opens the appointment or the questionnaire). A client gets
at most ``link_sms_per_client_per_day`` such texts in any 24 hours: texts cost money and a slip
of the keyboard should not send dozens.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from pydantic import AfterValidator, StringConstraints
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.clients.models import ClientRecord
from app.config import Settings
from app.context import Context
from app.errors import BadGateway, Conflict, TooManyRequests, Unprocessable
from app.notifications.channels import DeliveryFailed, SmsSender
from app.notifications.models import NotificationProfile

# The fixed texts: the SMS template reads "((title)). ((link))" (docs/notifications.md).
GUEST_LINK_TITLE = "Your Teamwell video appointment link"
MEASURE_LINK_TITLE = "Your Teamwell questionnaire link"
# The audit actions of link texts: the daily limit counts them all.
SMS_ACTIONS = ("guest_link.sms", "measure_link.sms")
DAY = timedelta(hours=24)

# A UK mobile: 07 and nine digits, or +44 7 and nine digits (spaces allowed between digits, as
# people write them). Nothing else: no landlines, no other countries, no letters.
_UK_MOBILE = re.compile(r"^(?:\+44|0)(7[0-9]{9})$")


def uk_mobile(value: str) -> str:
    """The number in E.164 (``+447700900123``), or ValueError."""
    compact = re.sub(r"(?<=[0-9+]) (?=[0-9])", "", value)
    found = _UK_MOBILE.match(compact)
    if found is None:
        raise ValueError("a UK mobile number, such as 07700 900123 or +44 7700 900123")
    return "+44" + found.group(1)


UkMobile = Annotated[
    str, StringConstraints(strict=True, min_length=11, max_length=20), AfterValidator(uk_mobile)
]


def get_sms_sender(request: Request) -> SmsSender:
    sender: SmsSender = request.app.state.notification_channels.sms
    return sender


# The process's SMS sender, the one notifications use (app/notifications/channels.py).
SmsSenderDep = Annotated[SmsSender, Depends(get_sms_sender)]


def last_digits(number: str) -> str:
    """What the audit and the log keep of a number."""
    return "…" + number[-3:]


class SmsOff(Conflict):
    slug, title = "sms-off", "This service does not send text messages"


class SmsNumberMissing(Unprocessable):
    slug, title = "sms-number-missing", "No mobile number to text"


class TooManyTexts(TooManyRequests):
    slug, title = "too-many-texts", "Too many texts to this client today"


class SmsNotSent(BadGateway):
    slug, title = "sms-not-sent", "The text message could not be sent"


@dataclass(frozen=True)
class Text:
    """Where a link text goes, decided before the link is made."""

    number: str
    action: str


async def number_on_record(*, session: AsyncSession, client: ClientRecord) -> str | None:
    """The client's own mobile number: the SMS number in their notification settings, when it is
    a UK mobile."""
    if client.user_id is None:
        return None
    profile = await session.get(NotificationProfile, client.user_id)
    if profile is None or not profile.sms_number:
        return None
    try:
        return uk_mobile(profile.sms_number)
    except ValueError:
        return None


async def texts_today(*, session: AsyncSession, ctx: Context, client_id: uuid.UUID) -> int:
    rows = await session.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            col(AuditEvent.client_id) == client_id,
            col(AuditEvent.action).in_(SMS_ACTIONS),
            col(AuditEvent.occurred_at) > ctx.now() - DAY,
        )
    )
    return int(rows.one())


async def plan(
    *,
    session: AsyncSession,
    ctx: Context,
    settings: Settings,
    client: ClientRecord,
    number: str | None,
    action: str,
) -> Text:
    """Check a text can go (SMS on, a number, under the daily limit) before anything is made."""
    if settings.sms_backend == "off":
        raise SmsOff("Text messages are switched off here: send the link by email or copy it.")
    to = number or await number_on_record(session=session, client=client)
    if to is None:
        raise SmsNumberMissing(
            "The client has no mobile number on record: give one to text the link to."
        )
    sent = await texts_today(session=session, ctx=ctx, client_id=client.id)
    if sent >= settings.link_sms_per_client_per_day:
        raise TooManyTexts(
            f"This client has been texted {sent} links in the last 24 hours, the most allowed.",
            extra={"limit": settings.link_sms_per_client_per_day},
        )
    return Text(number=to, action=action)


async def send(
    *,
    session: AsyncSession,
    ctx: Context,
    sender: SmsSender,
    text: Text,
    client_id: uuid.UUID,
    resource_type: str,
    resource_id: uuid.UUID,
    title: str,
    link: str,
) -> None:
    """Hand the text to the SMS sender and audit it. A text that could not be handed over fails
    the request, so the link it carried is not kept either."""
    try:
        await sender.send(text.number, title=title, link=link)
    except DeliveryFailed as exc:
        raise SmsNotSent(
            "The text message could not be sent. Try again, or send the link another way."
        ) from exc
    await audit_service.record(
        session,
        ctx,
        action=text.action,
        resource_type=resource_type,
        resource_id=resource_id,
        client_id=client_id,
        detail=f"to {last_digits(text.number)}",
    )
