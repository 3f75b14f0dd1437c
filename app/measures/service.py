"""Storing completed questionnaires, outcomes over time, and the risk alert on PHQ-9 item 9."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts.models import RISK_ALERT_KINDS, Alert, AlertKind
from app.audit import service as audit_service
from app.audit.models import Outcome
from app.clients.models import ClientRecord
from app.config import get_settings
from app.context import Context
from app.errors import NotFound, Unprocessable
from app.jobs import service as jobs_service
from app.measures import jobs as measure_jobs
from app.measures.instruments import PHQ9, REGISTRY
from app.measures.models import MeasureResponse
from app.measures.schemas import AlertPublic
from app.measures.scoring import (
    NOT_APPLICABLE,
    Answer,
    Change,
    InvalidAnswers,
    MeasurePair,
    change,
    risk_flag,
    score,
)
from app.notifications import service as notifications
from app.notifications.notices import Notice
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies.clients import RiskAlertReach, risk_alert_audience


@dataclass(frozen=True)
class RiskAlerting:
    """The risk alerts one questionnaire raised, and whom they reached."""

    reach: RiskAlertReach
    alerts: list[Alert]


# What the member of staff who entered the answers is told, by whom the alert reached.
REACH_MESSAGES = {
    RiskAlertReach.care_team: "An urgent alert has gone to the clinicians on the care team.",
    RiskAlertReach.supervisors_of_care_team: (
        "The care team has no clinician, so the urgent alert has gone to the supervisors of "
        "the care team's staff."
    ),
    RiskAlertReach.organisation_supervisors: (
        "The care team has no clinician and nobody supervises its staff, so the urgent alert "
        "has gone to the organisation's supervisors."
    ),
    RiskAlertReach.nobody: (
        "The care team has no clinician and the organisation has no supervisor, so the alert "
        "reached nobody: contact a clinician about this client yourself, today."
    ),
}


class InvalidMeasure(Unprocessable):
    slug, title = "invalid-answers", "The answers are not valid for this measure"


def _answers(raw: dict[int, int | str | None]) -> dict[int, Answer]:
    return {k: NOT_APPLICABLE if v == "not_applicable" else v for k, v in raw.items()}  # type: ignore[misc]


async def record(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    by: User,
    instrument_code: str,
    raw_answers: dict[int, int | str | None],
    session_key: str | None,
) -> tuple[MeasureResponse, RiskAlerting | None]:
    instrument = REGISTRY.get(instrument_code)
    if instrument is None:
        raise InvalidMeasure(f"Unknown measure {instrument_code!r}; known: {sorted(REGISTRY)}.")
    answers = _answers(raw_answers)
    try:
        result = score(instrument, answers)
    except InvalidAnswers as exc:
        raise InvalidMeasure(
            "; ".join(exc.problems),
            extra={"errors": [{"field": "body.answers", "message": p} for p in exc.problems]},
        ) from None
    now = ctx.now()
    response = MeasureResponse(
        client_id=client.id,
        instrument=instrument.code,
        instrument_version=instrument.version,
        answers={
            str(k): ("not_applicable" if v is NOT_APPLICABLE else v)
            for k, v in result.item_scores.items()
        },
        total=result.total,
        prorated=result.prorated,
        band=result.band,
        session_key=session_key or now.date().isoformat(),
        completed_at=now,
        completed_by=by.id,
        mode="remote" if by.role == Role.client else "in_session",
    )
    session.add(response)
    await session.flush()
    if not risk_flag(instrument, answers):
        return response, None
    return response, await _raise_risk_alerts(session, ctx, client, response)


async def _raise_risk_alerts(
    session: AsyncSession, ctx: Context, client: ClientRecord, response: MeasureResponse
) -> RiskAlerting:
    """Any answer above 0 to PHQ-9 item 9 reaches a clinician at once: the care team's, or else
    the supervisors over it, or else the organisation's (``risk_alert_audience``). Going beyond
    the supervisors of the care team, or reaching nobody, is audited (``alert.escalated``)."""
    audience = await risk_alert_audience(session, client)
    escalated = audience.reach in (
        RiskAlertReach.organisation_supervisors,
        RiskAlertReach.nobody,
    )
    alerts = [
        Alert(
            kind=AlertKind.phq9_item9,
            urgent=True,
            client_id=client.id,
            recipient_id=uid,
            source_id=response.id,
            raised_at=ctx.now(),
            detail=f"PHQ-9 item 9 (thoughts of self-harm) answered above 0 on "
            f"{response.completed_at:%d %b %Y %H:%M} UTC. Contact the client today."
            + (
                " Sent to the organisation's supervisors: the care team has no clinician."
                if escalated
                else ""
            ),
            escalated=escalated,
        )
        for uid in sorted(audience.recipients, key=str)
    ]
    session.add_all(alerts)
    await session.flush()
    await _notify_and_watch(session, ctx, client, response, alerts, audience.reach)
    if escalated:
        # Says whom it reached, not what was answered (admins read the audit trail too).
        await audit_service.record(
            session,
            ctx,
            action="alert.escalated",
            resource_type="measure",
            resource_id=response.id,
            client_id=client.id,
            outcome=Outcome.success if alerts else Outcome.failure,
            detail=(
                f"no clinician on or over the care team; sent to {len(alerts)} supervisor(s) "
                "of the organisation"
                if alerts
                else "no clinician on or over the care team and no supervisor in the "
                "organisation; nobody was alerted"
            ),
        )
    return RiskAlerting(audience.reach, alerts)


async def _notify_and_watch(
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    response: MeasureResponse,
    alerts: list[Alert],
    reach: RiskAlertReach,
) -> None:
    """Each recipient is told at once by every channel they have (urgent alerts ignore quiet
    hours); and, in the same transaction, one escalation job is scheduled, keyed by the
    response, for when the alert should have been acknowledged (``measures.jobs``). An alert
    that already went to the organisation's supervisors has nobody further to go to."""
    if not alerts:
        return
    settings = get_settings()
    now = ctx.now()
    await notifications.tell(
        session,
        person_ids=[a.recipient_id for a in alerts],
        notice=Notice.urgent_alert,
        link=measure_jobs.ALERTS_LINK,
        now=now,
        settings=settings,
    )
    if reach in (RiskAlertReach.care_team, RiskAlertReach.supervisors_of_care_team):
        await jobs_service.schedule(
            session,
            measure_jobs.ESCALATE,
            run_at=now + timedelta(minutes=settings.urgent_alert_escalation_minutes),
            payload={"source_id": str(response.id), "client_id": str(client.id)},
            key=measure_jobs.escalation_key(response.id),
            organisation_id=client.organisation_id,
            now=now,
            settings=settings,
        )


