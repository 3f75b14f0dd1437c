"""Message notices: one digest per person per window, never one per message.

When a message is stored (both of the writer's paths end in the sender's handler, which
publishes ``message.new`` and then calls ``schedule_digests``), each other member gets one
``messages.digest`` job keyed by the person and the window (``message_digest_window_minutes``)
the notice would fall in, due ``message_notice_delay_minutes`` after the message. Further
messages in that window find the key taken and add nothing; one stored after that window's
digest ran is covered by the next window's, due at its start; and a digest that finds messages
unread but too recent to notify of schedules the next window's to look again.

When the digest runs, the person is notified ("You have a new message in Teamwell", a link to
their messages, nothing else) only if they have messages from others stored at least the delay
ago that they have not read. "Reading" is the read marker the web client moves while a
conversation is open on screen: someone online with that conversation open has read it by then
and is not notified; someone offline, or online on another page, is. Reading any conversation
in the app cancels a notice still pending (held by quiet hours, or not yet sent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.jobs import rules as job_rules
from app.jobs import service as jobs_service
from app.jobs.models import JobStatus
from app.jobs.registry import JobContext, JobError, handler
from app.messaging import service as messaging
from app.notifications import service as notifications
from app.notifications.notices import Notice
from app.users.models import User

DIGEST = "messages.digest"
# The topic of a person's message notices: what reading in the app cancels.
TOPIC = "messages"
LINK = "#/messages"


def digest_key(user_id: uuid.UUID, window: datetime) -> str:
    return f"{DIGEST}:{user_id}:{window.isoformat()}"


def digest_due(stored_at: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """When a message stored at ``stored_at`` should be noticed, and the window that falls in."""
    due = stored_at + timedelta(minutes=settings.message_notice_delay_minutes)
    return due, job_rules.slot(due, timedelta(minutes=settings.message_digest_window_minutes))


async def schedule_digests(
    session: AsyncSession,
    *,
    recipients: Iterable[uuid.UUID],
    stored_at: datetime,
    settings: Settings,
) -> None:
    """One digest job per recipient per window (see the module's docstring)."""
    due, window = digest_due(stored_at, settings)
    every = timedelta(minutes=settings.message_digest_window_minutes)
    for user_id in recipients:
        key = digest_key(user_id, window)
        added = await jobs_service.schedule(
            session,
            DIGEST,
            run_at=due,
            payload={"user_id": str(user_id)},
            key=key,
            now=stored_at,
            settings=settings,
        )
        if added or await jobs_service.status_of(session, key) != JobStatus.done:
            continue
        # This window's digest has gone: the next one covers this message.
        following = window + every
        await jobs_service.schedule(
            session,
            DIGEST,
            run_at=max(following, due),
            payload={"user_id": str(user_id)},
            key=digest_key(user_id, following),
            now=stored_at,
            settings=settings,
        )


@handler(DIGEST)
async def digest(job: JobContext) -> None:
    try:
        user_id = uuid.UUID(str(job.payload["user_id"]))
    except (KeyError, ValueError) as exc:
        raise JobError("the job names no person") from exc
    user = await job.session.get(User, user_id)
    if user is None or not user.is_active:
        return
    now = job.ctx.now()
    delay = timedelta(minutes=job.settings.message_notice_delay_minutes)
    if await messaging.unread_older_than(session=job.session, user=user, before=now - delay):
        await notifications.tell(
            job.session,
            person_ids=[user_id],
            notice=Notice.new_messages,
            link=LINK,
            now=now,
            topic=TOPIC,
            settings=job.settings,
        )
        return
    if await messaging.unread_older_than(session=job.session, user=user, before=now):
        # Unread, but stored too recently to notify of (after this window's digest was
        # scheduled): the next window's digest looks again once they are old enough.
        every = timedelta(minutes=job.settings.message_digest_window_minutes)
        following = job_rules.slot(now, every) + every
        await jobs_service.schedule(
            job.session,
            DIGEST,
            run_at=max(following, now + delay),
            payload={"user_id": str(user_id)},
            key=digest_key(user_id, following),
            now=now,
            settings=job.settings,
        )


async def read_in_app(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> None:
    """The person read in the app: a message notice still pending is not sent."""
    await notifications.cancel(session, person_id=user_id, topic=TOPIC, now=now)
