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


class ScheduledDigests:
    """This process's memory of the digests it has seen queued: for a person and a window, when
    that digest runs. A message stored before then is covered by it without a word to the
    database. Without this memory every stored message costs a write transaction of its own
    (a schedule per recipient), on the message path; with it, a recipient costs one per window
    on each process. A digest is claimed only once its run time has passed, so a message stored
    earlier than that (less `margin`, for clocks of several processes) is still found unread
    when it runs. Entries whose digest has run are dropped as new ones come."""

    def __init__(self, margin: timedelta = timedelta(seconds=2)) -> None:
        self.margin = margin
        self._runs_at: dict[tuple[uuid.UUID, datetime], datetime] = {}
        self._prune_above = 1024

    def uncovered(
        self, recipients: Iterable[uuid.UUID], stored_at: datetime, settings: Settings
    ) -> list[uuid.UUID]:
        """The recipients whose digest for this message is not known to be still to come."""
        _, window = digest_due(stored_at, settings)
        left = []
        for user_id in recipients:
            runs_at = self._runs_at.get((user_id, window))
            if runs_at is None or stored_at >= runs_at - self.margin:
                left.append(user_id)
        return left

    def remember(
        self, queued: dict[uuid.UUID, datetime], stored_at: datetime, settings: Settings
    ) -> None:
        _, window = digest_due(stored_at, settings)
        for user_id, runs_at in queued.items():
            self._runs_at[(user_id, window)] = runs_at
        if len(self._runs_at) > self._prune_above:
            self._runs_at = {
                key: runs_at for key, runs_at in self._runs_at.items() if runs_at > stored_at
            }
            self._prune_above = max(1024, 2 * len(self._runs_at))


async def schedule_digests(
    session: AsyncSession,
    *,
    recipients: Iterable[uuid.UUID],
    stored_at: datetime,
    settings: Settings,
) -> dict[uuid.UUID, datetime]:
    """One digest job per recipient per window (see the module's docstring). Returns, for each
    recipient whose window's digest is queued, when it runs (what `ScheduledDigests` keeps)."""
    due, window = digest_due(stored_at, settings)
    every = timedelta(minutes=settings.message_digest_window_minutes)
    queued: dict[uuid.UUID, datetime] = {}
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
        if added:
            queued[user_id] = due
            continue
        state = await jobs_service.state_of(session, key)
        if state is None or state[0] != JobStatus.done:
            if state is not None and state[0] == JobStatus.queued:
                queued[user_id] = state[1]
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
    return queued


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