# Built once with a bound parameter: every read of a client's measures list runs it.
_LISTED = (
    sa_select(*MeasureResponse.__table__.columns)  # type: ignore[attr-defined]
    .where(col(MeasureResponse.client_id) == bindparam("client_id"))
    .order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
)


async def listed(*, session: AsyncSession, client_id: uuid.UUID) -> list[dict[str, Any]]:
    """``history`` as plain values (the columns by name), on the driver: the list only shows
    them, and loading each as an object in the session cost more than reading it."""
    connection = await session.connection()
    rows = await connection.execute(_LISTED, {"client_id": client_id})
    return [dict(row) for row in rows.mappings()]


async def history(*, session: AsyncSession, client_id: uuid.UUID) -> list[MeasureResponse]:
    rows = await session.exec(
        select(MeasureResponse)
        .where(MeasureResponse.client_id == client_id)
        .order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
    )
    return list(rows.all())


def outcome(responses: list[MeasureResponse]) -> tuple[int, str | None, str | None, Change | None]:
    """Change between the first and the latest sessions with both a PHQ-9 and an anxiety
    measure scored (the latest response of each per session)."""
    by_session: dict[str, dict[str, MeasureResponse]] = defaultdict(dict)
    for response in responses:
        if response.total is not None:
            by_session[response.session_key][response.instrument] = response
    pairs: list[tuple[str, MeasurePair]] = []
    for key in sorted(
        by_session, key=lambda k: min(r.completed_at for r in by_session[k].values())
    ):
        found = by_session[key]
        phq = found.get(PHQ9.code)
        anxiety = next(
            (
                r
                for code, r in found.items()
                if code != PHQ9.code and REGISTRY[code].caseness_threshold is not None
            ),
            None,
        )
        if phq and anxiety and phq.total is not None and anxiety.total is not None:
            pairs.append(
                (
                    key,
                    MeasurePair(
                        phq9=phq.total,
                        anxiety=anxiety.total,
                        anxiety_instrument=REGISTRY[anxiety.instrument],
                    ),
                )
            )
    if len(pairs) < 2:
        return len(pairs), pairs[0][0] if pairs else None, None, None
    (first_key, first), (last_key, last) = pairs[0], pairs[-1]
    if first.anxiety_instrument.code != last.anxiety_instrument.code:
        return len(pairs), first_key, last_key, None
    return len(pairs), first_key, last_key, change(first, last)


