"""Job brokerage: the employer directory, vacancies, matching and applications.

Callers check the brokerage policies (``auth.policies.brokerage``); this runs the SQL. What a
client is matched to is computed for today by the pure rule in ``app.brokerage.rules``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.brokerage import rules
from app.brokerage.models import Application, ApplicationStatus, Employer, Vacancy, VacancyStatus
from app.brokerage.schemas import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationUpdate,
    CriterionPublic,
    EmployerCreate,
    EmployerDetail,
    EmployerPublic,
    EmployerUpdate,
    VacancyCreate,
    VacancyMatch,
    VacancyPublic,
    VacancyUpdate,
)
from app.clients import service as clients_service
from app.clients.models import CareTeamMember, ClientRecord
from app.context import Context
from app.errors import Conflict, NotFound, Unprocessable
from app.ips import rules as ips_rules
from app.ips import service as ips_service
from app.ips.models import EmployerContact, Job
from app.ips.schemas import JobCreate
from app.ips.sectors import SIC_SECTIONS
from app.plans import service as plans_service
from app.users.models import Role, User


class EmployerNotFound(NotFound):
    title = "Employer not found"


class VacancyNotFound(NotFound):
    title = "Vacancy not found"


class ApplicationNotFound(NotFound):
    title = "Application not found"


class AlreadyApplied(Conflict):
    slug, title = "already-applied", "The client has already applied for this vacancy"


class InvalidApplication(Unprocessable):
    slug, title = "invalid-application", "The application cannot be recorded as asked"


@dataclass(frozen=True)
class WageThreshold:
    pence: int
    name: str


# --- the directory ---------------------------------------------------------------------------


async def organisations_of(
    *, session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    ids = list(user_ids)
    if not ids:
        return set()
    rows = await session.exec(select(User.organisation_id).where(col(User.id).in_(ids)))
    return set(rows.all())


async def _counts(
    session: AsyncSession, employer_ids: list[uuid.UUID], today: date
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, tuple[int, date | None]]]:
    live: dict[uuid.UUID, int] = defaultdict(int)
    contacts: dict[uuid.UUID, tuple[int, date | None]] = {}
    if not employer_ids:
        return live, contacts
    for vacancy in await session.exec(
        select(Vacancy).where(col(Vacancy.employer_id).in_(employer_ids))
    ):
        live[vacancy.employer_id] += is_live(vacancy, today)
    for employer_id, count, last in (
        await session.exec(
            select(
                EmployerContact.employer_id,
                func.count(col(EmployerContact.id)),
                func.max(col(EmployerContact.contacted_on)),
            )
            .where(col(EmployerContact.employer_id).in_(employer_ids))
            .group_by(col(EmployerContact.employer_id))
        )
    ).all():
        if employer_id is not None:
            contacts[employer_id] = (int(count), last)
    return live, contacts


def _employer_public(
    employer: Employer, live: int, contacts: tuple[int, date | None]
) -> EmployerPublic:
    return EmployerPublic(
        id=employer.id,
        organisation_id=employer.organisation_id,
        name=employer.name,
        sector=employer.sector,
        location=employer.location,
        open_vacancies=live,
        contacts=contacts[0],
        last_contact_on=contacts[1],
        created_at=employer.created_at,
    )


async def employers(
    *, session: AsyncSession, organisation_ids: set[uuid.UUID], today: date
) -> list[EmployerPublic]:
    if not organisation_ids:
        return []
    found = list(
        await session.exec(
            select(Employer)
            .where(col(Employer.organisation_id).in_(organisation_ids))
            .order_by(func.lower(col(Employer.name)), col(Employer.id))
        )
    )
    live, contacts = await _counts(session, [e.id for e in found], today)
    return [_employer_public(e, live[e.id], contacts.get(e.id, (0, None))) for e in found]


async def create_employer(
    *, session: AsyncSession, ctx: Context, organisation_id: uuid.UUID, data: EmployerCreate
) -> Employer:
    assert ctx.actor.user_id is not None
    employer = Employer(
        organisation_id=organisation_id,
        name=data.name,
        sector=data.sector,
        location=data.location,
        created_by=ctx.actor.user_id,
        created_at=ctx.now(),
    )
    session.add(employer)
    await session.flush()
    return employer


async def get_employer(
    *, session: AsyncSession, employer_id: uuid.UUID, organisation_ids: set[uuid.UUID]
) -> Employer:
    """An employer of one of these organisations; another's is not found (it is not theirs
    to know of)."""
    employer = await session.get(Employer, employer_id)
    if employer is None or employer.organisation_id not in organisation_ids:
        raise EmployerNotFound()
    return employer


async def update_employer(
    *, session: AsyncSession, employer: Employer, data: EmployerUpdate
) -> Employer:
    for name, value in data.model_dump(exclude_unset=True).items():
        if name == "name" and value is None:
            continue
        setattr(employer, name, value)
    session.add(employer)
    await session.flush()
    return employer


async def employer_detail(
    *, session: AsyncSession, employer: Employer, today: date, threshold: WageThreshold
) -> EmployerDetail:
    vacancies = list(
        await session.exec(
            select(Vacancy)
            .where(Vacancy.employer_id == employer.id)
            .order_by(col(Vacancy.created_at).desc(), col(Vacancy.id))
        )
    )
    live, contacts = await _counts(session, [employer.id], today)
    return EmployerDetail(
        **_employer_public(
            employer, live[employer.id], contacts.get(employer.id, (0, None))
        ).model_dump(),
        vacancies=[vacancy_view(v, employer, today, threshold) for v in vacancies],
    )


async def directory_use(
    *,
    session: AsyncSession,
    specialist_ids: list[uuid.UUID],
    contacted_from: date,
    contacted_to: date,
) -> tuple[int, int]:
    """For IPS-25 employer items: how many employers the directories of these specialists'
    organisations hold, and how many of them these specialists contacted in the window."""
    organisations = await organisations_of(session=session, user_ids=specialist_ids)
    if not organisations:
        return 0, 0
    held = int(
        (
            await session.exec(
                select(func.count()).where(col(Employer.organisation_id).in_(organisations))
            )
        ).one()
    )
    contacted = int(
        (
            await session.exec(
                select(func.count(func.distinct(col(EmployerContact.employer_id)))).where(
                    col(EmployerContact.specialist_id).in_(specialist_ids),
                    col(EmployerContact.employer_id).is_not(None),
                    col(EmployerContact.contacted_on) >= contacted_from,
                    col(EmployerContact.contacted_on) <= contacted_to,
                )
            )
        ).one()
    )
    return held, contacted


# --- vacancies -------------------------------------------------------------------------------


def is_live(vacancy: Vacancy, today: date) -> bool:
    return rules.is_live(_opening(vacancy, None), today)


def _opening(vacancy: Vacancy, employer: Employer | None) -> rules.Opening:
    return rules.Opening(
        key=str(vacancy.id),
        title=vacancy.title,
        status=str(vacancy.status),
        hours_per_week=vacancy.hours_per_week,
        hourly_pay_pence=vacancy.hourly_pay_pence,
        location=vacancy.location,
        sector=employer.sector if employer else None,
        closing_on=vacancy.closing_on,
    )


def vacancy_view(
    vacancy: Vacancy, employer: Employer, today: date, threshold: WageThreshold
) -> VacancyPublic:
    return VacancyPublic(
        id=vacancy.id,
        employer_id=employer.id,
        employer_name=employer.name,
        sector=employer.sector,
        title=vacancy.title,
        hours_per_week=vacancy.hours_per_week,
        hourly_pay_pence=vacancy.hourly_pay_pence,
        meets_wage_threshold=ips_rules.meets_wage_threshold(
            vacancy.hourly_pay_pence, threshold.pence
        ),
        location=vacancy.location,
        closing_on=vacancy.closing_on,
        status=vacancy.status,
        live=is_live(vacancy, today),
        created_at=vacancy.created_at,
    )


async def create_vacancy(
    *, session: AsyncSession, ctx: Context, employer: Employer, data: VacancyCreate
) -> Vacancy:
    assert ctx.actor.user_id is not None
    vacancy = Vacancy(
        employer_id=employer.id,
        title=data.title,
        hours_per_week=data.hours_per_week,
        hourly_pay_pence=data.hourly_pay_pence,
        location=data.location,
        closing_on=data.closing_on,
        status=VacancyStatus.open,
        created_by=ctx.actor.user_id,
        created_at=ctx.now(),
    )
    session.add(vacancy)
    await session.flush()
    return vacancy


async def get_vacancy(
    *, session: AsyncSession, vacancy_id: uuid.UUID, organisation_ids: set[uuid.UUID]
) -> tuple[Vacancy, Employer]:
    vacancy = await session.get(Vacancy, vacancy_id)
    employer = await session.get(Employer, vacancy.employer_id) if vacancy else None
    if vacancy is None or employer is None or employer.organisation_id not in organisation_ids:
        raise VacancyNotFound()
    return vacancy, employer


async def update_vacancy(
    *, session: AsyncSession, vacancy: Vacancy, data: VacancyUpdate
) -> Vacancy:
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None and name in ("title", "hours_per_week", "status"):
            continue
        setattr(vacancy, name, value)
    session.add(vacancy)
    await session.flush()
    return vacancy


async def vacancies(
    *,
    session: AsyncSession,
    organisation_ids: set[uuid.UUID],
    today: date,
    threshold: WageThreshold,
    live_only: bool = False,
) -> list[VacancyPublic]:
    if not organisation_ids:
        return []
    rows = await session.exec(
        select(Vacancy, Employer)
        .join(Employer, col(Employer.id) == col(Vacancy.employer_id))
        .where(col(Employer.organisation_id).in_(organisation_ids))
        .order_by(col(Vacancy.closing_on), func.lower(col(Vacancy.title)), col(Vacancy.id))
    )
    found = [vacancy_view(v, e, today, threshold) for v, e in rows.all()]
    return [v for v in found if v.live] if live_only else found


# --- matching a client's preferences ---------------------------------------------------------


async def client_vacancy_organisations(
    *, session: AsyncSession, client: ClientRecord
) -> set[uuid.UUID]:
    """The organisations whose vacancies a client is matched to: those of the employment
    specialists on their care team (the people who broker jobs for them)."""
    rows = await session.exec(
        select(User.organisation_id)
        .join(CareTeamMember, col(CareTeamMember.user_id) == col(User.id))
        .where(
            CareTeamMember.client_id == client.id,
            User.role == Role.employment_specialist,
        )
    )
    return set(rows.all())


async def preferences(*, session: AsyncSession, client: ClientRecord) -> rules.Preferences:
    """The client's job preferences, from the vocational profile of their plan."""
    plan = plans_service.content_of(await plans_service.find(session=session, client_id=client.id))
    wanted = plan.vocational_profile.preferences
    return rules.Preferences(
        types=tuple(wanted.types),
        locations=tuple(wanted.locations),
        hours_per_week=wanted.hours_per_week,
        sectors=tuple(wanted.sectors),
        min_hourly_pay_pence=wanted.min_hourly_pay_pence,
    )


