"""Demo data: two organisations, one integrated team, six clients at different stages, and the
team's recent past (weekly check-ins, supervision with agreed actions, a fidelity review), so
the supervisor's dashboard has something to show on first start. The programme's own outcomes
have something to show too: benefit histories with counselling, eligibility answers (one
ineligible referral), job starts with their quality, an employer directory with contacts,
vacancies and applications, equality answers, this quarter's targets, and a closed evaluation
pilot. Everything is dated from the clock passed in, so a load is the same at any time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.benefits import service as benefits_service
from app.benefits.models import BenefitSource, BetterOffOutcome
from app.benefits.rules import BenefitKind, EsaGroup, UcRegime
from app.benefits.schemas import BenefitClaimCreate, BetterOffCreate
from app.brokerage import service as brokerage_service
from app.brokerage.schemas import (
    ApplicationCreate,
    ApplicationUpdate,
    EmployerCreate,
    VacancyCreate,
)
from app.clients import eligibility
from app.clients import service as clients_service
from app.clients.models import ClientRecord, ProgrammeStatus, ReferralSource
from app.clients.schemas import CareTeamMemberAdd, ClientCreate, ClientUpdate, ReferralCreate
from app.clock import FrozenClock
from app.config import Settings
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose, ConsentState
from app.consents.schemas import ConsentDecision
from app.context import Actor, Context, acting_as
from app.equality import service as equality_service
from app.equality.schemas import (
    AgeBand,
    Disability,
    EqualityAnswers,
    Ethnicity,
    GenderIdentity,
    Sex,
    YesNo,
)
from app.evaluation import service as evaluation_service
from app.evaluation.models import EvaluationTrial
from app.evaluation.schemas import StratifyBy, TrialCreate
from app.fidelity import service as fidelity_service
from app.fidelity.schemas import FidelityReviewCreate
from app.ips import service as ips_service
from app.ips.models import ContractType, EmployerContactType
from app.ips.schemas import EmployerContactCreate, JobCreate, JobEnd
from app.meetings import service as meetings_service
from app.meetings.models import MeetingKind, ParticipantState
from app.meetings.schemas import MeetingCreate
from app.messaging.keyring import MessageKeyring
from app.organisations import service as organisations_service
from app.organisations.models import Organisation, OrganisationKind
from app.organisations.schemas import OrganisationCreate
from app.reports import targets as report_targets
from app.reports.service import ScopeKind, resolve_scope
from app.supervision import check_ins as supervision_check_ins
from app.supervision import records as supervision_records
from app.supervision import rules as supervision_rules
from app.supervision.models import SupervisionKind
from app.supervision.schemas import ActionCreate, CheckInCreate, RecordCreate
from app.supervision.service import SupervisionSettings
from app.teams import service as teams_service
from app.teams.models import Team
from app.teams.schemas import TeamCreate
from app.users import service as users_service
from app.users.models import Role, User
from app.users.schemas import UserCreate


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    display_name: str


TRUST = OrganisationCreate(
    slug="tyneside-nhs", name="Tyneside NHS Foundation Trust", kind=OrganisationKind.nhs_trust
)
PROVIDER = OrganisationCreate(
    slug="northern-employment",
    name="Northern Employment Partners",
    kind=OrganisationKind.employment_provider,
)

STAFF = [
    ("admin@tyneside.example", "Morgan Reid", Role.admin, TRUST.slug),
    ("priya.shah@tyneside.example", "Priya Shah", Role.peer_keyworker, TRUST.slug),
    ("tom.okafor@tyneside.example", "Tom Okafor", Role.therapist, TRUST.slug),
    ("sofia.lind@tyneside.example", "Sofia Lind", Role.supervisor, TRUST.slug),
    (
        "erin.walsh@northern-employment.example",
        "Erin Walsh",
        Role.employment_specialist,
        PROVIDER.slug,
    ),
    ("admin@northern-employment.example", "Jamie Hart", Role.admin, PROVIDER.slug),
]

# The one demo client who signs in (the others are reached through their care team).
DEMO_CLIENT_LOGIN = "alex.morgan@example.org"

# name, status, referral source, reason, has a login
CLIENTS = [
    (
        "Alex Morgan",
        ProgrammeStatus.active,
        ReferralSource.talking_therapies,
        "Low mood since redundancy; wants to return to warehouse or retail work.",
        True,
    ),
    (
        "Bea Collins",
        ProgrammeStatus.referred,
        ReferralSource.jobcentre,
        "Anxiety about interviews; interested in admin roles.",
        False,
    ),
    (
        "Chris Doyle",
        ProgrammeStatus.in_work,
        ReferralSource.self_referral,
        "Started part-time kitchen work; wants in-work support.",
        False,
    ),
    (
        "Dana Evans",
        ProgrammeStatus.active,
        ReferralSource.talking_therapies,
        "Panic attacks on public transport; looking for work close to home.",
        False,
    ),
    (
        "Eli Fraser",
        ProgrammeStatus.closed,
        ReferralSource.other,
        "Moved out of area; case closed with a hand-over letter.",
        False,
    ),
    (
        "Farah Ghani",
        ProgrammeStatus.active,
        ReferralSource.jobcentre,
        "At risk of sanction; offered the diversion pathway instead.",
        False,
    ),
]


async def seed_demo(
    session: AsyncSession, ctx: Context, password: str, keyring: MessageKeyring
) -> list[DemoLogin]:
    """Create the demo programme. Refuses to run twice (it is for an empty database)."""
    existing = await session.exec(select(Organisation).where(Organisation.slug == TRUST.slug))
    if existing.first() is not None:
        raise RuntimeError("demo data is already loaded")
    organisations = {}
    for data in (TRUST, PROVIDER):
        organisations[data.slug] = await organisations_service.create(
            session=session, ctx=ctx, data=data
        )
    team = await teams_service.create(
        session=session,
        ctx=ctx,
        organisation_id=organisations[TRUST.slug].id,
        data=TeamCreate(name="Newcastle IPS Team", area_cluster="Tyne and Wear"),
    )
    people, logins = await _demo_staff(session, ctx, password, organisations, team)
    keyworker = people[Role.peer_keyworker]
    as_keyworker = Context(
        actor=Actor(
            user_id=keyworker.id, role=keyworker.role, organisation_id=keyworker.organisation_id
        ),
        clock=ctx.clock,
    )
    cast = _DemoCast(
        organisations=organisations, team=team, people=people, as_keyworker=as_keyworker
    )
    trial = await _demo_trial_opened(session, ctx, keyring, people[Role.supervisor])
    clients: dict[str, ClientRecord] = {}
    for index, entry in enumerate(CLIENTS):
        login, clients[entry[0]] = await _demo_client(session, ctx, cast, password, index, entry)
        if login is not None:
            logins.append(login)
    as_specialist = acting_as(ctx, people[Role.employment_specialist])
    await _demo_jobs(session, as_specialist, clients)
    await _demo_brokerage(session, as_specialist, people[Role.employment_specialist], clients)
    await _demo_equality(session, ctx, keyring, clients, people[Role.peer_keyworker])
    await _demo_trial_run(session, as_keyworker, keyring, trial, clients)
    await _demo_team_past(session, ctx, keyring, team, people)
    await _demo_targets(session, ctx, team, people[Role.supervisor])
    return logins


async def _demo_staff(
    session: AsyncSession,
    ctx: Context,
    password: str,
    organisations: dict[str, Organisation],
    team: Team,
) -> tuple[dict[Role, User], list[DemoLogin]]:
    """The staff of both organisations, on the team in force, supervised by the supervisor;
    the first person of each role stands for that role."""
    people: dict[Role, User] = {}
    logins: list[DemoLogin] = []
    for email, name, role, slug in STAFF:
        user = await users_service.create(
            session=session,
            ctx=ctx,
            organisation_id=organisations[slug].id,
            data=UserCreate(email=email, display_name=name, role=role),
            password=password,
        )
        people.setdefault(role, user)
        logins.append(DemoLogin(email, role, name))
        if role != Role.admin:
            # Seeded in force, as a running service's team would be.
            await teams_service.add_member(
                session=session, ctx=ctx, team=team, user=user, proposed_by=None, in_force=True
            )
    for role in (Role.peer_keyworker, Role.therapist, Role.employment_specialist):
        # Seeded as already accepted by each supervisee, as a running service would have them.
        link = await users_service.propose_supervisor(
            session=session, ctx=ctx, supervisee=people[role], supervisor=people[Role.supervisor]
        )
        await users_service.accept_supervisor(session=session, ctx=ctx, link=link)
    return people, logins


@dataclass(frozen=True)
class _DemoCast:
    """Who the demo's clients are made with: the organisations, the team, the first person of
    each role, and the keyworker acting (who takes every referral)."""

    organisations: dict[str, Organisation]
    team: Team
    people: dict[Role, User]
    as_keyworker: Context


# The one demo referral found ineligible (Bea was referred by the jobcentre, but her only
# benefit is PIP, which is not an out-of-work benefit): stored with its reason, still counted.
DEMO_INELIGIBLE: dict[str, set[str]] = {"Bea Collins": {"claims_out_of_work_benefit"}}


def _demo_eligibility(name: str) -> dict[str, bool]:
    wrong = DEMO_INELIGIBLE.get(name, set())
    return {
        q.key: (not q.eligible_answer) if q.key in wrong else q.eligible_answer
        for q in eligibility.TRAILBLAZER_QUESTIONS
    }


async def _demo_client(
    session: AsyncSession,
    ctx: Context,
    cast: _DemoCast,
    password: str,
    index: int,
    entry: tuple[str, ProgrammeStatus, ReferralSource, str, bool],
) -> tuple[DemoLogin | None, ClientRecord]:
    """One demo client, referred by the keyworker with the therapist and specialist on the care
    team; the one with a login also has a session today and a case meeting behind them."""
    name, status, source, reason, has_login = entry
    people, team, as_keyworker = cast.people, cast.team, cast.as_keyworker
    keyworker = people[Role.peer_keyworker]
    client = await clients_service.create(
        session=session,
        ctx=as_keyworker,
        team=team,
        creator=keyworker,
        data=ClientCreate(
            display_name=name,
            team_id=team.id,
            referral=ReferralCreate(
                source=source,
                reason=reason,
                referred_on=ctx.now().date() - timedelta(days=20 + 15 * index),
                eligibility=_demo_eligibility(name),
            ),
        ),
    )
    await _demo_benefits(session, as_keyworker, client, index)
    if status != ProgrammeStatus.referred:
        await clients_service.update(
            session=session, ctx=as_keyworker, client=client, data=ClientUpdate(status=status)
        )
    for role in (Role.therapist, Role.employment_specialist):
        await clients_service.add_care_team_member(
            session=session,
            ctx=as_keyworker,
            client=client,
            user=people[role],
            data=CareTeamMemberAdd(user_id=people[role].id),
        )
    await _demo_consents(session, as_keyworker, client, cast.organisations, granted=index != 3)
    if not has_login:
        return None, client
    user = await users_service.create(
        session=session,
        ctx=ctx,
        organisation_id=client.organisation_id,
        data=UserCreate(email=DEMO_CLIENT_LOGIN, display_name=name, role=Role.client),
        password=password,
    )
    await clients_service.link_login(session=session, client=client, user=user)
    await _demo_session_today(session, as_keyworker, keyworker, client)
    await _demo_case_meeting_past(session, as_keyworker, client, people)
    return DemoLogin(user.email, Role.client, name), client


# Job starts with their quality, so the reports' job-quality figures have something to show:
# (client, employer, role, hours, pay in pence, contract, competitive, sector, started and ended
# days ago). All began more than 26 weeks ago, so no in-work review is due today.
DEMO_JOBS: list[tuple[str, str, str, float, int, ContractType, bool, str, int, int | None]] = [
    (
        "Chris Doyle",
        "Quayside Kitchen",
        "Kitchen porter",
        12,
        1144,
        ContractType.zero_hours,
        True,
        "I",
        300,
        200,
    ),
    (
        "Chris Doyle",
        "Tyne Bistro",
        "Commis chef",
        16,
        1360,
        ContractType.permanent,
        True,
        "I",
        190,
        None,
    ),
    (
        "Farah Ghani",
        "Walker Community Garden",
        "Supported placement",
        30,
        1200,
        ContractType.fixed_term,
        False,
        "Q",
        250,
        100,
    ),
    (
        "Farah Ghani",
        "Grainger Market Stores",
        "Retail assistant",
        20,
        1345,
        ContractType.permanent,
        True,
        "G",
        210,
        None,
    ),
]


async def _demo_jobs(session: AsyncSession, ctx: Context, clients: dict[str, ClientRecord]) -> None:
    """The demo's job starts, recorded by the employment specialist against the default wage
    threshold."""
    today = ctx.now().date()
    for name, employer, role, hours, pay, contract, competitive, sector, began, ended in DEMO_JOBS:
        client = clients[name]
        job = await ips_service.start_job(
            session=session,
            ctx=ctx,
            client=client,
            data=JobCreate(
                employer=employer,
                role=role,
                hours_per_week=hours,
                started_on=today - timedelta(days=began),
                hourly_pay_pence=pay,
                contract_type=contract,
                competitive=competitive,
                sector=sector,
            ),
            wage_threshold_pence=Settings().wage_threshold_pence,
        )
        if ended is not None:
            await ips_service.end_job(
                session=session,
                ctx=ctx,
                client=client,
                job=job,
                data=JobEnd(ended_on=today - timedelta(days=ended)),
            )


# The employment provider's employer directory: (name, sector, location, vacancies as (title,
# hours, pay in pence or None, closing in days or None)).
DEMO_EMPLOYERS: list[tuple[str, str, str, list[tuple[str, float, int | None, int | None]]]] = [
    ("Quayside Kitchen", "I", "Newcastle Quayside", [("Kitchen assistant", 16, 1350, 21)]),
    ("Metro Logistics", "H", "Gateshead", [("Warehouse operative", 30, 1400, None)]),
    ("Grainger Market Stores", "G", "Newcastle city centre", [("Retail assistant", 20, 1300, 10)]),
]


# Erin's job development with the directory's employers: (employer, days ago, how, outcome).
DEMO_EMPLOYER_CONTACTS: list[tuple[str, int, EmployerContactType, str]] = [
    (
        "Metro Logistics",
        40,
        EmployerContactType.face_to_face,
        "Met the site manager; two warehouse openings expected before Christmas.",
    ),
    (
        "Quayside Kitchen",
        25,
        EmployerContactType.face_to_face,
        "Visited the kitchen with the head chef; open to a working interview.",
    ),
    ("Grainger Market Stores", 12, EmployerContactType.phone, "Agreed a trial shift process."),
    ("Metro Logistics", 4, EmployerContactType.email, "Sent the job description back marked up."),
]


async def _demo_brokerage(
    session: AsyncSession, ctx: Context, specialist: User, clients: dict[str, ClientRecord]
) -> None:
    """Erin's employer directory with a few vacancies and her contacts with those employers;
    Alex's application (applied) and Farah's (at interview)."""
    today = ctx.now().date()
    threshold = Settings()
    made, directory = {}, {}
    for name, sector, location, openings in DEMO_EMPLOYERS:
        directory[name] = employer = await brokerage_service.create_employer(
            session=session,
            ctx=ctx,
            organisation_id=specialist.organisation_id,
            data=EmployerCreate(name=name, sector=sector, location=location),
        )
        for title, hours, pay, closing in openings:
            made[title] = await brokerage_service.create_vacancy(
                session=session,
                ctx=ctx,
                employer=employer,
                data=VacancyCreate(
                    title=title,
                    hours_per_week=hours,
                    hourly_pay_pence=pay,
                    location=location,
                    closing_on=today + timedelta(days=closing) if closing is not None else None,
                ),
            )
    for name, days, kind, outcome in DEMO_EMPLOYER_CONTACTS:
        await ips_service.log_employer_contact(
            session=session,
            ctx=ctx,
            specialist=specialist,
            data=EmployerContactCreate(
                employer=name,
                contacted_on=today - timedelta(days=days),
                contact_type=kind,
                outcome=outcome,
                employer_id=directory[name].id,
            ),
        )
    # Alex applied for the warehouse job he wants; no answer yet.
    await brokerage_service.record_application(
        session=session,
        ctx=ctx,
        client=clients["Alex Morgan"],
        data=ApplicationCreate(
            vacancy_id=made["Warehouse operative"].id, applied_on=today - timedelta(days=3)
        ),
    )
    farah = clients["Farah Ghani"]
    application, vacancy, employer = await brokerage_service.record_application(
        session=session,
        ctx=ctx,
        client=farah,
        data=ApplicationCreate(
            vacancy_id=made["Kitchen assistant"].id, applied_on=today - timedelta(days=6)
        ),
    )
    await brokerage_service.move_application(
        session=session,
        ctx=ctx,
        client=farah,
        application=application,
        vacancy=vacancy,
        employer=employer,
        data=ApplicationUpdate(status="interview", status_on=today - timedelta(days=2)),
        threshold=brokerage_service.WageThreshold(
            pence=threshold.wage_threshold_pence, name=threshold.wage_threshold_name
        ),
    )


# Each demo client's benefit history: (benefit, ESA group, UC regime, started days before the
# referral, ended days after it or None). Chris, Dana and Eli left out-of-work benefits more
# than the restart window ago, so the report's off-flow figures have something to show; Farah's
# Universal Credit ended and a new claim began 14 days later, inside the window, so hers is one
# spell and no off-flow; Bea claims PIP only, which is not an out-of-work benefit.
DEMO_BENEFITS: dict[
    int, list[tuple[BenefitKind, EsaGroup | None, UcRegime | None, int, int | None]]
] = {
    0: [(BenefitKind.universal_credit, None, UcRegime.intensive_work_search, 200, None)],
    1: [(BenefitKind.pip, None, None, 300, None)],
    2: [
        (BenefitKind.esa, EsaGroup.work_related_activity, None, 500, 10),
        (BenefitKind.universal_credit, None, UcRegime.working_enough, -10, None),
    ],
    3: [(BenefitKind.jsa, None, None, 120, 10)],
    4: [(BenefitKind.esa, EsaGroup.support, None, 700, 10)],
    5: [
        (BenefitKind.universal_credit, None, UcRegime.intensive_work_search, 90, 5),
        (BenefitKind.universal_credit, None, UcRegime.intensive_work_search, -19, None),
    ],
}

# Welfare-benefits counselling: each client's better-off calculations (days after the referral,
# outcome, weekly hours modelled).
DEMO_CALCULATIONS: dict[int, list[tuple[int, BetterOffOutcome, float | None]]] = {
    0: [(7, BetterOffOutcome.about_the_same, 16.0)],
    2: [(5, BetterOffOutcome.better_off_in_work, 16.0)],
    3: [(5, BetterOffOutcome.better_off_in_work, 25.0)],
    4: [(5, BetterOffOutcome.better_off_in_work, None)],
    5: [
        (2, BetterOffOutcome.worse_off_in_work, 30.0),
        (30, BetterOffOutcome.better_off_in_work, 20.0),
    ],
}


async def _demo_benefits(
    session: AsyncSession, ctx: Context, client: ClientRecord, index: int
) -> None:
    referred_on = ctx.now().date() - timedelta(days=20 + 15 * index)
    for benefit, group, regime, before, after in DEMO_BENEFITS.get(index, []):
        await benefits_service.add_claim(
            session=session,
            ctx=ctx,
            client=client,
            data=BenefitClaimCreate(
                benefit=benefit,
                esa_group=group,
                uc_regime=regime,
                started_on=referred_on - timedelta(days=before),
                ended_on=None if after is None else referred_on + timedelta(days=after),
                source=BenefitSource.verified,
            ),
        )
    for days, outcome, hours in DEMO_CALCULATIONS.get(index, []):
        await benefits_service.add_calculation(
            session=session,
            ctx=ctx,
            client=client,
            data=BetterOffCreate(
                done_on=referred_on + timedelta(days=days),
                outcome=outcome,
                hours_modelled=hours,
            ),
        )


# Equality answers the keyworker recorded with each client's consent (Alex gives his own on his
# record, and Dana chose not to answer): some "prefer not to say", as real answers have.
DEMO_EQUALITY: dict[str, EqualityAnswers] = {
    "Bea Collins": EqualityAnswers(
        age_band=AgeBand.age_25_34,
        sex=Sex.female,
        ethnicity=Ethnicity.white_british,
        disability=Disability.limited_a_little,
        insecure_housing=YesNo.no,
    ),
    "Chris Doyle": EqualityAnswers(
        age_band=AgeBand.age_35_49,
        sex=Sex.male,
        gender_identity=GenderIdentity.same_as_sex_at_birth,
        ethnicity=Ethnicity.prefer_not_to_say,
        disability=Disability.not_limited,
        conviction=YesNo.prefer_not_to_say,
    ),
    "Eli Fraser": EqualityAnswers(
        age_band=AgeBand.age_16_24,
        sex=Sex.prefer_not_to_say,
        young_not_in_education_employment_training=YesNo.yes,
        insecure_housing=YesNo.yes,
    ),
    "Farah Ghani": EqualityAnswers(
        age_band=AgeBand.age_25_34,
        sex=Sex.female,
        ethnicity=Ethnicity.asian_pakistani,
        disability=Disability.prefer_not_to_say,
        conviction=YesNo.no,
        insecure_housing=YesNo.no,
    ),
}


async def _demo_equality(
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    clients: dict[str, ClientRecord],
    keyworker: User,
) -> None:
    for name, answers in DEMO_EQUALITY.items():
        await equality_service.save(
            session=session,
            keyring=keyring,
            client_id=clients[name].id,
            answers=answers,
            entered_by="staff",
            consent_by=keyworker.id,
            now=ctx.now(),
        )


# This quarter's targets for the team and its area cluster, set by the supervisor.
DEMO_TARGETS: dict[report_targets.TargetMeasure, int] = {
    report_targets.TargetMeasure.referrals: 12,
    report_targets.TargetMeasure.job_entries: 4,
    report_targets.TargetMeasure.sustained_13_weeks: 3,
    report_targets.TargetMeasure.off_flow: 3,
}
# The cluster's are the team's with room for its other teams.
DEMO_CLUSTER_FACTOR = 3


async def _demo_targets(session: AsyncSession, ctx: Context, team: Team, supervisor: User) -> None:
    quarter = report_targets.quarter_of(ctx.now().date())
    scopes = (
        ("team", str(team.id), ScopeKind.team, 1),
        ("area_cluster", team.area_cluster or "", ScopeKind.area_cluster, DEMO_CLUSTER_FACTOR),
    )
    for kind, scope_id, scope_kind, factor in scopes:
        scope = await resolve_scope(session=session, kind=scope_kind, scope_id=scope_id)
        for measure, target in DEMO_TARGETS.items():
            await report_targets.set_target(
                session=session,
                body=report_targets.TargetSet(
                    scope=kind,
                    scope_id=scope_id,
                    quarter=quarter,
                    measure=measure,
                    target=target * factor,
                ),
                scope=scope,
                user_id=supervisor.id,
                now=ctx.now(),
            )


# The trust's randomised evaluation: opened by the supervisor before the demo's clients were
# referred, three of them consenting and allocated, then closed, so the Evaluation page has a
# trial with allocations by arm to show and verify, and no trial is left open to take in new
# clients. Alex gave no evaluation consent: he is in no trial. The seed is fixed so the arms
# are the same on every load (a real trial's is generated and never known).
DEMO_TRIAL = TrialCreate(name="Tyneside IPS evaluation pilot", stratify_by=StratifyBy.area_cluster)
DEMO_TRIAL_SEED = "teamwell-demo-evaluation-seed"
DEMO_TRIAL_PARTICIPANTS = ("Bea Collins", "Dana Evans", "Farah Ghani")


async def _demo_trial_opened(
    session: AsyncSession, ctx: Context, keyring: MessageKeyring, supervisor: User
) -> EvaluationTrial:
    return await evaluation_service.open_trial(
        session=session,
        ctx=acting_as(ctx, supervisor),
        keyring=keyring,
        organisation_id=supervisor.organisation_id,
        created_by=supervisor.id,
        data=DEMO_TRIAL,
        max_block_size=Settings().evaluation_max_block_size,
        seed=DEMO_TRIAL_SEED,
    )


async def _demo_trial_run(
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    trial: EvaluationTrial,
    clients: dict[str, ClientRecord],
) -> None:
    for name in DEMO_TRIAL_PARTICIPANTS:
        client = clients[name]
        consent = await consents_service.record(
            session=session,
            ctx=ctx,
            client_id=client.id,
            decision=ConsentDecision(
                organisation_id=trial.organisation_id,
                purpose=ConsentPurpose.evaluation,
                state=ConsentState.granted,
            ),
        )
        allocated = await evaluation_service.allocate_on_consent(
            session=session, ctx=ctx, keyring=keyring, client=client, consent=consent
        )
        if allocated is None:
            raise RuntimeError(f"the demo's {name} was not allocated")
    await evaluation_service.close_trial(session=session, ctx=ctx, trial=trial)


# When the demo's video session with Alex starts, after the demo is loaded, and how long it is:
# the home pages show it as today's, and it can be joined from them.
DEMO_SESSION_STARTS_AFTER = timedelta(hours=2)
DEMO_SESSION_LENGTH = timedelta(hours=1)


async def _demo_session_today(
    session: AsyncSession, ctx: Context, keyworker: User, client: ClientRecord
) -> None:
    """A session with the client later today, arranged by their keyworker."""
    starts_at = ctx.now().replace(second=0, microsecond=0) + DEMO_SESSION_STARTS_AFTER
    await meetings_service.create(
        session=session,
        ctx=ctx,
        host=keyworker,
        data=MeetingCreate(
            kind=MeetingKind.client_session,
            title=f"Weekly check-in with {client.display_name.split()[0]}",
            client_id=client.id,
            starts_at=starts_at,
            ends_at=starts_at + DEMO_SESSION_LENGTH,
        ),
    )


# The care team's last case meeting about the client, held by video before the demo starts: who
# came when, and for how long (minutes after the start: arrived, left). The Meetings page and the
# client's record show it among past meetings with its attendance.
DEMO_CASE_MEETING_DAYS_AGO = 6
DEMO_CASE_MEETING_ATTENDANCE: dict[Role, tuple[int, int]] = {
    Role.peer_keyworker: (0, 45),
    Role.therapist: (2, 45),
    Role.employment_specialist: (6, 38),
}


def _demo_case_meeting_title(client: ClientRecord) -> str:
    return f"Case review: {client.display_name}"


async def _demo_case_meeting_past(
    session: AsyncSession, ctx: Context, client: ClientRecord, people: dict[Role, User]
) -> None:
    """A case meeting the keyworker arranged with the therapist and the employment specialist,
    held last week: each joined from their own device and left, and the call ended. Attendance
    is written through the same service functions the call uses, at the times they happened."""
    day = ctx.now().date() - timedelta(days=DEMO_CASE_MEETING_DAYS_AGO)
    starts_at = datetime.combine(day, time(10), tzinfo=UTC)
    keyworker = people[Role.peer_keyworker]
    then = Context(actor=ctx.actor, clock=FrozenClock(starts_at - timedelta(days=7)))
    meeting = await meetings_service.create(
        session=session,
        ctx=then,
        host=keyworker,
        data=MeetingCreate(
            kind=MeetingKind.case_meeting,
            title=_demo_case_meeting_title(client),
            client_id=client.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            invitee_ids=[people[Role.therapist].id, people[Role.employment_specialist].id],
        ),
    )
    seats = []
    for role, (arrived, left) in DEMO_CASE_MEETING_ATTENDANCE.items():
        person = people[role]
        at = acting_as(
            Context(actor=ctx.actor, clock=FrozenClock(starts_at + timedelta(minutes=arrived))),
            person,
        )
        seat = await meetings_service.join(
            session=session,
            ctx=at,
            meeting=meeting,
            user=person,
            connection_id=f"demo-{uuid.uuid4().hex}",
            audio=True,
            video=True,
            limit=len(DEMO_CASE_MEETING_ATTENDANCE),
        )
        seats.append((seat.participant, starts_at + timedelta(minutes=left)))
    for participant, left_at in sorted(seats, key=lambda pair: pair[1]):
        await meetings_service.finish(
            session=session,
            ctx=Context(actor=ctx.actor, clock=FrozenClock(left_at)),
            seat=participant,
            state=ParticipantState.left,
        )
    # The last to leave ended it for everyone.
    last = max(left for _arrived, left in DEMO_CASE_MEETING_ATTENDANCE.values())
    await meetings_service.end(
        session=session,
        ctx=Context(actor=ctx.actor, clock=FrozenClock(starts_at + timedelta(minutes=last))),
        meeting=meeting,
    )


# Weekly answers (mood, workload, stress, support) for the eight weeks before this one, oldest
# first: Tom's workload climbs as two clients reach crisis, then eases after supervision.
CHECK_IN_WEEKS: dict[Role, list[tuple[int, int, int, int]]] = {
    Role.peer_keyworker: [
        (4, 3, 2, 4),
        (4, 3, 2, 4),
        (3, 3, 3, 4),
        (4, 4, 3, 4),
        (4, 3, 2, 5),
        (3, 3, 3, 4),
        (4, 3, 2, 4),
        (4, 2, 2, 5),
    ],
    Role.therapist: [
        (4, 3, 2, 4),
        (3, 4, 3, 3),
        (3, 4, 4, 3),
        (2, 5, 4, 2),
        (2, 5, 5, 2),
        (3, 4, 4, 3),
        (3, 4, 3, 4),
        (4, 3, 3, 4),
    ],
    Role.employment_specialist: [
        (3, 3, 3, 3),
        (4, 3, 2, 3),
        (4, 4, 3, 3),
        (3, 4, 3, 3),
        (4, 3, 3, 4),
        (4, 3, 2, 4),
        (3, 3, 3, 3),
        (4, 3, 2, 4),
    ],
}

# The IPS-25 self-review held about two months ago: a "good" team still building employer work.
FIDELITY_SCORES_BELOW_FIVE = {
    "job development - frequent employer contact": 3,
    "job development - quality of employer contact": 3,
    "executive team support": 3,
    "diversity of employers": 4,
    "diversity of job types": 4,
    "ongoing work-based assessment": 4,
    "agency focus on competitive employment": 4,
    "integration with mental health treatment through team assignment": 4,
    "rapid job search": 4,
}


def _at(day: date, hour: int) -> FrozenClock:
    return FrozenClock(datetime.combine(day, time(hour), tzinfo=UTC))


async def _demo_team_past(
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    team: Team,
    people: dict[Role, User],
) -> None:
    """The team's last weeks: everyone's check-ins, two supervision sessions and a fidelity
    self-review, so that the supervisor's views have a past to show."""
    settings = SupervisionSettings()
    await _demo_check_ins(session, ctx, keyring, people, settings)
    await _demo_supervision_records(session, ctx, keyring, people, settings)
    await _demo_fidelity_review(session, ctx, team, people[Role.supervisor])


