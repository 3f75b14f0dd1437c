"""Outcome measures: the instruments, completing one (the client remotely or a clinician in
session), a client's scores and outcomes, and the risk alerts staff must acknowledge."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, StrictBool
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.alerts.events import alert_raised
from app.alerts.models import RISK_ALERT_KINDS
from app.audit import service as audit_service
from app.audit.writer import AuditedRead
from app.clients.models import ClientRecord
from app.context import acting_as
from app.db import SessionDep
from app.measures import links, service
from app.measures.instruments import REGISTRY
from app.measures.models import MeasureResponse
from app.measures.schemas import (
    ANSWERS_DESCRIPTION,
    Acknowledge,
    AlertPublic,
    ItemAnswer,
    MeasurePublic,
    MeasureSubmit,
    OutcomeSummary,
    RiskAlertNotice,
)
from app.notifications import link_texts
from app.notifications.link_texts import UkMobile
from auth.deps import (
    AnonymousContext,
    ChangeableClient,
    ClientAccess,
    CurrentUser,
    ReadableClient,
    RuntimeDep,
    Staff,
    refuse_unless,
)
from auth.email import EmailSenderDep
from auth.policies import clients as client_policies
from auth.policies.decision import Decision

router = APIRouter(tags=["measures"])


def _public(response: MeasureResponse, *, items: bool) -> MeasurePublic:
    """The response as the reader may see it: with the item answers, or only the scores."""
    view = MeasurePublic.model_validate(response, from_attributes=True)
    return view if items else view.model_copy(update={"answers": None})


async def _item_answers(session: AsyncSession, access: ClientAccess) -> Decision:
    # Nothing a measures route does changes the care team: the relation read at admission holds.
    return await access.decide(session, client_policies.can_see_item_answers)


@router.get("/instruments")
async def instruments(principal: CurrentUser) -> list[dict[str, Any]]:
    """The questionnaires Teamwell scores, as data (items, answer options, bands)."""
    return [asdict(instrument) for instrument in REGISTRY.values()]


@router.post(
    "/clients/{client_id}/measures",
    response_model=MeasurePublic,
    status_code=status.HTTP_201_CREATED,
)
async def submit(body: MeasureSubmit, access: ReadableClient, session: SessionDep) -> MeasurePublic:
    """Record a completed questionnaire. A PHQ-9 item 9 answer above 0 raises an urgent alert
    at once to the care team's clinicians, or, when it has none, to the supervisors of its
    staff, or else to the organisation's supervisors; staff who entered it are told which
    (``risk_alert``)."""
    response, alerting = await service.record(
        session=session,
        ctx=access.ctx,
        client=access.client,
        by=access.principal.user,
        instrument_code=body.instrument,
        raw_answers=dict(body.answers),
        session_key=body.session_key,
    )
    await access.audit(
        "measure.record",
        resource_type="measure",
        resource_id=response.id,
        detail=response.instrument,
    )
    view = _public(response, items=bool(await _item_answers(session, access)))
    if alerting is not None and access.principal.user.is_staff:
        view.risk_alert = RiskAlertNotice(
            sent_to=alerting.reach.value,
            recipients=len(alerting.alerts),
            message=service.REACH_MESSAGES[alerting.reach],
        )
    _announce_alerts(session, alerting, access.client)
    return view


def _announce_alerts(
    session: AsyncSession, alerting: service.RiskAlerting | None, client: ClientRecord
) -> None:
    """Each recipient is told live once the answers and their alerts are stored."""
    for alert in alerting.alerts if alerting is not None else []:
        events.announce(session, alert_raised(alert, client))


def _alert_view(alert: Any, client: ClientRecord | None) -> AlertPublic:
    return service.alert_public(alert, client)


# Reading routes append their audit events through the audit writer (app/audit/writer.py).
@router.get(
    "/clients/{client_id}/measures",
    response_model=list[MeasurePublic],
    dependencies=[AuditedRead],
)
async def measures(access: ReadableClient, session: SessionDep) -> list[MeasurePublic]:
    """Every questionnaire the client completed, oldest first. ``answers`` is null for readers
    who see only the scores (``auth.policies.clients.can_see_item_answers``)."""
    items = await _item_answers(session, access)
    await access.audit(
        "measure.read", detail=None if items else f"item answers withheld: {items.reason}"
    )
    found = await service.listed(session=session, client_id=access.client.id)
    return [
        MeasurePublic.model_validate(row if items else {**row, "answers": None}) for row in found
    ]


@router.get(
    "/clients/{client_id}/outcomes", response_model=OutcomeSummary, dependencies=[AuditedRead]
)
async def outcomes(access: ReadableClient, session: SessionDep) -> OutcomeSummary:
    """Caseness, recovery and reliable change between the first and latest paired sessions."""
    await access.audit("measure.read")
    pairs, first, last, result = service.outcome(
        await service.history(session=session, client_id=access.client.id)
    )
    return OutcomeSummary.of(pairs, first, last, result)


@router.get("/alerts", response_model=list[AlertPublic])
async def my_alerts(
    principal: Staff, session: SessionDep, include_acknowledged: bool = False
) -> list[AlertPublic]:
    """Alerts addressed to the caller, newest first (unacknowledged only unless asked). A risk
    alert (PHQ-9 item 9) is listed only while its recipient may still see the client's item
    answers (someone since taken off the care team, or whose consent was withdrawn, no longer
    sees it), or, for one escalated to the organisation's supervisors, while they are one."""
    found = await service.visible_alerts(
        session=session, user=principal.user, include_acknowledged=include_acknowledged
    )
    return [_alert_view(alert, client) for alert, client in found]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
