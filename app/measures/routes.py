"""Outcome measures: the instruments, completing one (the client remotely or a clinician in
session), a client's scores and outcomes, and the risk alerts staff must acknowledge."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, status

from app.audit import service as audit_service
from app.clients.models import ClientRecord
from app.db import SessionDep
from app.measures import service
from app.measures.instruments import REGISTRY
from app.measures.models import MeasureResponse
from app.measures.schemas import (
    Acknowledge,
    AlertPublic,
    MeasurePublic,
    MeasureSubmit,
    OutcomeSummary,
)
from auth.deps import CurrentUser, ReadableClient, Staff

router = APIRouter(tags=["measures"])


def _public(response: MeasureResponse) -> MeasurePublic:
    return MeasurePublic.model_validate(response, from_attributes=True)


@router.get("/instruments")
async def instruments(principal: CurrentUser) -> list[dict[str, Any]]:
    """The questionnaires Teamwell scores, as data (items, answer options, bands)."""
    return [asdict(instrument) for instrument in REGISTRY.values()]


@router.post(
    "/clients/{client_id}/measures",
    response_model=MeasurePublic,
    status_code=status.HTTP_201_CREATED,
)
async def submit(
    body: MeasureSubmit, access: ReadableClient, session: SessionDep, request: Request
) -> MeasurePublic:
    """Record a completed questionnaire. A PHQ-9 item 9 answer above 0 raises an urgent alert
    to the therapists on the care team at once."""
    response, alerts = await service.record(
        session=session,
        ctx=access.ctx,
        client=access.client,
        by=access.principal.user,
        instrument_code=body.instrument,
        raw_answers=dict(body.answers),
        session_key=body.session_key,
    )
    await audit_service.record(
        session,
        access.ctx,
        action="measure.record",
        resource_type="measure",
        resource_id=response.id,
        client_id=access.client.id,
        detail=response.instrument,
    )
    view = _public(response)
    frames = [(a.recipient_id, _alert_frame(a, access.client)) for a in alerts]
    # Stored before anyone is told.
    await session.commit()
    for recipient, frame in frames:
        await request.app.state.realtime.hub.send_to_users([recipient], frame)
    return view


def _alert_view(alert: Any, client: ClientRecord | None) -> AlertPublic:
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


def _alert_frame(alert: Any, client: ClientRecord) -> dict[str, Any]:
    return {"type": "alert.raised", "alert": _alert_view(alert, client).model_dump(mode="json")}


@router.get("/clients/{client_id}/measures", response_model=list[MeasurePublic])
async def measures(access: ReadableClient, session: SessionDep) -> list[MeasurePublic]:
    """Every questionnaire the client completed, oldest first."""
    await audit_service.record(
        session,
        access.ctx,
        action="measure.read",
        resource_type="client",
        resource_id=access.client.id,
        client_id=access.client.id,
    )
    return [_public(r) for r in await service.history(session=session, client_id=access.client.id)]


@router.get("/clients/{client_id}/outcomes", response_model=OutcomeSummary)
async def outcomes(access: ReadableClient, session: SessionDep) -> OutcomeSummary:
    """Caseness, recovery and reliable change between the first and latest paired sessions."""
    await audit_service.record(
        session,
        access.ctx,
        action="measure.read",
        resource_type="client",
        resource_id=access.client.id,
        client_id=access.client.id,
    )
    pairs, first, last, result = service.outcome(
        await service.history(session=session, client_id=access.client.id)
    )
    return OutcomeSummary.of(pairs, first, last, result)


@router.get("/alerts", response_model=list[AlertPublic])
async def my_alerts(
    principal: Staff, session: SessionDep, include_acknowledged: bool = False
) -> list[AlertPublic]:
    """Alerts addressed to the caller, newest first (unacknowledged only unless asked)."""
    found = await service.alerts_for(
        session=session, user_id=principal.id, include_acknowledged=include_acknowledged
    )
    return [_alert_view(a, await session.get(ClientRecord, a.client_id)) for a in found]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
async def acknowledge(
    alert_id: uuid.UUID, body: Acknowledge, principal: Staff, session: SessionDep
) -> AlertPublic:
    """Acknowledge an alert (recorded, with an optional note of what was done)."""
    alert = await service.acknowledge(
        session=session, ctx=principal.ctx, alert_id=alert_id, user=principal.user, note=body.note
    )
    await audit_service.record(
        session,
        principal.ctx,
        action="alert.acknowledge",
        resource_type="alert",
        resource_id=alert.id,
        client_id=alert.client_id,
    )
    return _alert_view(alert, await session.get(ClientRecord, alert.client_id))