async def _demo_check_ins(
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    people: dict[Role, User],
    settings: SupervisionSettings,
) -> None:
    """A check-in a week for the past weeks, each person on a Tuesday at their own hour."""
    today = ctx.now().date()
    this_monday = today - timedelta(days=today.weekday())
    weeks = len(next(iter(CHECK_IN_WEEKS.values())))
    for role, answers in CHECK_IN_WEEKS.items():
        person = people[role]
        for index, (mood, workload, stress, support) in enumerate(answers):
            # Tuesday of each past week, staggered by person.
            day = this_monday - timedelta(weeks=weeks - index) + timedelta(days=1)
            hour = 9 + list(CHECK_IN_WEEKS).index(role)
            await supervision_check_ins.record_check_in(
                session=session,
                ctx=acting_as(Context(actor=ctx.actor, clock=_at(day, hour)), person),
                keyring=keyring,
                user=person,
                data=CheckInCreate(mood=mood, workload=workload, stress=stress, support=support),
                settings=settings,
            )


async def _demo_supervision_records(
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    people: dict[Role, User],
    settings: SupervisionSettings,
) -> None:
    """A group session with agreed actions (one overdue) and a one-to-one."""
    supervisor = people[Role.supervisor]
    today = ctx.now().date()
    as_supervisor = acting_as(ctx, supervisor)
    keyworker, therapist, specialist = (
        people[Role.peer_keyworker],
        people[Role.therapist],
        people[Role.employment_specialist],
    )
    await supervision_records.create_record(
        session=session,
        ctx=as_supervisor,
        keyring=keyring,
        supervisor=supervisor,
        data=RecordCreate(
            kind=SupervisionKind.group,
            held_on=today - timedelta(days=17),
            supervisee_ids=[keyworker.id, therapist.id, specialist.id],
            notes=(
                "Reflective practice: holding hope for clients whose job starts fall through. "
                "Tom named the weight of two clients in crisis in the same fortnight; the team "
                "agreed to share duty cover."
            ),
            actions=[
                ActionCreate(
                    text="Share out-of-hours duty cover across the team for a month",
                    owner_id=supervisor.id,
                    due_on=today - timedelta(days=10),
                ),
                ActionCreate(
                    text="Bring one employer story to the next session",
                    owner_id=specialist.id,
                    due_on=today + timedelta(days=11),
                ),
            ],
        ),
        settings=settings,
    )
    await supervision_records.create_record(
        session=session,
        ctx=as_supervisor,
        keyring=keyring,
        supervisor=supervisor,
        data=RecordCreate(
            kind=SupervisionKind.one_to_one,
            held_on=today - timedelta(days=12),
            supervisee_ids=[therapist.id],
            notes="Caseload review; agreed to pause new referrals for two weeks.",
            actions=[],
        ),
        settings=settings,
    )


