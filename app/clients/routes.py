"""Client records. Every read or change writes an audit event in the same transaction."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.audit.service import AuditEntry
from app.audit.writer import AuditedRead
from app.clients import eligibility, service
from app.clients.models import ClientRecord, ProgrammeStatus
from app.clients.schemas import (
    CareTeamMemberAdd,
    CareTeamMemberPublic,
    ClientCreate,
    ClientListItem,
    ClientSummary,
    ClientUpdate,
    EligibilityQuestionPublic,
    ReferralCreate,
    ReferralPublic,
)
from app.consents import service as consents_service
from app.consents.models import ConsentRecord
from app.consents.schemas import ConsentDecision, ConsentPublic
from app.db import SessionDep
from app.errors import Forbidden
from app.evaluation import service as evaluation_service
from app.organisations import service as organisations_service
from app.pagination import Page, PageDep, page_of
from app.teams import service as teams_service
from app.users import service as users_service
from auth.deps import (
    ChangeableClient,
    ClinicalReader,
    ClinicalStaff,
    ConsentRecorder,
    ReadableClient,
)
from auth.policies import clients as client_policies

router = APIRouter(prefix="/clients", tags=["clients"])
eligibility_router = APIRouter(prefix="/eligibility-questions", tags=["clients"])


def eligibility_questions(request: Request) -> tuple[eligibility.Question, ...]:
    """The programme's eligibility questions (the ``eligibility_questions`` setting)."""
    questions: tuple[eligibility.Question, ...] = tuple(
        request.app.state.settings.eligibility_questions
    )
    return questions


QuestionsDep = Annotated[tuple[eligibility.Question, ...], Depends(eligibility_questions)]


@eligibility_router.get("", response_model=list[EligibilityQuestionPublic])
async def list_eligibility_questions(
    principal: ClinicalStaff, questions: QuestionsDep
) -> list[EligibilityQuestionPublic]:
    """The questions asked at referral, in order, with the answer an eligible person gives."""
    return [EligibilityQuestionPublic(**q.model_dump()) for q in questions]


async def consent_views(session: SessionDep, records: list[ConsentRecord]) -> list[ConsentPublic]:
    organisations = await organisations_service.names(
        session=session, ids={r.organisation_id for r in records}
    )
    people = await users_service.names(
        session=session, ids={r.recorded_by for r in records if r.recorded_by}
    )
    return [
        ConsentPublic(
            id=r.id or 0,
            client_id=r.client_id,
            organisation_id=r.organisation_id,
            organisation_name=organisations.get(r.organisation_id),
            purpose=r.purpose,
            state=r.state,
            recorded_at=r.recorded_at,
            recorded_by=r.recorded_by,
            recorded_by_name=people.get(r.recorded_by) if r.recorded_by else None,
            note=r.note,
        )
        for r in records
    ]


async def summary_of(session: SessionDep, client: ClientRecord) -> ClientSummary:
    organisation_name, team_name = await service.place_names(session=session, client=client)
    history = await consents_service.history(session=session, client_id=client.id)
    return ClientSummary(
        id=client.id,
        display_name=client.display_name,
        status=client.status,
        organisation_id=client.organisation_id,
        team_id=client.team_id,
        created_at=client.created_at,
        updated_at=client.updated_at,
        user_id=client.user_id,
        organisation_name=organisation_name,
        team_name=team_name,
        care_team=await service.care_team(session=session, client_id=client.id),
        referrals=await service.referrals(session=session, client_id=client.id),
        consents=await consent_views(session, consents_service.current_of(history)),
    )