async def acknowledge(
    alert_id: uuid.UUID, body: Acknowledge, principal: Staff, session: SessionDep
) -> AlertPublic:
    """Acknowledge an alert (recorded, with an optional note of what was done)."""
    alert = await service.alert_of(session=session, alert_id=alert_id, user=principal.user)
    if alert.kind in RISK_ALERT_KINDS:
        client = await session.get(ClientRecord, alert.client_id)
        decision = (
            await client_policies.can_see_risk_alert(
                session, principal.user, client, escalated=alert.escalated
            )
            if client is not None
            else Decision(False, "the client's record is gone")
        )
        await refuse_unless(
            decision,
            session,
            principal,
            action="alert.acknowledge",
            resource_type="alert",
            resource_id=alert.id,
            client_id=alert.client_id,
        )
    alert = await service.acknowledge(
        session=session, ctx=principal.ctx, alert=alert, user=principal.user, note=body.note
    )
    await principal.audit(
        "alert.acknowledge", resource_type="alert", resource_id=alert.id, client_id=alert.client_id
    )
    return _alert_view(alert, await session.get(ClientRecord, alert.client_id))


class MeasureLinkCreate(BaseModel):
    instrument: str = Field(min_length=1, max_length=32, examples=["phq9"])
    # Where to email the link instead of the client's login email (a client without a login).
    email: str | None = Field(
        default=None, min_length=3, max_length=320, strict=True, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    # Text the link to this UK mobile (app/notifications/link_texts.py), normalised to E.164.
    sms_to: UkMobile | None = None
    # Text the link to the client's own mobile number on record (without sms_to).
    sms: StrictBool = False


class MeasureLinkCreated(BaseModel):
    """The link is shown only here, to the member of staff who made it."""

    id: uuid.UUID
    instrument: str
    expires_at: datetime
    emailed: bool = Field(
        description="Whether it was emailed: to the address given, else the client's login email"
    )
    texted: bool = Field(description="Whether it was texted: to sms_to, else the client's mobile")
    link: str


class MeasureLinkOpened(BaseModel):
    instrument: dict[str, Any]
    client_first_name: str
    expires_at: datetime


class MeasureLinkAnswers(BaseModel):
    answers: dict[int, ItemAnswer] = Field(description=ANSWERS_DESCRIPTION)


class MeasureLinkResult(BaseModel):
    total: int | None
    band: str | None


@router.post(
    "/clients/{client_id}/measure-links",
    response_model=MeasureLinkCreated,
    status_code=status.HTTP_201_CREATED,
)
async def create_measure_link(
    body: MeasureLinkCreate,
    access: ChangeableClient,
    session: SessionDep,
    runtime: RuntimeDep,
    sender: EmailSenderDep,
    sms_sender: link_texts.SmsSenderDep,
) -> MeasureLinkCreated:
    """Ask the client to complete a questionnaire remotely (care team). The one-time link is
    emailed to the address given, or else to the client's login email when they have one, and
    returned here, once, so it can be copied and given another way. It is texted to ``sms_to``
    (or, with ``sms``, to the client's own mobile on record) where the service sends SMS. It
    expires after the configured number of hours."""
    text = None
    if body.sms or body.sms_to is not None:
        # Checked before the link is made: a text that cannot go leaves no link behind.
        text = await link_texts.plan(
            session=session,
            ctx=access.ctx,
            settings=runtime.settings,
            client=access.client,
            number=body.sms_to,
            action="measure_link.sms",
        )
    link, token = await links.create(
        session=session,
        ctx=access.ctx,
        client=access.client,
        by=access.principal.user,
        instrument_code=body.instrument,
        lifetime=timedelta(hours=runtime.settings.measure_link_hours),
    )
    await access.audit(
        "measure_link.create",
        resource_type="measure_link",
        resource_id=link.id,
        detail=link.instrument,
    )
    url = links.link_url(runtime.settings.public_url, token)
    # The text first: should it fail, nothing was emailed with a link that is not kept.
    if text is not None:
        await link_texts.send(
            session=session,
            ctx=access.ctx,
            sender=sms_sender,
            text=text,
            client_id=access.client.id,
            resource_type="measure_link",
            resource_id=link.id,
            title=link_texts.MEASURE_LINK_TITLE,
            link=url,
        )
    emailed = await links.send(
        session=session, sender=sender, client=access.client, link=link, url=url, to=body.email
    )
    return MeasureLinkCreated(
        id=link.id,
        instrument=link.instrument,
        expires_at=link.expires_at,
        emailed=emailed,
        texted=text is not None,
        link=url,
    )


@router.get("/measure-links/{token}", response_model=MeasureLinkOpened)
async def open_measure_link(
    token: str, session: SessionDep, ctx: AnonymousContext
) -> MeasureLinkOpened:
    """The questionnaire behind a link (no sign-in): used or expired links answer 410,
    unknown ones 404."""
    link = await links.open_link(session=session, ctx=ctx, token=token)
    client = await links.client_of(session=session, link=link)
    return MeasureLinkOpened(
        instrument=asdict(REGISTRY[link.instrument]),
        client_first_name=links.first_name(client),
        expires_at=link.expires_at,
    )


@router.post(
    "/measure-links/{token}",
    response_model=MeasureLinkResult,
    status_code=status.HTTP_201_CREATED,
)
async def answer_measure_link(
    token: str,
    body: MeasureLinkAnswers,
    session: SessionDep,
    ctx: AnonymousContext,
) -> MeasureLinkResult:
    """Send the answers (no sign-in). The link then stops working. A PHQ-9 item 9 answer above
    0 raises the same urgent alert as answers given signed in."""
    link = await links.open_link(session=session, ctx=ctx, token=token)
    client = await links.client_of(session=session, link=link)
    by = await links.respondent(session=session, client=client, link=link)
    as_by = acting_as(ctx, by)
    response, alerting = await links.use(
        session=session,
        ctx=as_by,
        link=link,
        client=client,
        by=by,
        raw_answers=dict(body.answers),
    )
    await audit_service.record(
        session,
        as_by,
        action="measure.record",
        resource_type="measure",
        resource_id=response.id,
        client_id=client.id,
        detail=f"{response.instrument} by link {link.id}",
    )
    result = MeasureLinkResult(total=response.total, band=response.band)
    _announce_alerts(session, alerting, client)
    return result
