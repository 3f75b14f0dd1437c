"""The IPS journey's scheduled work: raise due journey alerts without waiting for someone to
open the journey page (``ips.journey_alerts``, every ``jobs_journey_alerts_minutes``).

The same rules and the same alerts as the journey page (``service.raise_due_alerts``, which
alerts each member of the care team once per lapse), for every open case, announced as
``alert.raised`` once the job's transaction commits. Each person alerted is also notified, once
per run, under "journey work" (their preferences and quiet hours decide how and when)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, select

from app import events
from app.alerts.events import alert_raised
from app.clients.models import ClientRecord, ProgrammeStatus
from app.config import Settings
from app.ips import service
from app.jobs.registry import JobContext, handler
from app.notifications import service as notifications
from app.notifications.notices import Notice

JOURNEY_ALERTS = "ips.journey_alerts"
ALERTS_LINK = "#/alerts"


def _every(settings: Settings) -> timedelta | None:
    minutes = settings.jobs_journey_alerts_minutes
    return None if minutes is None else timedelta(minutes=minutes)


@handler(JOURNEY_ALERTS, every=_every)
async def raise_journey_alerts(job: JobContext) -> None:
    rows = await job.session.exec(
        select(ClientRecord)
        .where(col(ClientRecord.status) != ProgrammeStatus.closed)
        .order_by(col(ClientRecord.id))
    )
    told: set[uuid.UUID] = set()
    for client in rows.all():
        for alert in await service.raise_due_alerts(job.session, job.ctx, client):
            events.announce(job.session, alert_raised(alert, client))
            told.add(alert.recipient_id)
    # One notice per person per run, however many alerts it raised for them.
    await notifications.tell(
        job.session,
        person_ids=sorted(told, key=str),
        notice=Notice.journey_work_due,
        link=ALERTS_LINK,
        now=job.ctx.now(),
        settings=job.settings,
    )
