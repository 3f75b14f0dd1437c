"""Notifications as scheduled work: ``notifications.deliver`` sends what is due (with its
retries) every ``jobs_deliver_notifications_seconds``, in every process that runs jobs, so no
outside scheduler is needed. It runs outside the job's transaction: ``deliver_due`` claims its
rows with a lease in a short transaction of its own, sends with none open, and records each
outcome in another, so a slow mail server or push service holds no lock (SQLite's write lock,
PostgreSQL's rows) while it answers. Two processes running it at once never take the same row."""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.jobs.registry import JobContext, handler
from app.notifications import service
from app.notifications.channels import Channels, channels_for
from auth.email import email_sender_for

DELIVER = "notifications.deliver"

# The senders of this process, built once per settings object (an SMTP or push sender holds
# no connection between sends, so keeping one is only about not rebuilding it every run).
_CHANNELS: dict[int, tuple[Settings, Channels]] = {}


def _every(settings: Settings) -> timedelta | None:
    seconds = settings.jobs_deliver_notifications_seconds
    return None if seconds is None else timedelta(seconds=seconds)


def channels(settings: Settings) -> Channels:
    kept = _CHANNELS.get(id(settings))
    if kept is None or kept[0] is not settings:
        kept = (settings, channels_for(settings, email_sender_for(settings)))
        _CHANNELS[id(settings)] = kept
    return kept[1]


@handler(DELIVER, every=_every, outside_transaction=True)
async def deliver(job: JobContext) -> None:
    assert job.sessions is not None  # registered outside_transaction
    await service.deliver_due(
        job.sessions, now=job.ctx.now(), channels=channels(job.settings), settings=job.settings
    )