async def matches(
    *, session: AsyncSession, client: ClientRecord, today: date, threshold: WageThreshold
) -> list[VacancyMatch]:
    organisations = await client_vacancy_organisations(session=session, client=client)
    if not organisations:
        return []
    rows = list(
        (
            await session.exec(
                select(Vacancy, Employer)
                .join(Employer, col(Employer.id) == col(Vacancy.employer_id))
                .where(
                    col(Employer.organisation_id).in_(organisations),
                    Vacancy.status == VacancyStatus.open,
                )
            )
        ).all()
    )
    by_key = {str(v.id): (v, e) for v, e in rows}
    applied = {
        a.vacancy_id: a.id
        for a in await session.exec(select(Application).where(Application.client_id == client.id))
    }
    found = rules.matches(
        await preferences(session=session, client=client),
        [_opening(v, e) for v, e in rows],
        today=today,
        sectors=SIC_SECTIONS,
        threshold_pence=threshold.pence,
        threshold_name=threshold.name,
    )
    result = []
    for match in found:
        vacancy, employer = by_key[match.opening.key]
        result.append(
            VacancyMatch(
                vacancy=vacancy_view(vacancy, employer, today, threshold),
                met=match.met,
                criteria=[
                    CriterionPublic(name=c.name, outcome=c.outcome, reason=c.reason)
                    for c in match.criteria
                ],
                application_id=applied.get(vacancy.id),
            )
        )
    return result


