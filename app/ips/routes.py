"""The IPS employment journey: milestones, jobs with in-work support and sustainment checks,
employer contacts, and caseloads per employment specialist.

What is due is computed for today by the pure rules (``app/ips/rules.py``); reading a journey
also raises its overdue items as alerts to the care team (``GET /api/v1/alerts``, and
``alert.raised`` over ``/ws``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app import events
from app.alerts.events import alert_raised
from app.audit.service import AuditEntry
from app.brokerage import service as brokerage_service
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.db import SessionDep
from app.ips import service
from app.ips.models import CaseloadOverride, EmployerContact
from app.ips.schemas import (
    Assignment,
    Caseload,
    EmployerContactCreate,
    EmployerContactPublic,
    EmployerContactUpdate,
    JobCreate,
    JobEnd,
    JobPublic,
    Journey,
    MilestoneCreate,
    MilestonePublic,
    OverridePublic,
    ReviewCreate,
    ReviewPublic,
    SpecialistAssign,
)
from app.pagination import Page, PageDep, page_of
from app.users import service as users_service
from app.users.models import User
from auth.deps import (
    ChangeableClient,
    Principal,
    ReadableClient,
    admitted_client,
    refuse_unless,
    require,
)
from auth.policies import clients as client_policies
from auth.policies import ips as ips_policies

router = APIRouter(tags=["ips"])

EmployerContactLogger = Annotated[
    Principal,
    Depends(require(ips_policies.can_log_employer_contacts, "employer_contact.create")),
]
EmployerContactEditor = Annotated[
    Principal,
    Depends(require(ips_policies.can_log_employer_contacts, "employer_contact.update")),
]
EmployerContactReader = Annotated[
    Principal,
    Depends(require(ips_policies.can_read_employer_contacts, "employer_contact.read")),
]
CaseloadReader = Annotated[
    Principal, Depends(require(ips_policies.can_read_caseloads, "caseload.read"))
]


def caseload_settings(request: Request) -> service.CaseloadSettings:
    settings = request.app.state.settings
    return service.CaseloadSettings(
        limit=settings.caseload_limit, warn_above=settings.caseload_warn_above
    )


CaseloadSettingsDep = Annotated[service.CaseloadSettings, Depends(caseload_settings)]


@router.get("/clients/{client_id}/journey", response_model=Journey)
async def get_journey(access: ReadableClient, session: SessionDep, request: Request) -> Journey:
    """The client's IPS journey as of today: milestones; jobs with their 26-week in-work support
    window, reviews and the 13/26/52-week sustainment checks; and what is due or overdue (first
    employer contact 30 days after joining, in-work reviews, plan actions). Overdue items are
    raised once as alerts to each member of the care team."""
    await access.audit("journey.read")
    journey = await service.journey(session=session, ctx=access.ctx, client=access.client)
    journey.job_quality = service.job_quality_settings(request.app.state.settings)
    raised = await service.raise_due_alerts(session, access.ctx, access.client, due=journey.alerts)
    for alert in raised:
        events.announce(session, alert_raised(alert, access.client))
    return journey


@router.post(
    "/clients/{client_id}/milestones",
    response_model=MilestonePublic,
    status_code=status.HTTP_201_CREATED,
)
async def record_milestone(
    body: MilestoneCreate, access: ChangeableClient, session: SessionDep
) -> MilestonePublic:
    """Record a referral, the first meeting (the day the client joined) or the first employer
    contact. Job starts and ends are recorded with the job."""
    milestone = await service.record_milestone(
        session=session, ctx=access.ctx, client=access.client, data=body
    )
    await access.audit(
        "journey.milestone",
        resource_type="milestone",
        resource_id=milestone.id,
        detail=f"{milestone.kind} on {milestone.occurred_on.isoformat()}",
    )
    return MilestonePublic(
        id=milestone.id,
        kind=milestone.kind,
        occurred_on=milestone.occurred_on,
        job_id=milestone.job_id,
        note=milestone.note,
        recorded_by=milestone.recorded_by,
        recorded_by_name=access.principal.user.display_name,
        recorded_at=milestone.recorded_at,
    )


@router.post(
    "/clients/{client_id}/jobs", response_model=JobPublic, status_code=status.HTTP_201_CREATED
)
async def start_job(
    body: JobCreate, access: ChangeableClient, session: SessionDep, request: Request
) -> JobPublic:
    """Record a job start (employer, role, hours, and its quality: hourly pay, contract,
    competitive or not, sector): a job-start milestone, 26 weeks of in-work support from that
    day, and sustainment checks at 13, 26 and 52 weeks."""
    job = await service.start_job(
        session=session,
        ctx=access.ctx,
        client=access.client,
        data=body,
        wage_threshold_pence=request.app.state.settings.wage_threshold_pence,
    )
    await access.audit("journey.job_start", resource_type="job", resource_id=job.id)
    return await service.job_public(session=session, ctx=access.ctx, job=job)


@router.patch("/clients/{client_id}/jobs/{job_id}", response_model=JobPublic)
async def end_job(
    job_id: uuid.UUID, body: JobEnd, access: ChangeableClient, session: SessionDep
) -> JobPublic:
    """End a job on its last day: a job-end milestone; in-work support for it stops then."""
    job = await service.get_job(session=session, client=access.client, job_id=job_id)
    job = await service.end_job(
        session=session, ctx=access.ctx, client=access.client, job=job, data=body
    )
    await access.audit("journey.job_end", resource_type="job", resource_id=job.id)
    return await service.job_public(session=session, ctx=access.ctx, job=job)


@router.post(
    "/clients/{client_id}/jobs/{job_id}/reviews",
    response_model=ReviewPublic,
    status_code=status.HTTP_201_CREATED,
)
async def add_review(
    job_id: uuid.UUID, body: ReviewCreate, access: ChangeableClient, session: SessionDep
) -> ReviewPublic:
    """Record an in-work support review of a job; the next one falls due a fortnight later."""
    job = await service.get_job(session=session, client=access.client, job_id=job_id)
    review = await service.add_review(session=session, ctx=access.ctx, job=job, data=body)
    await access.audit("journey.support_review", resource_type="job", resource_id=job.id)
    return ReviewPublic(
        id=review.id,
        reviewed_on=review.reviewed_on,
        reviewed_by=review.reviewed_by,
        reviewed_by_name=access.principal.user.display_name,
        note=review.note,
    )


async def _contact_views(
    session: SessionDep, reader: User, contacts: list[EmployerContact]
) -> tuple[list[EmployerContactPublic], set[uuid.UUID]]:
    """Views of the contacts, naming a linked client only to a reader who may read them."""
    readable: set[uuid.UUID] = set()
    for client_id in {c.client_id for c in contacts if c.client_id is not None}:
        client = await session.get(ClientRecord, client_id)
        if client is not None and await client_policies.can_read_client(session, reader, client):
            readable.add(client_id)
    names = await users_service.names(session=session, ids={c.specialist_id for c in contacts})
    views = [service.contact_view(c, names, show_client=c.client_id in readable) for c in contacts]
    return views, readable


@router.get("/employer-contacts", response_model=Page[EmployerContactPublic])
async def list_employer_contacts(
    principal: EmployerContactReader,
    session: SessionDep,
    page: PageDep,
    specialist_id: uuid.UUID | None = None,
    employer_id: uuid.UUID | None = None,
) -> Page[EmployerContactPublic]:
    """Employer contacts, newest first: a specialist's own, or for a supervisor those of the
    employment specialists they supervise (``specialist_id`` narrows to one of them,
    ``employer_id`` to those logged against one directory employer)."""
    owners = await ips_policies.employer_contact_log_owners(session, principal.user)
    if specialist_id is not None:
        owners &= {specialist_id}
    found, total = await service.employer_contacts(
        session=session,
        specialist_ids=owners,
        employer_id=employer_id,
        limit=page.limit,
        offset=page.offset,
    )
    views, shown_clients = await _contact_views(session, principal.user, found)
    await principal.audit_many(
        [
            AuditEntry(
                action="employer_contact.list",
                resource_type="client",
                resource_id=client_id,
                client_id=client_id,
            )
            for client_id in sorted(shown_clients, key=str)
        ]
    )
    return page_of(page, views, total)


async def _must_read_linked_client(
    session: SessionDep, principal: Principal, client_id: uuid.UUID, *, action: str
) -> None:
    """A contact linked to a client is logged or changed only by someone who may read them."""
    await admitted_client(
        session, principal, client_id, client_policies.can_read_client, action=action
    )


async def _must_be_in_directory(
    session: SessionDep, principal: Principal, employer_id: uuid.UUID | None
) -> None:
    """A contact is linked only to an employer of the specialist's own directory (another
    organisation's is not found)."""
    if employer_id is not None:
        await brokerage_service.get_employer(
            session=session,
            employer_id=employer_id,
            organisation_ids={principal.user.organisation_id},
        )


