"""Job brokerage: the organisation's employer directory and vacancies (employment specialists
keep them, supervisors read them), the vacancies matching a client's job preferences, and the
client's applications on their journey (the care team reads them, the specialist records them).

Every read and change is audited; a refusal is audited by the policy dependency.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.brokerage import service
from app.brokerage.models import Application, Employer, Vacancy
from app.brokerage.schemas import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationUpdate,
    EmployerCreate,
    EmployerDetail,
    EmployerPublic,
    EmployerUpdate,
    VacancyCreate,
    VacancyMatch,
    VacancyPublic,
    VacancyUpdate,
)
from app.db import SessionDep
from app.ips import service as ips_service
from auth.deps import (
    ChangeableClient,
    ClientAccess,
    Principal,
    ReadableClient,
    refuse_unless,
    require,
)
from auth.policies import brokerage as policies

router = APIRouter(tags=["brokerage"])

EmployerManager = Annotated[
    Principal, Depends(require(policies.can_manage_employers, "employer.manage"))
]
EmployerReader = Annotated[
    Principal, Depends(require(policies.can_read_employers, "employer.read"))
]


def wage_threshold(request: Request) -> service.WageThreshold:
    settings = request.app.state.settings
    return service.WageThreshold(
        pence=settings.wage_threshold_pence, name=settings.wage_threshold_name
    )


Threshold = Annotated[service.WageThreshold, Depends(wage_threshold)]


async def _employer_answer(
    principal: Principal,
    action: str,
    employer: Employer,
    session: SessionDep,
    threshold: Threshold,
) -> EmployerDetail:
    """Audit what was done to the employer, then answer with the employer and its vacancies."""
    await principal.audit(action, resource_type="employer", resource_id=employer.id)
    return await service.employer_detail(
        session=session,
        employer=employer,
        today=ips_service.today_of(principal.ctx),
        threshold=threshold,
    )


async def _vacancy_answer(
    principal: Principal,
    action: str,
    vacancy: Vacancy,
    employer: Employer,
    threshold: Threshold,
) -> VacancyPublic:
    """Audit what was done to the vacancy, then answer with it as seen today."""
    await principal.audit(action, resource_type="vacancy", resource_id=vacancy.id)
    return service.vacancy_view(vacancy, employer, ips_service.today_of(principal.ctx), threshold)


@router.get("/employers", response_model=list[EmployerPublic])
async def list_employers(principal: EmployerReader, session: SessionDep) -> list[EmployerPublic]:
    """The employer directories this person reads: their organisation's, and a supervisor's
    also those of the specialists they supervise. Each with its live vacancies and contacts."""
    organisations = await policies.directory_organisations(session, principal.user)
    await principal.audit("employer.list", resource_type="employer")
    return await service.employers(
        session=session, organisation_ids=organisations, today=ips_service.today_of(principal.ctx)
    )


@router.post("/employers", response_model=EmployerDetail, status_code=status.HTTP_201_CREATED)
async def create_employer(
    body: EmployerCreate, principal: EmployerManager, session: SessionDep, threshold: Threshold
) -> EmployerDetail:
    """Add an employer to the specialist's organisation's directory."""
    employer = await service.create_employer(
        session=session,
        ctx=principal.ctx,
        organisation_id=principal.user.organisation_id,
        data=body,
    )
    return await _employer_answer(principal, "employer.create", employer, session, threshold)


@router.get("/employers/{employer_id}", response_model=EmployerDetail)
async def get_employer(
    employer_id: uuid.UUID, principal: EmployerReader, session: SessionDep, threshold: Threshold
) -> EmployerDetail:
    """One employer with all its vacancies. Another organisation's employer is a 404."""
    organisations = await policies.directory_organisations(session, principal.user)
    employer = await service.get_employer(
        session=session, employer_id=employer_id, organisation_ids=organisations
    )
    return await _employer_answer(principal, "employer.read", employer, session, threshold)


@router.patch("/employers/{employer_id}", response_model=EmployerDetail)
async def update_employer(
    employer_id: uuid.UUID,
    body: EmployerUpdate,
    principal: EmployerManager,
    session: SessionDep,
    threshold: Threshold,
) -> EmployerDetail:
    """Correct an employer of the specialist's own organisation."""
    employer = await service.get_employer(
        session=session,
        employer_id=employer_id,
        organisation_ids={principal.user.organisation_id},
    )
    employer = await service.update_employer(session=session, employer=employer, data=body)
    return await _employer_answer(principal, "employer.update", employer, session, threshold)


@router.post(
    "/employers/{employer_id}/vacancies",
    response_model=VacancyPublic,
    status_code=status.HTTP_201_CREATED,
)
async def create_vacancy(
    employer_id: uuid.UUID,
    body: VacancyCreate,
    principal: EmployerManager,
    session: SessionDep,
    threshold: Threshold,
) -> VacancyPublic:
    """A vacancy from an employer of the specialist's own organisation: open at once."""
    employer = await service.get_employer(
        session=session,
        employer_id=employer_id,
        organisation_ids={principal.user.organisation_id},
    )
    vacancy = await service.create_vacancy(
        session=session, ctx=principal.ctx, employer=employer, data=body
    )
    return await _vacancy_answer(principal, "vacancy.create", vacancy, employer, threshold)