# --- applications ----------------------------------------------------------------------------


async def applications(
    *, session: AsyncSession, client: ClientRecord, today: date, threshold: WageThreshold
) -> list[ApplicationPublic]:
    rows = await session.exec(
        select(Application, Vacancy, Employer)
        .join(Vacancy, col(Vacancy.id) == col(Application.vacancy_id))
        .join(Employer, col(Employer.id) == col(Vacancy.employer_id))
        .where(Application.client_id == client.id)
        .order_by(col(Application.applied_on).desc(), col(Application.recorded_at).desc())
    )
    return [application_view(a, v, e, today, threshold) for a, v, e in rows.all()]


def application_view(
    application: Application,
    vacancy: Vacancy,
    employer: Employer,
    today: date,
    threshold: WageThreshold,
) -> ApplicationPublic:
    return ApplicationPublic(
        id=application.id,
        client_id=application.client_id,
        vacancy=vacancy_view(vacancy, employer, today, threshold),
        status=application.status,
        applied_on=application.applied_on,
        status_on=application.status_on,
        job_id=application.job_id,
        recorded_by=application.recorded_by,
        recorded_at=application.recorded_at,
    )


def _invalid(field: str, message: str) -> InvalidApplication:
    return InvalidApplication(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


async def record_application(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, data: ApplicationCreate
) -> tuple[Application, Vacancy, Employer]:
    """An application to a vacancy of the client's specialists' organisations, while it is
    live; once per client and vacancy."""
    organisations = await client_vacancy_organisations(session=session, client=client)
    vacancy, employer = await get_vacancy(
        session=session, vacancy_id=data.vacancy_id, organisation_ids=organisations
    )
    today = ips_service.today_of(ctx)
    if data.applied_on > today:
        raise _invalid("body.applied_on", f"must not be after today ({today.isoformat()})")
    if not is_live(vacancy, data.applied_on) and not is_live(vacancy, today):
        raise _invalid("body.vacancy_id", "the vacancy is not open for applications")
    existing = await session.exec(
        select(Application).where(
            Application.client_id == client.id, Application.vacancy_id == vacancy.id
        )
    )
    if existing.first() is not None:
        raise AlreadyApplied("This client's application to this vacancy is already recorded.")
    assert ctx.actor.user_id is not None
    application = Application(
        client_id=client.id,
        vacancy_id=vacancy.id,
        status=ApplicationStatus.applied,
        applied_on=data.applied_on,
        status_on=data.applied_on,
        recorded_by=ctx.actor.user_id,
        recorded_at=ctx.now(),
    )
    session.add(application)
    await session.flush()
    return application, vacancy, employer


async def get_application(
    *, session: AsyncSession, client: ClientRecord, application_id: uuid.UUID
) -> tuple[Application, Vacancy, Employer]:
    application = await clients_service.record_of(
        session, Application, application_id, client, missing=ApplicationNotFound
    )
    vacancy = await session.get(Vacancy, application.vacancy_id)
    employer = await session.get(Employer, vacancy.employer_id) if vacancy else None
    assert vacancy is not None and employer is not None
    return application, vacancy, employer


async def move_application(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    application: Application,
    vacancy: Vacancy,
    employer: Employer,
    data: ApplicationUpdate,
    threshold: WageThreshold,
) -> Job | None:
    """Move the application on (``rules.NEXT_STATUSES``). An accepted offer becomes the job
    start: recorded on the journey as any job start, with the vacancy's employer, title and
    hours, and the quality given."""
    if not rules.can_move(str(application.status), str(data.status)):
        raise _invalid(
            "body.status",
            f"an application that is {application.status} cannot become {data.status}",
        )
    if data.status_on < application.status_on:
        raise _invalid("body.status_on", "must not be before the application's last change")
    job = None
    if data.status == ApplicationStatus.started:
        if data.job is None:
            raise _invalid("body.job", "a job start needs the job's quality (it may be empty)")
        quality = data.job.model_dump(exclude={"hours_per_week"})
        if quality.get("hourly_pay_pence") is None:
            quality["hourly_pay_pence"] = vacancy.hourly_pay_pence
        if quality.get("sector") is None:
            quality["sector"] = employer.sector
        job = await ips_service.start_job(
            session=session,
            ctx=ctx,
            client=client,
            data=JobCreate(
                employer=employer.name,
                role=vacancy.title,
                hours_per_week=data.job.hours_per_week or vacancy.hours_per_week,
                started_on=data.status_on,
                **quality,
            ),
            wage_threshold_pence=threshold.pence,
        )
        application.job_id = job.id
    elif data.job is not None:
        raise _invalid("body.job", "only a job start takes a job")
    elif data.status_on > ips_service.today_of(ctx):
        raise _invalid("body.status_on", "must not be after today")
    application.status = data.status
    application.status_on = data.status_on
    session.add(application)
    await session.flush()
    return job
