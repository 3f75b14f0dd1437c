"""The IPS employment journey: recording milestones, jobs, reviews and employer contacts;
computing what is due from the pure rules; raising overdue items as alerts to the care team;
caseloads per employment specialist and assignment within (or, by override, beyond) the limit.

Callers check the record policy; this runs the SQL. "Today" is the UTC date of the request's
clock (``ctx.now()``, the application's injected clock).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts.models import Alert, AlertKind
from app.clients import service as clients_service
from app.clients.models import CareTeamMember, ClientRecord, ProgrammeStatus
from app.clients.schemas import CareTeamMemberAdd
from app.config import Settings
from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound, Unprocessable
from app.ips import rules
from app.ips.models import (
    CaseloadOverride,
    ContractType,
    EmployerContact,
    Job,
    Milestone,
    SupportReview,
)
from app.ips.rules import MilestoneKind
from app.ips.schemas import (
    Caseload,
    EmployerContactCreate,
    EmployerContactPublic,
    EmployerContactUpdate,
    InWorkSupport,
    JobCreate,
    JobEnd,
    JobPublic,
    JobQualitySettings,
    Journey,
    JourneyAlert,
    MilestoneCreate,
    MilestonePublic,
    ReviewCreate,
    ReviewPublic,
    SectorPublic,
    SustainmentCheck,
)
from app.ips.sectors import SIC_SECTIONS
from app.pagination import paginate
from app.plans import service as plans_service
from app.users import service as users_service
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies import ips as ips_policies

# Milestones that happen once in a journey; a second one is refused.
ONCE_ONLY = frozenset({MilestoneKind.first_meeting, MilestoneKind.first_employer_contact})
JOURNEY_ALERT_KINDS = (
    AlertKind.first_employer_contact_overdue,
    AlertKind.support_review_overdue,
    AlertKind.plan_action_overdue,
    AlertKind.sustainment_check_due,
)
# Raised on the day they fall due rather than once overdue: a sustainment check is confirmed on
# its due day (after it, the job counts as sustained unless it ended before).
RAISED_WHEN_DUE = frozenset({AlertKind.sustainment_check_due})
# A client on a specialist's caseload: every programme status but closed.
CASELOAD_STATUSES = (ProgrammeStatus.referred, ProgrammeStatus.active, ProgrammeStatus.in_work)
# Plan actions have short string ids; their alerts name them by a stable UUID.
PLAN_ACTION_NAMESPACE = uuid.UUID("6f1d7c52-8a31-4d1e-9a57-3f0c2b8e4d10")


class JobNotFound(NotFound):
    title = "Job not found"


class DateInFuture(Unprocessable):
    slug, title = "date-in-future", "That date has not happened yet"


class InvalidJobDates(Unprocessable):
    slug, title = "invalid-job-dates", "The dates do not fit the job"


class EmployerContactNotFound(NotFound):
    title = "Employer contact not found"


class InvalidContactUpdate(Unprocessable):
    slug, title = "invalid-contact-update", "That change cannot be made"


class JobAlreadyEnded(Conflict):
    slug, title = "job-already-ended", "This job has already ended"


class MilestoneAlreadyRecorded(Conflict):
    slug, title = "milestone-already-recorded", "This milestone is already recorded"


class NotAnEmploymentSpecialist(Unprocessable):
    slug, title = "not-an-employment-specialist", "Not an employment specialist"


class CaseloadLimitReached(Conflict):
    slug, title = "caseload-limit", "The specialist's caseload is at its limit"


def today_of(ctx: Context) -> date:
    return ctx.now().date()


def refuse_future(
    value: date,
    today: date,
    *,
    field: str,
    advice: str = "record it on or after the day it happens.",
) -> None:
    """A record of something done (a job start, a review, a claim) names a day that has come:
    a later one is refused, naming the field (``body.started_on``) and what to do instead."""
    if value > today:
        name = field.rsplit(".", 1)[-1]
        raise DateInFuture(
            f"{name} is {value.isoformat()}, after today ({today.isoformat()}); {advice}",
            extra={"errors": [{"field": field, "message": "after today"}]},
        )


def not_after_today(ctx: Context, name: str, value: date) -> None:
    """:func:`refuse_future` for the body's field ``name``, today by the request's clock."""
    refuse_future(value, today_of(ctx), field=f"body.{name}")


# --- milestones ------------------------------------------------------------------------------


async def milestones(*, session: AsyncSession, client_id: uuid.UUID) -> list[Milestone]:
    rows = await session.exec(
        select(Milestone)
        .where(Milestone.client_id == client_id)
        .order_by(col(Milestone.occurred_on), col(Milestone.recorded_at), col(Milestone.id))
    )
    return list(rows.all())


def _milestone(
    ctx: Context,
    client: ClientRecord,
    kind: MilestoneKind,
    occurred_on: date,
    *,
    note: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Milestone:
    assert ctx.actor.user_id is not None
    return Milestone(
        client_id=client.id,
        kind=kind,
        occurred_on=occurred_on,
        job_id=job_id,
        note=note,
        recorded_by=ctx.actor.user_id,
        recorded_at=ctx.now(),
    )


async def record_milestone(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, data: MilestoneCreate
) -> Milestone:
    """Referral, first meeting or first employer contact (job starts and ends come with the job).
    A first meeting or first employer contact is recorded once."""
    kind = MilestoneKind(data.kind.value)
    not_after_today(ctx, "occurred_on", data.occurred_on)
    if kind in ONCE_ONLY:
        existing = await session.exec(
            select(Milestone.id).where(Milestone.client_id == client.id, Milestone.kind == kind)
        )
        if existing.first() is not None:
            raise MilestoneAlreadyRecorded(f"The client's {kind} is already recorded.")
    milestone = _milestone(ctx, client, kind, data.occurred_on, note=data.note)
    session.add(milestone)
    await session.flush()
    return milestone


# --- jobs and in-work support ----------------------------------------------------------------


async def jobs(*, session: AsyncSession, client_id: uuid.UUID) -> list[Job]:
    rows = await session.exec(
        select(Job)
        .where(Job.client_id == client_id)
        .order_by(col(Job.started_on), col(Job.recorded_at), col(Job.id))
    )
    return list(rows.all())


async def get_job(*, session: AsyncSession, client: ClientRecord, job_id: uuid.UUID) -> Job:
    return await clients_service.record_of(session, Job, job_id, client, missing=JobNotFound)


async def start_job(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    data: JobCreate,
    wage_threshold_pence: int,
) -> Job:
    """A job start: the job with its quality, and its ``job_start`` milestone on the journey.
    The wage threshold in force today is kept with the job (``Job``'s docstring says why)."""
    not_after_today(ctx, "started_on", data.started_on)
    assert ctx.actor.user_id is not None
    job = Job(
        client_id=client.id,
        employer=data.employer,
        role=data.role,
        hours_per_week=data.hours_per_week,
        started_on=data.started_on,
        hourly_pay_pence=data.hourly_pay_pence,
        wage_threshold_pence=wage_threshold_pence if data.hourly_pay_pence is not None else None,
        contract_type=data.contract_type,
        competitive=data.competitive,
        sector=data.sector,
        recorded_by=ctx.actor.user_id,
        recorded_at=ctx.now(),
    )
    session.add(job)
    await session.flush()
    note = f"{job.role} at {job.employer}, {job.hours_per_week:g} hours a week"
    session.add(
        _milestone(ctx, client, MilestoneKind.job_start, job.started_on, note=note, job_id=job.id)
    )
    await session.flush()
    return job


async def end_job(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, job: Job, data: JobEnd
) -> Job:
    """The job's last day, and its ``job_end`` milestone; in-work support stops with it."""
    if job.ended_on is not None:
        raise JobAlreadyEnded(f"This job ended on {job.ended_on.isoformat()}.")
    not_after_today(ctx, "ended_on", data.ended_on)
    if data.ended_on < job.started_on:
        raise InvalidJobDates(
            f"A job cannot end ({data.ended_on.isoformat()}) before it started "
            f"({job.started_on.isoformat()})."
        )
    job.ended_on = data.ended_on
    session.add(job)
    session.add(
        _milestone(ctx, client, MilestoneKind.job_end, data.ended_on, note=data.note, job_id=job.id)
    )
    await session.flush()
    return job


async def add_review(
    *, session: AsyncSession, ctx: Context, job: Job, data: ReviewCreate
) -> SupportReview:
    not_after_today(ctx, "reviewed_on", data.reviewed_on)
    if data.reviewed_on < job.started_on:
        raise InvalidJobDates(
            f"A review ({data.reviewed_on.isoformat()}) cannot come before the job started "
            f"({job.started_on.isoformat()})."
        )
    assert ctx.actor.user_id is not None
    review = SupportReview(
        job_id=job.id,
        reviewed_on=data.reviewed_on,
        reviewed_by=ctx.actor.user_id,
        note=data.note,
        recorded_at=ctx.now(),
    )
    session.add(review)
    await session.flush()
    return review


async def reviews(
    *, session: AsyncSession, job_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[SupportReview]]:
    found: dict[uuid.UUID, list[SupportReview]] = defaultdict(list)
    if not job_ids:
        return found
    rows = await session.exec(
        select(SupportReview)
        .where(col(SupportReview.job_id).in_(job_ids))
        .order_by(col(SupportReview.reviewed_on), col(SupportReview.recorded_at))
    )
    for review in rows.all():
        found[review.job_id].append(review)
    return found


def as_rule_job(job: Job) -> rules.Job:
    return rules.Job(
        employer=job.employer,
        role=job.role,
        hours_per_week=job.hours_per_week,
        started_on=job.started_on,
        ended_on=job.ended_on,
        competitive=job.competitive,
        hourly_pay_pence=job.hourly_pay_pence,
        wage_threshold_pence=job.wage_threshold_pence,
        contract_type=str(job.contract_type) if job.contract_type else None,
    )


def next_review_due_on(job: rules.Job, last_review_on: date | None, today: date) -> date | None:
    """When the next in-work review falls due, while the support window is open (the same
    cadence ``rules.support_review_due`` alerts on)."""
    if not rules.in_work_support_open(job, today):
        return None
    since = max(job.started_on, last_review_on) if last_review_on else job.started_on
    return since + timedelta(days=rules.IN_WORK_REVIEW_EVERY_DAYS)


# --- the journey as of today -----------------------------------------------------------------


@dataclass(frozen=True)
class JourneyFacts:
    """What is recorded about one client's journey, read once for a request."""

    client: ClientRecord
    milestones: list[Milestone]
    jobs: list[Job]
    reviews: dict[uuid.UUID, list[SupportReview]]
    employer_contacts: list[EmployerContact]  # logged for this client, newest first
    plan_actions: list[tuple[str, str, date | None, str]]  # id, text, due_on, status


async def facts(*, session: AsyncSession, client: ClientRecord) -> JourneyFacts:
    found_jobs = await jobs(session=session, client_id=client.id)
    contacts = await session.exec(
        select(EmployerContact)
        .where(EmployerContact.client_id == client.id)
        .order_by(col(EmployerContact.contacted_on).desc(), col(EmployerContact.recorded_at).desc())
    )
    plan = plans_service.content_of(await plans_service.find(session=session, client_id=client.id))
    return JourneyFacts(
        client=client,
        milestones=await milestones(session=session, client_id=client.id),
        jobs=found_jobs,
        reviews=await reviews(session=session, job_ids=[j.id for j in found_jobs]),
        employer_contacts=list(contacts.all()),
        plan_actions=[(a.id, a.text, a.due_on, str(a.status)) for a in plan.actions],
    )


def joined(journey: JourneyFacts) -> tuple[date, Literal["first_meeting", "record_created"]]:
    """The day the client joined: their first meeting, or else the day their record was made."""
    meetings = [m.occurred_on for m in journey.milestones if m.kind == MilestoneKind.first_meeting]
    if meetings:
        return min(meetings), "first_meeting"
    return journey.client.created_at.date(), "record_created"


def first_employer_contact(journey: JourneyFacts, today: date) -> rules.FirstContact | None:
    """The client's first employer contact by ``rules.first_employer_contact``: the earliest of
    a recorded first-employer-contact milestone, an employer contact logged for the client, or
    a job start, with what showed it."""
    return rules.first_employer_contact(
        today,
        milestones=[
            m.occurred_on
            for m in journey.milestones
            if m.kind == MilestoneKind.first_employer_contact
        ],
        employer_contacts=[c.contacted_on for c in journey.employer_contacts],
        job_starts=[m.occurred_on for m in journey.milestones if m.kind == MilestoneKind.job_start],
    )


def first_employer_contact_on(journey: JourneyFacts, today: date) -> date | None:
    """The day of the first employer contact (see ``first_employer_contact``)."""
    found = first_employer_contact(journey, today)
    return found.on if found else None


def _last_review_on(reviews: list[SupportReview], today: date) -> date | None:
    past = [r.reviewed_on for r in reviews if r.reviewed_on <= today]
    return max(past) if past else None


def _clip(text: str, size: int = 120) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def due_alerts(journey: JourneyFacts, today: date) -> list[JourneyAlert]:
    """What is due today or overdue on this journey, by the pure rules. A closed case has none."""
    if journey.client.status == ProgrammeStatus.closed:
        return []
    found: list[JourneyAlert] = []
    joined_on, _ = joined(journey)
    first = rules.first_contact_alert(joined_on, first_employer_contact_on(journey, today), today)
    if first is not None:
        found.append(
            JourneyAlert(
                kind=AlertKind.first_employer_contact_overdue,
                due_on=first.due_on,
                days_past_due=first.days_past_due,
                overdue=first.overdue,
                detail=f"No employer contact yet, {rules.FIRST_EMPLOYER_CONTACT_DAYS} days after "
                f"joining on {joined_on:%d %b %Y}: due by {first.due_on:%d %b %Y}.",
            )
        )
    for job in journey.jobs:
        last = _last_review_on(journey.reviews.get(job.id, []), today)
        review = rules.support_review_due(as_rule_job(job), last, today)
        if review is not None:
            since = f"last review {last:%d %b %Y}" if last else "no review since the start"
            found.append(
                JourneyAlert(
                    kind=AlertKind.support_review_overdue,
                    due_on=review.due_on,
                    days_past_due=review.days_past_due,
                    overdue=review.overdue,
                    detail=f"In-work support review for {_clip(job.role, 80)} at "
                    f"{_clip(job.employer, 80)} due {review.due_on:%d %b %Y} ({since}).",
                    job_id=job.id,
                )
            )
    for job in journey.jobs:
        for check in rules.sustainment_checks(as_rule_job(job), today):
            if check.status == "due":
                found.append(
                    JourneyAlert(
                        kind=AlertKind.sustainment_check_due,
                        due_on=check.due_on,
                        days_past_due=0,
                        overdue=False,
                        detail=f"{check.weeks}-week sustainment check for {_clip(job.role, 80)} "
                        f"at {_clip(job.employer, 80)} due today, {check.due_on:%d %b %Y}: "
                        "confirm the job is still held.",
                        job_id=job.id,
                    )
                )
    for action_id, text, due_on, status in journey.plan_actions:
        if due_on is not None and rules.action_overdue(due_on, status, today):
            found.append(
                JourneyAlert(
                    kind=AlertKind.plan_action_overdue,
                    due_on=due_on,
                    days_past_due=(today - due_on).days,
                    overdue=True,
                    detail=f"Plan action due {due_on:%d %b %Y} is still {status}: "
                    f"{_clip(text, 200)}",
                    action_id=action_id,
                )
            )
    return found


def job_quality_settings(settings: Settings) -> JobQualitySettings:
    return JobQualitySettings(
        wage_threshold_name=settings.wage_threshold_name,
        wage_threshold_pence=settings.wage_threshold_pence,
        sustainment_competitive_only=settings.sustainment_competitive_only,
        sectors=[SectorPublic(code=code, label=label) for code, label in SIC_SECTIONS.items()],
        contract_types=list(ContractType),
    )


async def journey(*, session: AsyncSession, ctx: Context, client: ClientRecord) -> Journey:
    """The journey as of today, with what is due (see ``due_alerts``)."""
    recorded = await facts(session=session, client=client)
    return view(recorded, today_of(ctx), await _names(session, recorded))


async def _names(session: AsyncSession, recorded: JourneyFacts) -> dict[uuid.UUID, str]:
    ids = {m.recorded_by for m in recorded.milestones}
    ids |= {r.reviewed_by for found in recorded.reviews.values() for r in found}
    ids |= {c.specialist_id for c in recorded.employer_contacts}
    return await users_service.names(session=session, ids=ids)


def view(recorded: JourneyFacts, today: date, names: dict[uuid.UUID, str]) -> Journey:
    joined_on, joined_from = joined(recorded)
    first = first_employer_contact(recorded, today)
    return Journey(
        client_id=recorded.client.id,
        today=today,
        joined_on=joined_on,
        joined_from=joined_from,
        first_employer_contact_on=first.on if first else None,
        first_employer_contact_from=first.source if first else None,
        milestones=[
            MilestonePublic(
                id=m.id,
                kind=m.kind,
                occurred_on=m.occurred_on,
                job_id=m.job_id,
                note=m.note,
                recorded_by=m.recorded_by,
                recorded_by_name=names.get(m.recorded_by),
                recorded_at=m.recorded_at,
            )
            for m in recorded.milestones
        ],
        jobs=[job_view(j, recorded.reviews.get(j.id, []), today, names) for j in recorded.jobs],
        employer_contacts=[
            contact_view(c, names, show_client=True) for c in recorded.employer_contacts
        ],
        alerts=due_alerts(recorded, today),
    )


def job_view(
    job: Job, found: list[SupportReview], today: date, names: dict[uuid.UUID, str]
) -> JobPublic:
    rule_job = as_rule_job(job)
    last = _last_review_on(found, today)
    return JobPublic(
        id=job.id,
        employer=job.employer,
        role=job.role,
        hours_per_week=job.hours_per_week,
        started_on=job.started_on,
        ended_on=job.ended_on,
        hourly_pay_pence=job.hourly_pay_pence,
        wage_threshold_pence=job.wage_threshold_pence,
        meets_wage_threshold=rules.meets_wage_threshold(
            job.hourly_pay_pence, job.wage_threshold_pence
        ),
        contract_type=job.contract_type,
        competitive=job.competitive,
        sector=job.sector,
        in_work_support=InWorkSupport(
            until=rules.in_work_support_until(rule_job),
            open=rules.in_work_support_open(rule_job, today),
            last_review_on=last,
            next_review_due_on=next_review_due_on(rule_job, last, today),
        ),
        sustainment=[
            SustainmentCheck(weeks=c.weeks, due_on=c.due_on, status=c.status)
            for c in rules.sustainment_checks(rule_job, today)
        ],
        reviews=[
            ReviewPublic(
                id=r.id,
                reviewed_on=r.reviewed_on,
                reviewed_by=r.reviewed_by,
                reviewed_by_name=names.get(r.reviewed_by),
                note=r.note,
            )
            for r in found
        ],
    )


async def job_public(*, session: AsyncSession, ctx: Context, job: Job) -> JobPublic:
    found = (await reviews(session=session, job_ids=[job.id])).get(job.id, [])
    names = await users_service.names(session=session, ids={r.reviewed_by for r in found})
    return job_view(job, found, today_of(ctx), names)


# --- journey alerts to the care team ---------------------------------------------------------


def alert_source(client: ClientRecord, item: JourneyAlert) -> uuid.UUID:
    """What an alert is about: the job for a review, the plan action, else the client."""
    if item.kind == AlertKind.sustainment_check_due and item.job_id is not None:
        # Each check of a job is its own thing: the 26-week one is not the 13-week one.
        return uuid.uuid5(PLAN_ACTION_NAMESPACE, f"{item.job_id}:sustainment:{item.due_on}")
    if item.job_id is not None:
        return item.job_id
    if item.action_id is not None:
        return uuid.uuid5(PLAN_ACTION_NAMESPACE, f"{client.id}:{item.action_id}")
    return client.id


async def alert_recipients(*, session: AsyncSession, client: ClientRecord) -> list[uuid.UUID]:
    """The current care team, each still able to read the record (withdrawn consent takes a
    member of another organisation out)."""
    recipients = []
    for user_id in await clients_service.care_team_user_ids(session=session, client_id=client.id):
        user = await session.get(User, user_id)
        if user is not None and await client_policies.can_read_client(session, user, client):
            recipients.append(user_id)
    return sorted(recipients, key=str)


async def raise_due_alerts(
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    *,
    due: list[JourneyAlert] | None = None,
) -> list[Alert]:
    """Raise each overdue journey item (and each sustainment check on its due day) as an alert
    to every member of the care team.

    Idempotent: a member is not alerted again while they hold an unacknowledged alert of the
    same kind about the same thing, nor when they already had one raised after it fell due (an
    acknowledged alert settles that lapse; a later one, such as the next missed review, alerts
    again). Returns the alerts raised now.
    """
    if due is None:
        due = due_alerts(await facts(session=session, client=client), today_of(ctx))
    overdue = [item for item in due if item.overdue or item.kind in RAISED_WHEN_DUE]
    if not overdue:
        return []
    recipients = await alert_recipients(session=session, client=client)
    rows = await session.exec(
        select(Alert).where(Alert.client_id == client.id, col(Alert.kind).in_(JOURNEY_ALERT_KINDS))
    )
    held: dict[tuple[str, uuid.UUID | None, uuid.UUID], list[Alert]] = defaultdict(list)
    for alert in rows.all():
        held[(str(alert.kind), alert.source_id, alert.recipient_id)].append(alert)
    now = ctx.now()
    raised = []
    for item in overdue:
        source = alert_source(client, item)
        for recipient in recipients:
            earlier = held[(item.kind, source, recipient)]
            if any(a.acknowledged_at is None or a.raised_at.date() > item.due_on for a in earlier):
                continue
            raised.append(
                Alert(
                    kind=AlertKind(item.kind),
                    urgent=False,
                    client_id=client.id,
                    recipient_id=recipient,
                    source_id=source,
                    detail=_clip(item.detail, 500),
                    raised_at=now,
                )
            )
    session.add_all(raised)
    await session.flush()
    return raised


# --- employer contacts -----------------------------------------------------------------------


async def log_employer_contact(
    *, session: AsyncSession, ctx: Context, specialist: User, data: EmployerContactCreate
) -> EmployerContact:
    not_after_today(ctx, "contacted_on", data.contacted_on)
    contact = EmployerContact(
        specialist_id=specialist.id,
        employer=data.employer,
        contacted_on=data.contacted_on,
        contact_type=data.contact_type,
        outcome=data.outcome,
        client_id=data.client_id,
        employer_id=data.employer_id,
        recorded_at=ctx.now(),
    )
    session.add(contact)
    await session.flush()
    return contact


async def get_employer_contact(*, session: AsyncSession, contact_id: uuid.UUID) -> EmployerContact:
    return await found(session, EmployerContact, contact_id, missing=EmployerContactNotFound)


# A contact need not say how it happened, nor be with an employer of the directory.
CLEARABLE_CONTACT_FIELDS = frozenset({"contact_type", "employer_id"})


async def update_employer_contact(
    *, session: AsyncSession, ctx: Context, contact: EmployerContact, data: EmployerContactUpdate
) -> list[str]:
    """Correct a logged contact; returns the names of the fields that changed. The linked
    client and who logged it stay as they were (log a new contact for another client)."""
    if data.contacted_on is not None:
        not_after_today(ctx, "contacted_on", data.contacted_on)
    changed = []
    for name in sorted(data.model_fields_set):
        value = getattr(data, name)
        if name not in CLEARABLE_CONTACT_FIELDS and value is None:
            raise InvalidContactUpdate(
                f"{name} cannot be cleared.",
                extra={"errors": [{"field": f"body.{name}", "message": "must not be null"}]},
            )
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    if changed:
        session.add(contact)
        await session.flush()
    return changed


def contact_view(
    contact: EmployerContact, names: dict[uuid.UUID, str], *, show_client: bool
) -> EmployerContactPublic:
    """A contact as the API shows it; the linked client only to a reader who may read them."""
    return EmployerContactPublic(
        id=contact.id,
        specialist_id=contact.specialist_id,
        specialist_name=names.get(contact.specialist_id),
        employer=contact.employer,
        contacted_on=contact.contacted_on,
        contact_type=contact.contact_type,
        outcome=contact.outcome,
        client_id=contact.client_id if show_client else None,
        employer_id=contact.employer_id,
        recorded_at=contact.recorded_at,
    )


async def employer_contacts(
    *,
    session: AsyncSession,
    specialist_ids: set[uuid.UUID],
    limit: int,
    offset: int,
    employer_id: uuid.UUID | None = None,
) -> tuple[list[EmployerContact], int]:
    """The specialists' contacts, newest first; only those against ``employer_id`` if given."""
    if not specialist_ids:
        return [], 0
    query = select(EmployerContact).where(col(EmployerContact.specialist_id).in_(specialist_ids))
    if employer_id is not None:
        query = query.where(EmployerContact.employer_id == employer_id)
    return await paginate(
        session,
        query,
        col(EmployerContact.contacted_on).desc(),
        col(EmployerContact.recorded_at).desc(),
        col(EmployerContact.id),
        limit=limit,
        offset=offset,
    )


async def employment_specialists_among(
    *, session: AsyncSession, user_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these people are employment specialists."""
    if not user_ids:
        return set()
    rows = await session.exec(
        select(User.id).where(col(User.id).in_(user_ids), User.role == Role.employment_specialist)
    )
    return set(rows.all())


# --- caseloads -------------------------------------------------------------------------------


async def caseload_clients(
    *, session: AsyncSession, specialist_ids: set[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Each specialist's caseload: the clients whose care team they are currently on as
    employment specialist, whose case is not closed."""
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if not specialist_ids:
        return found
    rows = await session.exec(
        select(CareTeamMember.user_id, CareTeamMember.client_id)
        .join(ClientRecord, col(ClientRecord.id) == CareTeamMember.client_id)
        .where(
            col(CareTeamMember.user_id).in_(specialist_ids),
            CareTeamMember.role_on_team == Role.employment_specialist,
            col(CareTeamMember.until).is_(None),
            col(ClientRecord.status).in_(CASELOAD_STATUSES),
        )
    )
    for specialist_id, client_id in rows.all():
        found[specialist_id].add(client_id)
    return found


async def specialists_seen_by(*, session: AsyncSession, viewer: User) -> list[User]:
    """The active employment specialists of the viewer's organisation and those they
    supervise (a trust's supervisor often supervises a provider's specialists)."""
    supervised = await users_service.supervisee_ids(session=session, supervisor_id=viewer.id)
    rows = await session.exec(
        select(User)
        .where(
            User.role == Role.employment_specialist,
            col(User.is_active).is_(True),
            or_(col(User.organisation_id) == viewer.organisation_id, col(User.id).in_(supervised)),
        )
        .order_by(col(User.display_name), col(User.id))
    )
    return list(rows.all())


@dataclass(frozen=True)
class CaseloadSettings:
    limit: int = rules.CASELOAD_LIMIT
    warn_above: int = rules.CASELOAD_BEST_PRACTICE

    @property
    def warn(self) -> int:
        return min(self.warn_above, self.limit)


async def caseloads(
    *, session: AsyncSession, specialists: list[User], settings: CaseloadSettings
) -> list[Caseload]:
    ids = {s.id for s in specialists}
    clients = await caseload_clients(session=session, specialist_ids=ids)
    overrides: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if ids:
        rows = await session.exec(
            select(CaseloadOverride.specialist_id, CaseloadOverride.client_id).where(
                col(CaseloadOverride.specialist_id).in_(ids)
            )
        )
        for specialist_id, client_id in rows.all():
            overrides[specialist_id].add(client_id)
    return [
        caseload_of(s, len(clients[s.id]), len(overrides[s.id] & clients[s.id]), settings)
        for s in specialists
    ]


def caseload_of(
    specialist: User, active: int, overrides_in_force: int, settings: CaseloadSettings
) -> Caseload:
    return Caseload(
        specialist_id=specialist.id,
        specialist_name=specialist.display_name,
        organisation_id=specialist.organisation_id,
        active_clients=active,
        state=rules.caseload_state(active, limit=settings.limit, warn_above=settings.warn),
        limit=settings.limit,
        warn_above=settings.warn,
        ips25_caseload_score=rules.caseload_fidelity_score(active, 1.0),
        overrides_in_force=overrides_in_force,
    )


async def assign_specialist(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    assigner: User,
    specialist: User,
    override_reason: str | None,
    settings: CaseloadSettings,
) -> tuple[CareTeamMember, CaseloadOverride | None]:
    """Add an employment specialist to the care team if their caseload allows it (``can_assign``).
    Beyond the limit only a supervisor, giving a reason, may; the override is recorded."""
    if specialist.role != Role.employment_specialist or not specialist.is_active:
        raise NotAnEmploymentSpecialist(
            "Only an active employment specialist is assigned this way; add other staff "
            "through the care team."
        )
    if specialist.id in await clients_service.care_team_user_ids(
        session=session, client_id=client.id
    ):
        raise Conflict("That person is already on this client's care team.")
    # Concurrent assignments to one specialist queue here on PostgreSQL (SQLite transactions
    # already take the write lock when they begin), so two cannot both take the last place.
    await session.exec(select(User.id).where(User.id == specialist.id).with_for_update())
    active = len(
        (await caseload_clients(session=session, specialist_ids={specialist.id}))[specialist.id]
    )
    is_supervisor = bool(ips_policies.can_override_caseload(assigner))
    decision = rules.can_assign(
        active,
        limit=settings.limit,
        supervisor_override=is_supervisor and bool(override_reason),
    )
    if not decision.allowed:
        if is_supervisor:
            advice = "Give an override_reason to assign beyond the limit; it is recorded."
        else:
            advice = "A supervisor can assign beyond the limit with a recorded reason."
        raise CaseloadLimitReached(
            f"{specialist.display_name} has {active} clients. {decision.reason} {advice}",
            extra={"caseload": active, "limit": settings.limit, "needs_override": True},
        )
    member = await clients_service.add_care_team_member(
        session=session,
        ctx=ctx,
        client=client,
        user=specialist,
        data=CareTeamMemberAdd(user_id=specialist.id, role_on_team=Role.employment_specialist),
    )
    override = None
    if decision.needs_override:
        assert override_reason is not None
        override = CaseloadOverride(
            specialist_id=specialist.id,
            client_id=client.id,
            supervisor_id=assigner.id,
            reason=override_reason,
            caseload_before=active,
            caseload_limit=settings.limit,
            at=ctx.now(),
        )
        session.add(override)
        await session.flush()
    return member, override