@router.get("", response_model=Page[ClientListItem])
async def list_clients(
    principal: ClinicalReader,
    session: SessionDep,
    page: PageDep,
    status_filter: Annotated[ProgrammeStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name")] = None,
    team_id: uuid.UUID | None = None,
) -> Page[ClientListItem]:
    """Clients the caller may see: their care-team clients, those of the staff they supervise,
    and (for a client) their own record. Each listed record is an audited access."""
    candidates = await service.related_clients(
        session=session,
        user_id=principal.id,
        query=service.ClientQuery(status=status_filter, text=q, team_id=team_id),
    )
    visible = await client_policies.readable_clients(session, principal.user, candidates)
    window = visible[page.offset : page.offset + page.limit]
    await principal.audit_many(
        [
            AuditEntry(
                action="client.list", resource_type="client", resource_id=c.id, client_id=c.id
            )
            for c in window
        ]
    )
    return page_of(page, [ClientListItem.model_validate(c) for c in window], len(visible))


@router.post("", response_model=ClientSummary, status_code=status.HTTP_201_CREATED)
async def create_client(
    body: ClientCreate, principal: ClinicalStaff, session: SessionDep, questions: QuestionsDep
) -> ClientSummary:
    """Take a referral: create the client's record with its first referral. The member of staff
    who takes it joins the care team."""
    team = await teams_service.get(session=session, team_id=body.team_id)
    if team.organisation_id != principal.user.organisation_id:
        raise Forbidden("Referrals are taken into a team of your own organisation.")
    client = await service.create(
        session=session,
        ctx=principal.ctx,
        team=team,
        creator=principal.user,
        data=body,
        questions=questions,
    )
    await principal.audit(
        "client.create", resource_type="client", resource_id=client.id, client_id=client.id
    )
    return await summary_of(session, client)


# Reading routes append their audit events through the audit writer (app/audit/writer.py): the
# request reads without SQLite's write lock and its event is group-committed before it answers.
@router.get("/{client_id}", response_model=ClientSummary, dependencies=[AuditedRead])
async def get_client(access: ReadableClient, session: SessionDep) -> ClientSummary:
    """A client's summary: status, care team, referrals and current consent."""
    await access.audit("client.read")
    return await summary_of(session, access.client)


@router.patch("/{client_id}", response_model=ClientSummary)
async def update_client(
    body: ClientUpdate, access: ChangeableClient, session: SessionDep
) -> ClientSummary:
    """Change a client's name or programme status."""
    client = await service.update(session=session, ctx=access.ctx, client=access.client, data=body)
    await access.audit(
        "client.update",
        detail=",".join(sorted(body.model_dump(exclude_unset=True))),
    )
    return await summary_of(session, client)


@router.get(
    "/{client_id}/care-team",
    response_model=list[CareTeamMemberPublic],
    dependencies=[AuditedRead],
)
async def list_care_team(
    access: ReadableClient,
    session: SessionDep,
    include_past: bool = False,
) -> list[CareTeamMemberPublic]:
    """The client's care team (with past members when asked)."""
    await access.audit("care_team.read")
    return await service.care_team(
        session=session, client_id=access.client.id, include_past=include_past
    )


@router.post(
    "/{client_id}/care-team",
    response_model=list[CareTeamMemberPublic],
    status_code=status.HTTP_201_CREATED,
)
async def add_care_team_member(
    body: CareTeamMemberAdd, access: ChangeableClient, session: SessionDep
) -> list[CareTeamMemberPublic]:
    """Add a member of staff to the care team."""
    user = await users_service.get(session=session, user_id=body.user_id)
    member = await service.add_care_team_member(
        session=session, ctx=access.ctx, client=access.client, user=user, data=body
    )
    await access.audit(
        "care_team.add",
        resource_type="care_team_member",
        resource_id=member.id,
        detail=f"user {user.id}",
    )
    return await service.care_team(session=session, client_id=access.client.id)


@router.delete("/{client_id}/care-team/{member_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_care_team_membership(
    member_id: uuid.UUID, access: ChangeableClient, session: SessionDep
) -> Response:
    """Take someone off the care team from now on (their past membership stays on record)."""
    member = await service.end_care_team_membership(
        session=session, ctx=access.ctx, client=access.client, member_id=member_id
    )
    await access.audit(
        "care_team.remove",
        resource_type="care_team_member",
        resource_id=member.id,
        detail=f"user {member.user_id}",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{client_id}/referrals", response_model=list[ReferralPublic])
async def list_referrals(access: ReadableClient, session: SessionDep) -> list[ReferralPublic]:
    """The client's referrals, oldest first."""
    await access.audit("referral.read")
    return await service.referrals(session=session, client_id=access.client.id)


@router.post(
    "/{client_id}/referrals", response_model=ReferralPublic, status_code=status.HTTP_201_CREATED
)
async def add_referral(
    body: ReferralCreate, access: ChangeableClient, session: SessionDep, questions: QuestionsDep
) -> ReferralPublic:
    """Record a further referral (for example a re-referral after closure), with the answers to
    the eligibility questions when they were asked. An ineligible referral is stored with its
    reasons (``eligible`` false) and still counts as a referral."""
    referral = await service.add_referral(
        session=session, ctx=access.ctx, client=access.client, data=body, questions=questions
    )
    await access.audit("referral.create", resource_type="referral", resource_id=referral.id)
    answers = await service.referrals(session=session, client_id=access.client.id)
    return next(r for r in answers if r.id == referral.id)


@router.get("/{client_id}/consents", response_model=list[ConsentPublic])
async def consent_history(access: ReadableClient, session: SessionDep) -> list[ConsentPublic]:
    """Every consent decision the client has made, oldest first."""
    await access.audit("consent.read")
    history = await consents_service.history(session=session, client_id=access.client.id)
    return await consent_views(session, history)


@router.post(
    "/{client_id}/consents", response_model=ConsentPublic, status_code=status.HTTP_201_CREATED
)
async def record_consent(
    body: ConsentDecision, access: ConsentRecorder, session: SessionDep, request: Request
) -> ConsentPublic:
    """Record the client's decision to grant or withdraw consent for one organisation and
    purpose. Withdrawal takes effect at once for that organisation's staff. Granting
    `evaluation` consent to the organisation running an open trial allocates a new client in
    the same transaction (see `GET /clients/{client_id}/allocation`); withdrawing it later keeps
    the allocation."""
    await organisations_service.get(session=session, organisation_id=body.organisation_id)
    entry = await consents_service.record(
        session=session, ctx=access.ctx, client_id=access.client.id, decision=body
    )
    allocation = await evaluation_service.allocate_on_consent(
        session=session,
        ctx=access.ctx,
        keyring=request.app.state.keyring,
        client=access.client,
        consent=entry,
    )
    entries = [
        AuditEntry(
            action=f"consent.{body.state}",
            resource_type="consent",
            resource_id=entry.id,
            client_id=access.client.id,
            detail=f"{body.purpose} for organisation {body.organisation_id}",
        )
    ]
    if allocation is not None:
        # The slot, not the arm: the arm follows from the seed, and verification checks it.
        entries.append(
            AuditEntry(
                action="evaluation.allocate",
                resource_type="trial_allocation",
                resource_id=allocation.id,
                client_id=access.client.id,
                detail=f"trial {allocation.trial_id}, stratum {allocation.stratum!r}, "
                f"position {allocation.position}",
            )
        )
    await access.audit_many(entries)
    return (await consent_views(session, [entry]))[0]
