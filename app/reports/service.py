"""Programme reports: the scope a report covers, the facts of its clients read in a few queries,
and the figures made from them by the pure definitions (``app.reports.definitions``).

Callers check the report policy; this runs the SQL. Dates are UTC calendar days, as in the IPS
journey ("today" is ``ctx.now().date()``).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.benefits import rules as benefit_rules
from app.benefits import service as benefits_service
from app.clients.models import ClientRecord, Referral
from app.errors import NotFound, Unprocessable
from app.evaluation.models import TrialAllocation
from app.ips import service as ips_service
from app.ips.models import EmployerContact, Job, Milestone
from app.ips.rules import MilestoneKind
from app.measures import service as measures_service
from app.measures.models import MeasureResponse
from app.organisations.models import Organisation
from app.plans.models import CarePlan, CarePlanVersion
from app.reports import definitions
from app.reports.definitions import ClientFacts, DiversionFacts, Figure, Group, OutcomeFacts
from app.reports.schemas import (
    CellPublic,
    DefinitionPublic,
    FigurePublic,
    PeriodPublic,
    ProgrammeReport,
    ReportScopes,
    ScopeOption,
    ScopePublic,
    SuppressionPublic,
)
from app.teams import service as teams_service
from app.teams.models import Team
from app.users.models import Role, User

# Milestones the figures read (referrals come from the referral records themselves).
JOURNEY_KINDS = (
    MilestoneKind.first_meeting,
    MilestoneKind.first_employer_contact,
    MilestoneKind.job_start,
)
SUPPRESSION_RULE = (
    "Counts from 1 to {below} are withheld (zero is shown); a figure whose denominator is "
    "withheld shows neither numerator nor value; when split by arm, a second part is withheld "
    "whenever one alone could be worked out from the overall figure; a proportion or median is "
    "shown only when every count it is made from is shown."
)


class ScopeKind(StrEnum):
    team = "team"
    organisation = "organisation"
    area_cluster = "area_cluster"


class ScopeNotFound(NotFound):
    title = "Report scope not found"


class InvalidReportRequest(Unprocessable):
    slug, title = "invalid-report-request", "The report cannot be made as asked"


@dataclass(frozen=True)
class Scope:
    """What a report covers: its teams (clients belong to a scope through their team) and the
    organisations those teams belong to."""

    kind: ScopeKind
    id: str
    name: str
    team_ids: frozenset[uuid.UUID]
    organisation_ids: frozenset[uuid.UUID]


def _invalid(field: str, message: str) -> InvalidReportRequest:
    return InvalidReportRequest(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _invalid("query.scope_id", "must be a team's id (a UUID)") from None


async def resolve_scope(*, session: AsyncSession, kind: ScopeKind, scope_id: str) -> Scope:
    """The scope named by ``kind`` and ``scope_id`` (an id, or an area cluster's name)."""
    if kind == ScopeKind.team:
        team = await session.get(Team, _uuid(scope_id))
        if team is None:
            raise ScopeNotFound("No team has that id.")
        return Scope(
            kind, str(team.id), team.name, frozenset({team.id}), frozenset({team.organisation_id})
        )
    if kind == ScopeKind.organisation:
        # An organisation is named by its id or by its slug (``tyneside-nhs``).
        try:
            organisation = await session.get(Organisation, uuid.UUID(scope_id))
        except ValueError:
            organisation = (
                await session.exec(select(Organisation).where(Organisation.slug == scope_id))
            ).first()
        if organisation is None:
            raise ScopeNotFound("No organisation has that id or slug.")
        rows = await session.exec(select(Team.id).where(Team.organisation_id == organisation.id))
        return Scope(
            kind,
            str(organisation.id),
            organisation.name,
            frozenset(rows.all()),
            frozenset({organisation.id}),
        )
    teams = (await session.exec(select(Team).where(Team.area_cluster == scope_id))).all()
    if not teams:
        raise ScopeNotFound(f"No team is in the area cluster {scope_id!r}.")
    return Scope(
        kind,
        scope_id,
        scope_id,
        frozenset(t.id for t in teams),
        frozenset(t.organisation_id for t in teams),
    )


async def readable_scopes(*, session: AsyncSession, reader: User) -> ReportScopes:
    """The scopes this report reader may ask for
    (``auth.policies.reports.can_read_report_scope``)."""
    if reader.role == Role.admin:
        query = select(Team).where(Team.organisation_id == reader.organisation_id)
    else:
        mine = await teams_service.team_ids_of(session=session, user_id=reader.id)
        query = select(Team).where(col(Team.id).in_(mine))
    teams = list((await session.exec(query.order_by(col(Team.name), col(Team.id)))).all())
    organisation = await session.get(Organisation, reader.organisation_id)
    return ReportScopes(
        teams=[ScopeOption(kind=ScopeKind.team, id=str(t.id), name=t.name) for t in teams],
        organisations=[
            ScopeOption(kind=ScopeKind.organisation, id=str(o.id), name=o.name)
            for o in ([organisation] if organisation else [])
        ],
        area_clusters=[
            ScopeOption(kind=ScopeKind.area_cluster, id=name, name=name)
            for name in sorted({t.area_cluster for t in teams})
        ],
    )


def check_period(first_day: date, last_day: date, *, max_days: int, today: date) -> None:
    """A period that has begun, ends no earlier than it starts, and is not too long."""
    if last_day < first_day:
        raise _invalid("query.to", "the period must not end before it starts")
    if first_day > today:
        raise _invalid("query.from", f"the period has not begun (today is {today.isoformat()})")
    days = definitions.period_days(first_day, last_day)
    if days > max_days:
        raise _invalid(
            "query.to", f"a report covers at most {max_days} days; this period has {days}"
        )


# --- the facts of a scope's clients ----------------------------------------------------------


def _end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def _outcome(responses: list[MeasureResponse]) -> OutcomeFacts | None:
    _pairs, _first, last_key, change = measures_service.outcome(responses)
    if change is None or last_key is None:
        return None
    last_on = max(r.completed_at for r in responses if r.session_key == last_key)
    return OutcomeFacts(
        last_pair_on=last_on.date(),
        caseness=change.caseness,
        recovery=change.recovery,
        reliable_improvement=change.reliable_improvement,
    )


def _sessions(content: Mapping[str, Any]) -> tuple[int, int]:
    """Diversion sessions offered and attended in all, read leniently from a stored plan."""
    offered = attended = 0
    for activity in content.get("diversion") or []:
        if isinstance(activity, dict):
            offered += int(activity.get("sessions_offered") or 0)
            attended += int(activity.get("sessions_attended") or 0)
    return offered, attended


async def _diversion(
    session: AsyncSession, clients: Any, first_day: date, as_of: date
) -> dict[uuid.UUID, DiversionFacts]:
    """Plans whose diversion section changed in the period, as they stood at the end of it."""
    plans = dict(
        (
            await session.exec(
                select(CarePlan.id, CarePlan.client_id).where(col(CarePlan.client_id).in_(clients))
            )
        ).all()
    )
    if not plans:
        return {}
    versions = await session.exec(
        select(
            CarePlanVersion.plan_id,
            CarePlanVersion.version,
            CarePlanVersion.sections,
            CarePlanVersion.changed_at,
        ).where(
            col(CarePlanVersion.plan_id).in_(list(plans)),
            col(CarePlanVersion.changed_at) < _end_of(as_of),
        )
    )
    latest: dict[uuid.UUID, int] = {}
    changed: dict[uuid.UUID, list[date]] = defaultdict(list)
    for plan_id, version, sections, changed_at in versions.all():
        latest[plan_id] = max(version, latest.get(plan_id, 0))
        if "diversion" in (sections or []):
            changed[plan_id].append(changed_at.date())
    wanted = [
        (plan_id, latest[plan_id])
        for plan_id, days in changed.items()
        if any(first_day <= day <= as_of for day in days)
    ]
    if not wanted:
        return {}
    contents = await session.exec(
        select(CarePlanVersion.plan_id, CarePlanVersion.content).where(
            tuple_(col(CarePlanVersion.plan_id), col(CarePlanVersion.version)).in_(wanted)
        )
    )
    found = {}
    for plan_id, content in contents.all():
        offered, attended = _sessions(content or {})
        found[plans[plan_id]] = DiversionFacts(
            changed_on=tuple(sorted(changed[plan_id])),
            sessions_offered=offered,
            sessions_attended=attended,
        )
    return found


async def _outcome_facts(
    session: AsyncSession, in_scope: Any, first_day: date, as_of: date
) -> tuple[
    dict[uuid.UUID, list[MeasureResponse]],
    dict[uuid.UUID, Group],
    dict[uuid.UUID, DiversionFacts],
]:
    """Measures completed by the end of ``as_of``, evaluation arms and diversion pathways."""
    responses: dict[uuid.UUID, list[MeasureResponse]] = defaultdict(list)
    for response in await session.exec(
        select(MeasureResponse)
        .where(
            col(MeasureResponse.client_id).in_(in_scope),
            col(MeasureResponse.completed_at) < _end_of(as_of),
        )
        .order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
    ):
        responses[response.client_id].append(response)
    # A client in more than one trial is reported in the arm of their latest allocation.
    arms: dict[uuid.UUID, Group] = {}
    for client_id, arm in (
        await session.exec(
            select(TrialAllocation.client_id, TrialAllocation.arm)
            .where(col(TrialAllocation.client_id).in_(in_scope))
            .order_by(col(TrialAllocation.allocated_at), col(TrialAllocation.id))
        )
    ).all():
        arms[client_id] = "ips" if str(arm) == "ips" else "treatment_as_usual"
    return responses, arms, await _diversion(session, in_scope, first_day, as_of)


@dataclass(frozen=True)
class _JourneyRows:
    """Each client's referrals, journey milestones, jobs and employer contacts up to a day."""

    referrals: dict[uuid.UUID, list[date]]
    ineligible: dict[uuid.UUID, list[date]]
    claims: dict[uuid.UUID, list[benefit_rules.Claim]]
    milestones: dict[uuid.UUID, list[Milestone]]
    jobs: dict[uuid.UUID, list[Job]]
    contacts: dict[uuid.UUID, list[EmployerContact]]


async def _journey_rows(session: AsyncSession, in_scope: Any, as_of: date) -> _JourneyRows:
    referrals: dict[uuid.UUID, list[date]] = defaultdict(list)
    ineligible: dict[uuid.UUID, list[date]] = defaultdict(list)
    for client_id, referred_on, eligible in (
        await session.exec(
            select(
                col(Referral.client_id), col(Referral.referred_on), col(Referral.eligible)
            ).where(col(Referral.client_id).in_(in_scope), col(Referral.referred_on) <= as_of)
        )
    ).all():
        referrals[client_id].append(referred_on)
        if eligible is False:
            ineligible[client_id].append(referred_on)
    claims = await benefits_service.claims_of(session=session, client_ids=in_scope)

    milestones: dict[uuid.UUID, list[Milestone]] = defaultdict(list)
    for milestone in await session.exec(
        select(Milestone).where(
            col(Milestone.client_id).in_(in_scope),
            col(Milestone.kind).in_(JOURNEY_KINDS),
            col(Milestone.occurred_on) <= as_of,
        )
    ):
        milestones[milestone.client_id].append(milestone)

    jobs: dict[uuid.UUID, list[Job]] = defaultdict(list)
    for job in await session.exec(
        select(Job).where(col(Job.client_id).in_(in_scope), col(Job.started_on) <= as_of)
    ):
        jobs[job.client_id].append(job)

    contacts: dict[uuid.UUID, list[EmployerContact]] = defaultdict(list)
    for contact in await session.exec(
        select(EmployerContact).where(
            col(EmployerContact.client_id).in_(in_scope),
            col(EmployerContact.contacted_on) <= as_of,
        )
    ):
        if contact.client_id is not None:
            contacts[contact.client_id].append(contact)
    return _JourneyRows(
        referrals=referrals,
        ineligible=ineligible,
        claims=claims,
        milestones=milestones,
        jobs=jobs,
        contacts=contacts,
    )


async def client_facts(
    *,
    session: AsyncSession,
    team_ids: Iterable[uuid.UUID],
    first_day: date,
    as_of: date,
    with_outcomes: bool = True,
) -> list[ClientFacts]:
    """The facts of every client of these teams, dated up to ``as_of``, in a fixed number of
    queries (``first_day`` only narrows which plans' diversion pathway is read). Without
    ``with_outcomes`` only the IPS journey is read: no measures, plans or allocations."""
    teams = list(team_ids)
    if not teams:
        return []
    found = await client_facts_by_id(
        session=session,
        in_scope=select(ClientRecord.id).where(col(ClientRecord.team_id).in_(teams)),
        first_day=first_day,
        as_of=as_of,
        with_outcomes=with_outcomes,
    )
    return list(found.values())


async def client_facts_by_id(
    *,
    session: AsyncSession,
    in_scope: Any,
    first_day: date,
    as_of: date,
    with_outcomes: bool = True,
) -> dict[uuid.UUID, ClientFacts]:
    """:func:`client_facts` for the clients ``in_scope`` (a select of client ids) by client id:
    for figures split by something the facts do not carry (equality groups, the evaluation
    extract's rows)."""
    clients = list(
        await session.exec(select(ClientRecord).where(col(ClientRecord.id).in_(in_scope)))
    )
    if not clients:
        return {}
    rows = await _journey_rows(session, in_scope, as_of)
    responses: dict[uuid.UUID, list[MeasureResponse]] = defaultdict(list)
    arms: dict[uuid.UUID, Group] = {}
    diversion: dict[uuid.UUID, DiversionFacts] = {}
    if with_outcomes:
        responses, arms, diversion = await _outcome_facts(session, in_scope, first_day, as_of)
    return {
        client.id: _client_fact(
            client,
            rows,
            as_of,
            arm=arms.get(client.id, "not_allocated"),
            responses=responses[client.id],
            diversion=diversion.get(client.id),
        )
        for client in clients
    }


def _client_fact(
    client: ClientRecord,
    rows: _JourneyRows,
    as_of: date,
    *,
    arm: Group,
    responses: list[MeasureResponse],
    diversion: DiversionFacts | None,
) -> ClientFacts:
    milestones = rows.milestones[client.id]
    jobs = rows.jobs[client.id]
    journey = ips_service.JourneyFacts(
        client=client,
        milestones=milestones,
        jobs=jobs,
        reviews={},
        employer_contacts=rows.contacts[client.id],
        plan_actions=[],
    )
    joined_on, _source = ips_service.joined(journey)
    meetings = [m.occurred_on for m in milestones if m.kind == MilestoneKind.first_meeting]
    return ClientFacts(
        arm=arm,
        referred_on=tuple(sorted(rows.referrals[client.id])),
        first_meeting_on=min(meetings) if meetings else None,
        joined_on=joined_on,
        first_employer_contact_on=ips_service.first_employer_contact_on(journey, as_of),
        jobs=tuple(ips_service.as_rule_job(j) for j in jobs if _valid_job(j)),
        outcome=_outcome(responses),
        diversion=diversion,
        benefit_claims=tuple(rows.claims.get(client.id, ())),
        ineligible_referred_on=tuple(sorted(rows.ineligible[client.id])),
    )


def _valid_job(job: Job) -> bool:
    # The API refuses these; a row written otherwise must not break every report.
    return job.hours_per_week > 0 and (job.ended_on is None or job.ended_on >= job.started_on)


# --- the report ------------------------------------------------------------------------------


def _cell(cell: definitions.Cell) -> CellPublic:
    return CellPublic(
        value=cell.value,
        numerator=cell.numerator,
        denominator=cell.denominator,
        suppressed=cell.suppressed,
    )


def definition_public(definition: definitions.Definition) -> DefinitionPublic:
    return DefinitionPublic(
        key=definition.key,
        label=definition.label,
        unit=definition.unit,
        definition=definition.definition,
        numerator_label=definition.numerator,
        denominator_label=definition.denominator,
    )


def figure_public(figure: Figure) -> FigurePublic:
    return FigurePublic(
        **definition_public(figure.definition).model_dump(),
        overall=_cell(figure.overall),
        by_arm=(
            {group: _cell(cell) for group, cell in figure.by_arm.items()}
            if figure.by_arm is not None
            else None
        ),
    )


async def programme_report(
    *,
    session: AsyncSession,
    scope: Scope,
    first_day: date,
    last_day: date,
    today: date,
    now: datetime,
    threshold: int,
    by_arm: bool,
    window_days: int = benefit_rules.DEFAULT_RESTART_WINDOW_DAYS,
    competitive_only: bool = True,
) -> ProgrammeReport:
    as_of = definitions.as_of_day(last_day, today)
    facts = await client_facts(
        session=session, team_ids=scope.team_ids, first_day=first_day, as_of=as_of
    )
    found = definitions.figures(
        facts,
        first_day=first_day,
        as_of=as_of,
        threshold=threshold,
        by_arm=by_arm,
        window_days=window_days,
        competitive_only=competitive_only,
    )
    return ProgrammeReport(
        scope=ScopePublic(kind=scope.kind, id=scope.id, name=scope.name),
        period=PeriodPublic.model_validate({"from": first_day, "to": last_day, "as_of": as_of}),
        split="arm" if by_arm else None,
        suppression=SuppressionPublic(
            threshold=threshold, rule=SUPPRESSION_RULE.format(below=threshold - 1)
        ),
        generated_at=now,
        figures=[figure_public(f) for f in found],
    )


# --- export ----------------------------------------------------------------------------------

CSV_COLUMNS = (
    "scope_kind",
    "scope_id",
    "scope_name",
    "period_from",
    "period_to",
    "as_of",
    "figure",
    "label",
    "unit",
    "group",
    "value",
    "numerator",
    "denominator",
    "suppressed",
    "definition",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _number(value: float | int | None) -> str:
    return "" if value is None else str(value)


def to_csv(report: ProgrammeReport) -> str:
    """One row per figure and group ("overall", then each arm when split); withheld cells are
    empty. Only aggregates: the same suppressed figures as the JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for figure in report.figures:
        groups: list[tuple[str, CellPublic]] = [("overall", figure.overall)]
        if figure.by_arm is not None:
            groups.extend(figure.by_arm.items())
        for group, cell in groups:
            writer.writerow(
                [
                    report.scope.kind,
                    _text(report.scope.id),
                    _text(report.scope.name),
                    report.period.first_day.isoformat(),
                    report.period.last_day.isoformat(),
                    report.period.as_of.isoformat(),
                    figure.key,
                    figure.label,
                    figure.unit,
                    group,
                    _number(cell.value),
                    _number(cell.numerator),
                    _number(cell.denominator),
                    "true" if cell.suppressed else "false",
                    figure.definition,
                ]
            )
    return out.getvalue()


def filename(report: ProgrammeReport, extension: str) -> str:
    """``teamwell-report-<kind>-<name>-<from>-to-<to>.<ext>``, in safe ASCII."""
    slug = re.sub(r"[^a-z0-9]+", "-", report.scope.name.lower()).strip("-")[:60] or "scope"
    kind = report.scope.kind.replace("_", "-")
    return (
        f"teamwell-report-{kind}-{slug}-{report.period.first_day.isoformat()}-to-"
        f"{report.period.last_day.isoformat()}.{extension}"
    )