@router.post(
    "/employer-contacts",
    response_model=EmployerContactPublic,
    status_code=status.HTTP_201_CREATED,
)
async def log_employer_contact(
    body: EmployerContactCreate, principal: EmployerContactLogger, session: SessionDep
) -> EmployerContactPublic:
    """Log one of your own employer contacts (job development). A linked client must be one
    whose record you may read; the contact then counts as that client's employer contact."""
    if body.client_id is not None:
        await _must_read_linked_client(
            session, principal, body.client_id, action="employer_contact.create"
        )
    await _must_be_in_directory(session, principal, body.employer_id)
    contact = await service.log_employer_contact(
        session=session, ctx=principal.ctx, specialist=principal.user, data=body
    )
    await principal.audit(
        "employer_contact.create",
        resource_type="employer_contact",
        resource_id=contact.id,
        client_id=contact.client_id,
    )
    views, _ = await _contact_views(session, principal.user, [contact])
    return views[0]


@router.patch("/employer-contacts/{contact_id}", response_model=EmployerContactPublic)
async def change_employer_contact(
    contact_id: uuid.UUID,
    body: EmployerContactUpdate,
    principal: EmployerContactEditor,
    session: SessionDep,
) -> EmployerContactPublic:
    """Correct one of your own employer contacts: its employer, date, contact type, outcome or
    directory employer (only the fields given change). A contact linked to a client is changed
    only while you may read that client's record; the client it is linked to does not change."""
    contact = await service.get_employer_contact(session=session, contact_id=contact_id)
    decision = ips_policies.can_change_employer_contact(principal.user, contact.specialist_id)
    await refuse_unless(
        decision,
        session,
        principal,
        action="employer_contact.update",
        resource_type="employer_contact",
        resource_id=contact.id,
        client_id=contact.client_id,
    )
    if contact.client_id is not None:
        await _must_read_linked_client(
            session, principal, contact.client_id, action="employer_contact.update"
        )
    await _must_be_in_directory(session, principal, body.employer_id)
    changed = await service.update_employer_contact(
        session=session, ctx=principal.ctx, contact=contact, data=body
    )
    await principal.audit(
        "employer_contact.update",
        resource_type="employer_contact",
        resource_id=contact.id,
        client_id=contact.client_id,
        detail=f"changed: {', '.join(changed) or 'nothing'}",
    )
    views, _ = await _contact_views(session, principal.user, [contact])
    return views[0]