@router.get("/vacancies", response_model=list[VacancyPublic])
async def list_vacancies(
    principal: EmployerReader, session: SessionDep, threshold: Threshold
) -> list[VacancyPublic]:
    """Every vacancy of the directories this person reads, soonest closing first."""
    organisations = await policies.directory_organisations(session, principal.user)
    await principal.audit("vacancy.list", resource_type="vacancy")
    return await service.vacancies(
        session=session,
        organisation_ids=organisations,
        today=ips_service.today_of(principal.ctx),
        threshold=threshold,
    )


@router.patch("/vacancies/{vacancy_id}", response_model=VacancyPublic)
async def update_vacancy(
    vacancy_id: uuid.UUID,
    body: VacancyUpdate,
    principal: EmployerManager,
    session: SessionDep,
    threshold: Threshold,
) -> VacancyPublic:
    """Change a vacancy of the specialist's own organisation: its details, or its status
    (filled or closed vacancies are no longer matched)."""
    vacancy, employer = await service.get_vacancy(
        session=session, vacancy_id=vacancy_id, organisation_ids={principal.user.organisation_id}
    )
    vacancy = await service.update_vacancy(session=session, vacancy=vacancy, data=body)
    return await _vacancy_answer(principal, "vacancy.update", vacancy, employer, threshold)


@router.get("/clients/{client_id}/vacancy-matches", response_model=list[VacancyMatch])
async def vacancy_matches(
    access: ReadableClient, session: SessionDep, threshold: Threshold
) -> list[VacancyMatch]:
    """The live vacancies of the client's employment specialists' organisations that their job
    preferences (the plan's vocational profile) do not rule out, best first, each criterion
    with its reason (``app.brokerage.rules``)."""
    await access.audit("vacancy.match")
    return await service.matches(
        session=session,
        client=access.client,
        today=ips_service.today_of(access.ctx),
        threshold=threshold,
    )


@router.get("/clients/{client_id}/applications", response_model=list[ApplicationPublic])
async def list_applications(
    access: ReadableClient, session: SessionDep, threshold: Threshold
) -> list[ApplicationPublic]:
    """The client's applications to vacancies, newest first: the care team reads them."""
    await access.audit("application.list")
    return await service.applications(
        session=session,
        client=access.client,
        today=ips_service.today_of(access.ctx),
        threshold=threshold,
    )


async def _check_recorder(access: ChangeableClient, session: SessionDep, action: str) -> None:
    await refuse_unless(
        policies.can_record_applications(access.principal.user),
        session,
        access.principal,
        action=action,
        resource_type="client",
        resource_id=access.client.id,
        client_id=access.client.id,
    )


async def _application_answer(
    access: ClientAccess,
    action: str,
    application: Application,
    vacancy: Vacancy,
    employer: Employer,
    threshold: Threshold,
) -> ApplicationPublic:
    """Audit what was done to the client's application, then answer with it as seen today."""
    await access.audit(action, resource_type="application", resource_id=application.id)
    return service.application_view(
        application, vacancy, employer, ips_service.today_of(access.ctx), threshold
    )


@router.post(
    "/clients/{client_id}/applications",
    response_model=ApplicationPublic,
    status_code=status.HTTP_201_CREATED,
)
async def record_application(
    body: ApplicationCreate, access: ChangeableClient, session: SessionDep, threshold: Threshold
) -> ApplicationPublic:
    """Record the client's application to a live vacancy (once per vacancy)."""
    await _check_recorder(access, session, "application.create")
    application, vacancy, employer = await service.record_application(
        session=session, ctx=access.ctx, client=access.client, data=body
    )
    return await _application_answer(
        access, "application.create", application, vacancy, employer, threshold
    )


@router.patch(
    "/clients/{client_id}/applications/{application_id}", response_model=ApplicationPublic
)
async def move_application(
    application_id: uuid.UUID,
    body: ApplicationUpdate,
    access: ChangeableClient,
    session: SessionDep,
    threshold: Threshold,
) -> ApplicationPublic:
    """Move an application on: interview, offer, unsuccessful, withdrawn, or started (an
    accepted offer recorded as the job start on the journey, with its quality)."""
    await _check_recorder(access, session, "application.update")
    application, vacancy, employer = await service.get_application(
        session=session, client=access.client, application_id=application_id
    )
    job = await service.move_application(
        session=session,
        ctx=access.ctx,
        client=access.client,
        application=application,
        vacancy=vacancy,
        employer=employer,
        data=body,
        threshold=threshold,
    )
    if job is not None:
        await access.audit("journey.job_start", resource_type="job", resource_id=job.id)
    return await _application_answer(
        access, "application.update", application, vacancy, employer, threshold
    )
