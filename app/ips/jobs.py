"""The IPS journey's scheduled work: raise due journey alerts without waiting for someone to
open the journey page (``ips.journey_alerts``, every ``jobs_journey_alerts_minutes``).

The same rules and the same alerts as the journey page (``service.raise_due_alerts``, which
alerts each member of the care team once per lapse), for every open case, announced as
``alert.raised`` once the job's transaction commits."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from app import events
from app.alerts.events import alert_raised
from app.clients.models import ClientRecord, ProgrammeStatus
from app.config import Settings
from app.ips import service
from app.jobs.registry import JobContext, handler

JOURNEY_ALERTS = "ips.journey_alerts"


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
    for client in rows.all():
        for alert in await service.raise_due_alerts(job.session, job.ctx, client):
            events.announce(job.session, alert_raised(alert, client))