@router.get("/caseloads", response_model=list[Caseload])
async def list_caseloads(
    principal: CaseloadReader, session: SessionDep, settings: CaseloadSettingsDep
) -> list[Caseload]:
    """Caseload per employment specialist of your organisation (and those you supervise):
    clients on whose care team they are as employment specialist and whose case is open,
    against the limit (a warning above the IPS-25 best-practice level), with the IPS-25
    caseload item score at one full-time specialist."""
    specialists = await service.specialists_seen_by(session=session, viewer=principal.user)
    return await service.caseloads(session=session, specialists=specialists, settings=settings)


def _override_view(override: CaseloadOverride) -> OverridePublic:
    return OverridePublic.model_validate(override, from_attributes=True)


@router.post(
    "/clients/{client_id}/employment-specialist",
    response_model=Assignment,
    status_code=status.HTTP_201_CREATED,
)
async def assign_employment_specialist(
    body: SpecialistAssign,
    access: ChangeableClient,
    session: SessionDep,
    settings: CaseloadSettingsDep,
) -> Assignment:
    """Assign an employment specialist to the client's care team if their caseload allows it.
    Up to the limit anyone who may change the record assigns; beyond it only a supervisor,
    giving ``override_reason`` (recorded and audited). Otherwise 409 ``caseload-limit``."""
    specialist = await users_service.get(session=session, user_id=body.user_id)
    member, override = await service.assign_specialist(
        session=session,
        ctx=access.ctx,
        client=access.client,
        assigner=access.principal.user,
        specialist=specialist,
        override_reason=body.override_reason,
        settings=settings,
    )
    await access.audit(
        "care_team.add",
        resource_type="care_team_member",
        resource_id=member.id,
        detail=f"user {specialist.id} as employment specialist",
    )
    if override is not None:
        await access.audit(
            "caseload.override",
            resource_type="caseload_override",
            resource_id=override.id,
            detail=f"user {specialist.id}: caseload {override.caseload_before} at limit "
            f"{override.caseload_limit}; reason: {override.reason}",
        )
    caseload = await service.caseloads(session=session, specialists=[specialist], settings=settings)
    return Assignment(
        care_team=await clients_service.care_team(session=session, client_id=access.client.id),
        caseload=caseload[0],
        override=_override_view(override) if override else None,
    )