async def alerts_for(
    *, session: AsyncSession, user_id: uuid.UUID, include_acknowledged: bool
) -> list[Alert]:
    query = select(Alert).where(Alert.recipient_id == user_id)
    if not include_acknowledged:
        query = query.where(col(Alert.acknowledged_at).is_(None))
    rows = await session.exec(query.order_by(col(Alert.raised_at).desc()))
    return list(rows.all())


def alert_public(alert: Alert, client: ClientRecord | None) -> AlertPublic:
    return AlertPublic(
        id=alert.id,
        kind=alert.kind,
        urgent=alert.urgent,
        client_id=alert.client_id,
        client_name=client.display_name if client else None,
        detail=alert.detail,
        escalated=alert.escalated,
        raised_at=alert.raised_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledgement_note=alert.acknowledgement_note,
    )


async def visible_alerts(
    *, session: AsyncSession, user: User, include_acknowledged: bool
) -> list[tuple[Alert, ClientRecord | None]]:
    """Alerts addressed to this person, newest first, each with its client. A risk alert
    (PHQ-9 item 9) is left out unless its recipient may still see the client's item answers
    (``auth.policies.clients.can_see_risk_alert``): someone since taken off the care team, or whose
    consent was withdrawn, no longer sees it; one escalated to the organisation's supervisors is
    seen while its recipient is one. The alerts list and the home page share this."""
    found = await alerts_for(
        session=session, user_id=user.id, include_acknowledged=include_acknowledged
    )
    visible: list[tuple[Alert, ClientRecord | None]] = []
    clients: dict[uuid.UUID, ClientRecord | None] = {}
    sees_risk: dict[tuple[uuid.UUID, bool], bool] = {}
    for alert in found:
        if alert.client_id not in clients:
            clients[alert.client_id] = await session.get(ClientRecord, alert.client_id)
        client = clients[alert.client_id]
        if alert.kind in RISK_ALERT_KINDS:
            if client is None:
                continue
            key = (alert.client_id, alert.escalated)
            if key not in sees_risk:
                sees_risk[key] = bool(
                    await client_policies.can_see_risk_alert(
                        session, user, client, escalated=alert.escalated
                    )
                )
            if not sees_risk[key]:
                continue
        visible.append((alert, client))
    return visible


async def alert_of(*, session: AsyncSession, alert_id: uuid.UUID, user: User) -> Alert:
    """An alert addressed to this person (anyone else's is not found)."""
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.recipient_id != user.id:
        raise AlertNotFound()
    return alert


async def acknowledge(
    *, session: AsyncSession, ctx: Context, alert: Alert, user: User, note: str | None
) -> Alert:
    if alert.acknowledged_at is None:
        alert.acknowledged_at = ctx.now()
        alert.acknowledgement_note = note
        session.add(alert)
        await session.flush()
    return alert


class AlertNotFound(NotFound):
    slug, title = "not-found", "Alert not found"
