"""Urgent alerts that nobody acknowledges escalate (``alerts.escalate``).

When a PHQ-9 item 9 answer raises urgent alerts (``service._raise_risk_alerts``), one job is
scheduled in the same transaction, keyed by the questionnaire response so it runs once, due
``urgent_alert_escalation_minutes`` later. When it runs it asks ``alerts.rules.escalation_due``
whether any recipient has acknowledged; if none has, the alert goes to the supervisors of those
it reached (supervision links in force), or, when they have none, to the organisation's
supervisors, each told by every channel they have (``urgent_alert_escalated``). Every
escalation is audited (``alert.escalated``), including one that found nobody to go to."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, select

from app import events
from app.alerts import rules
from app.alerts.models import Alert, AlertKind
from app.audit import service as audit_service
from app.audit.models import Outcome
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.jobs.registry import JobContext, JobError, handler
from app.notifications import service as notifications
from app.notifications.notices import Notice
from app.users import service as users_service
from auth.policies.clients import can_receive_escalated_risk_alert, can_see_item_answers

ESCALATE = "alerts.escalate"
ALERTS_LINK = "#/alerts"


def escalation_key(source_id: uuid.UUID) -> str:
    """One escalation per questionnaire response, however often it is asked for."""
    return f"{ESCALATE}:{source_id}"


async def _escalation_audience(
    job: JobContext, client: ClientRecord, reached: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The supervisors of those the alert reached who may see it, else the organisation's."""
    session = job.session
    found: set[uuid.UUID] = set()
    above = await clients_service.supervisors_of(session=session, user_ids=reached) - reached
    for user in await users_service.many(session=session, ids=above):
        if await can_see_item_answers(session, user, client) or can_receive_escalated_risk_alert(
            user, client
        ):
            found.add(user.id)
    if found:
        return found
    return {
        user.id
        for user in await users_service.active_supervisors(
            session=session, organisation_id=client.organisation_id
        )
        if can_receive_escalated_risk_alert(user, client) and user.id not in reached
    }


@handler(ESCALATE)
async def escalate(job: JobContext) -> None:
    from app.alerts.events import alert_raised  # imports the measures service, which imports us

    try:
        source_id = uuid.UUID(str(job.payload["source_id"]))
        client_id = uuid.UUID(str(job.payload["client_id"]))
    except (KeyError, ValueError) as exc:
        raise JobError("the job names no questionnaire response") from exc
    session, now = job.session, job.ctx.now()
    alerts = list(
        await session.exec(
            select(Alert).where(
                Alert.source_id == source_id,
                Alert.kind == AlertKind.phq9_item9,
                col(Alert.escalated).is_(False),
            )
        )
    )
    client = await session.get(ClientRecord, client_id)
    if not alerts or client is None:
        return
    after = timedelta(minutes=job.settings.urgent_alert_escalation_minutes)
    if not rules.escalation_due(
        raised_at=min(a.raised_at for a in alerts),
        acknowledged=[a.acknowledged_at for a in alerts],
        now=now,
        after=after,
    ):
        return
    audience = await _escalation_audience(job, client, {a.recipient_id for a in alerts})
    escalated = [
        Alert(
            kind=AlertKind.phq9_item9,
            urgent=True,
            client_id=client.id,
            recipient_id=uid,
            source_id=source_id,
            raised_at=now,
            detail=f"{alerts[0].detail} Escalated to you: nobody on the care team acknowledged "
            f"it within {job.settings.urgent_alert_escalation_minutes} minutes.",
            escalated=True,
        )
        for uid in sorted(audience, key=str)
    ]
    session.add_all(escalated)
    await session.flush()
    await notifications.tell(
        session,
        person_ids=[a.recipient_id for a in escalated],
        notice=Notice.urgent_alert_escalated,
        link=ALERTS_LINK,
        now=now,
        settings=job.settings,
    )
    # Says whom it reached, not what was answered (admins read the audit trail too).
    await audit_service.record(
        session,
        job.ctx,
        action="alert.escalated",
        resource_type="measure",
        resource_id=source_id,
        client_id=client.id,
        outcome=Outcome.success if escalated else Outcome.failure,
        detail=(
            f"not acknowledged within {job.settings.urgent_alert_escalation_minutes} minutes; "
            f"sent to {len(escalated)} supervisor(s)"
            if escalated
            else f"not acknowledged within {job.settings.urgent_alert_escalation_minutes} "
            "minutes and no supervisor to escalate to"
        ),
    )
    for alert in escalated:
        events.announce(session, alert_raised(alert, client))
