"""Wellbeing check-in prompts as scheduled work.

``wellbeing.check_in_prompts`` (every ``jobs_check_in_prompts_minutes``) finds the staff whose
check-in has fallen due by their cadence and schedules one ``wellbeing.check_in_prompt`` job
each, keyed by the person and their last check-in, so each gap between check-ins is prompted
once however often the scan runs. That job checks it is still due (they may have checked in
since) and tells the person, ``wellbeing.check_in_due``, which names only when it fell due,
and notifies them under "check-ins" (a fixed notice with a link to their wellbeing page).
The same pair (a scan that schedules keyed jobs, a job that tells) is the pattern for
reminders of other kinds.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app import events
from app.config import Settings
from app.jobs import service as jobs_service
from app.jobs.registry import JobContext, JobError, handler
from app.notifications import service as notifications
from app.notifications.notices import Notice
from app.supervision import check_ins
from app.supervision.events import check_in_due
from app.supervision.service import SupervisionSettings

PROMPTS = "wellbeing.check_in_prompts"
PROMPT = "wellbeing.check_in_prompt"
WELLBEING_LINK = "#/wellbeing"


def _every(settings: Settings) -> timedelta | None:
    minutes = settings.jobs_check_in_prompts_minutes
    return None if minutes is None else timedelta(minutes=minutes)


def prompt_key(user_id: uuid.UUID, last: datetime | None) -> str:
    """One prompt per person per gap between check-ins."""
    return f"{PROMPT}:{user_id}:{last.isoformat() if last else 'never'}"


@handler(PROMPTS, every=_every)
async def find_due_check_ins(job: JobContext) -> None:
    settings = SupervisionSettings.of(job.settings)
    now = job.ctx.now()
    for due in await check_ins.due_check_ins(session=job.session, ctx=job.ctx, settings=settings):
        await jobs_service.schedule(
            job.session,
            PROMPT,
            run_at=now,
            payload={"user_id": str(due.user_id)},
            key=prompt_key(due.user_id, due.last),
            organisation_id=due.organisation_id,  # seen by the person's own admins only
            now=now,
            settings=job.settings,
        )


@handler(PROMPT)
async def prompt_check_in(job: JobContext) -> None:
    try:
        user_id = uuid.UUID(str(job.payload["user_id"]))
    except (KeyError, ValueError) as exc:
        raise JobError("the job names no person") from exc
    settings = SupervisionSettings.of(job.settings)
    prompt = await check_ins.prompt(
        session=job.session, ctx=job.ctx, user_id=user_id, settings=settings
    )
    if prompt.due:
        events.announce(job.session, check_in_due(user_id=user_id, due_at=prompt.next_due_at))
        # And away from the screen, under "check-ins" (the keyed job makes it once per gap).
        await notifications.tell(
            job.session,
            person_ids=[user_id],
            notice=Notice.check_in_due,
            link=WELLBEING_LINK,
            now=job.ctx.now(),
            settings=job.settings,
        )