async def _demo_fidelity_review(
    session: AsyncSession, ctx: Context, team: Team, supervisor: User
) -> None:
    """The IPS-25 self-review held about two months ago."""
    today = ctx.now().date()
    await fidelity_service.record(
        session=session,
        ctx=acting_as(ctx, supervisor),
        team=team,
        reviewer=supervisor,
        data=FidelityReviewCreate(
            reviewed_on=today - timedelta(days=60),
            scores={
                item: FIDELITY_SCORES_BELOW_FIVE.get(item, 5)
                for item in supervision_rules.FIDELITY_ITEMS
            },
            note="First self-review since the team went remote.",
        ),
        settings=fidelity_service.FidelitySettings(),
    )


async def _demo_consents(
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    organisations: dict[str, Organisation],
    *,
    granted: bool,
) -> None:
    trust, provider = organisations[TRUST.slug], organisations[PROVIDER.slug]
    decisions = [
        ConsentDecision(
            organisation_id=trust.id, purpose=ConsentPurpose.care, state=ConsentState.granted
        ),
        ConsentDecision(
            organisation_id=provider.id,
            purpose=ConsentPurpose.employment_sharing,
            state=ConsentState.granted,
        ),
    ]
    if not granted:
        # One client changed their mind: the history keeps both decisions.
        decisions.append(
            ConsentDecision(
                organisation_id=provider.id,
                purpose=ConsentPurpose.employment_sharing,
                state=ConsentState.withdrawn,
                note="Prefers to speak to the employer contact herself for now.",
            )
        )
    for decision in decisions:
        await consents_service.record(
            session=session, ctx=ctx, client_id=client.id, decision=decision
        )


def demo_logins() -> list[DemoLogin]:
    """The logins ``seed_demo`` makes, in its order, without the database (the sign-in page of a
    demo shows them)."""
    staff = [DemoLogin(email, role, name) for email, name, role, _slug in STAFF]
    clients = [
        DemoLogin(DEMO_CLIENT_LOGIN, Role.client, name)
        for name, *_rest, has_login in CLIENTS
        if has_login
    ]
    return [*staff, *clients]
