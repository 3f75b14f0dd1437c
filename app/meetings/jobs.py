"""Meeting reminders: 24 hours and 15 minutes before a meeting, to its host and everyone
invited (staff and clients), by their notification preferences.

Scheduled when a meeting is created or changed (``schedule_reminders``, in the same
transaction), one ``meetings.reminder`` job per offset, keyed by the meeting, the offset and the
start time: a meeting moved to another time gets reminders of its own, and the old ones find on
running that the meeting no longer starts when they were for. On running, a reminder checks that
the meeting still exists, is not cancelled or ended, still starts at that time, and reminds only
those invited then. The notice is the fixed text with the meeting page's link (where a client
joins); no title, no names, nothing clinical.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clock import as_utc
from app.jobs import service as jobs_service
from app.jobs.registry import JobContext, JobError, handler
from app.meetings.models import Meeting, MeetingInvitee, MeetingState
from app.notifications import service as notifications
from app.notifications.notices import Notice

REMINDER = "meetings.reminder"
# Before the start: a day ahead to plan for it, and a quarter of an hour ahead to join.
OFFSETS = (timedelta(hours=24), timedelta(minutes=15))


def reminder_key(meeting_id: uuid.UUID, offset: timedelta, starts_at: datetime) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{REMINDER}:{meeting_id}:{minutes}:{as_utc(starts_at).isoformat()}"


def reminders_due(starts_at: datetime, now: datetime) -> list[tuple[timedelta, datetime]]:
    """The reminders still to come for a meeting starting at ``starts_at``: each offset whose
    time is after ``now`` (a meeting arranged for in an hour has no day-before reminder)."""
    start = as_utc(starts_at)
    return [(offset, start - offset) for offset in OFFSETS if start - offset > now]


def meeting_link(meeting_id: uuid.UUID) -> str:
    return f"#/meetings/{meeting_id}"


async def schedule_reminders(session: AsyncSession, meeting: Meeting, now: datetime) -> None:
    for offset, at in reminders_due(meeting.starts_at, now):
        await jobs_service.schedule(
            session,
            REMINDER,
            run_at=at,
            payload={
                "meeting_id": str(meeting.id),
                "starts_at": as_utc(meeting.starts_at).isoformat(),
            },
            key=reminder_key(meeting.id, offset, meeting.starts_at),
            now=now,
        )


@handler(REMINDER)
async def remind(job: JobContext) -> None:
    try:
        meeting_id = uuid.UUID(str(job.payload["meeting_id"]))
        starts_at = datetime.fromisoformat(str(job.payload["starts_at"]))
    except (KeyError, ValueError) as exc:
        raise JobError("the job names no meeting") from exc
    meeting = await job.session.get(Meeting, meeting_id)
    if (
        meeting is None
        or meeting.cancelled_at is not None
        or meeting.state == MeetingState.ended
        or as_utc(meeting.starts_at) != starts_at
    ):
        return
    invited = await job.session.exec(
        select(MeetingInvitee.user_id).where(MeetingInvitee.meeting_id == meeting.id)
    )
    await notifications.tell(
        job.session,
        person_ids=sorted({meeting.host_id, *invited.all()}, key=str),
        notice=Notice.meeting_reminder,
        link=meeting_link(meeting.id),
        now=job.ctx.now(),
        settings=job.settings,
    )
