"""Storing completed questionnaires, outcomes over time, and the risk alert on PHQ-9 item 9."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts.models import RISK_ALERT_KINDS, Alert, AlertKind
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.context import Context
from app.errors import Problem
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
from app.users.models import Role, User
from auth import policies


class InvalidMeasure(Problem):
    status, slug, title = 422, "invalid-answers", "The answers are not valid for this measure"


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
) -> tuple[MeasureResponse, list[Alert]]:
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
    alerts: list[Alert] = []
    if risk_flag(instrument, answers):
        alerts = await _raise_risk_alerts(session, ctx, client, response)
    return response, alerts


async def _raise_risk_alerts(
    session: AsyncSession, ctx: Context, client: ClientRecord, response: MeasureResponse
) -> list[Alert]:
    """Any answer above 0 to PHQ-9 item 9 reaches every therapist on the care team at once."""
    care = await clients_service.care_team(session=session, client_id=client.id)
    therapists = {m.user_id for m in care if m.role_on_team == Role.therapist}
    alerts = [
        Alert(
            kind=AlertKind.phq9_item9,
            urgent=True,
            client_id=client.id,
            recipient_id=uid,
            source_id=response.id,
            raised_at=ctx.now(),
            detail=f"PHQ-9 item 9 (thoughts of self-harm) answered above 0 on "
            f"{response.completed_at:%d %b %Y %H:%M} UTC. Contact the client today.",
        )
        for uid in sorted(therapists, key=str)
    ]
    session.add_all(alerts)
    await session.flush()
    return alerts


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
        raised_at=alert.raised_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledgement_note=alert.acknowledgement_note,
    )


async def visible_alerts(
    *, session: AsyncSession, user: User, include_acknowledged: bool
) -> list[tuple[Alert, ClientRecord | None]]:
    """Alerts addressed to this person, newest first, each with its client. A risk alert
    (PHQ-9 item 9) is left out unless its recipient may still see the client's item answers
    (``auth.policies.can_see_item_answers``): someone since taken off the care team, or whose
    consent was withdrawn, no longer sees it. The alerts list and the home page share this."""
    found = await alerts_for(
        session=session, user_id=user.id, include_acknowledged=include_acknowledged
    )
    visible: list[tuple[Alert, ClientRecord | None]] = []
    clients: dict[uuid.UUID, ClientRecord | None] = {}
    sees_risk: dict[uuid.UUID, bool] = {}
    for alert in found:
        if alert.client_id not in clients:
            clients[alert.client_id] = await session.get(ClientRecord, alert.client_id)
        client = clients[alert.client_id]
        if alert.kind in RISK_ALERT_KINDS:
            if client is None:
                continue
            if alert.client_id not in sees_risk:
                sees_risk[alert.client_id] = bool(
                    await policies.can_see_item_answers(session, user, client)
                )
            if not sees_risk[alert.client_id]:
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


class AlertNotFound(Problem):
    status, slug, title = 404, "not-found", "Alert not found"
