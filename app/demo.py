"""Demo data: two organisations, one integrated team, six clients at different stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord, ProgrammeStatus, ReferralSource
from app.clients.schemas import CareTeamMemberAdd, ClientCreate, ClientUpdate, ReferralCreate
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose, ConsentState
from app.consents.schemas import ConsentDecision
from app.context import Actor, Context
from app.organisations import service as organisations_service
from app.organisations.models import Organisation, OrganisationKind
from app.organisations.schemas import OrganisationCreate
from app.teams import service as teams_service
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


async def seed_demo(session: AsyncSession, ctx: Context, password: str) -> list[DemoLogin]:
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
    people: dict[Role, User] = {}
    logins: list[DemoLogin] = []
    for email, name, role, slug in STAFF:
        user = await users_service.create(
            session=session,
            ctx=ctx,
            organisation_id=organisations[slug].id,
            data=UserCreate(email=email, display_name=name, role=role, password=password),
        )
        people.setdefault(role, user)
        logins.append(DemoLogin(email, role, name))
        if role != Role.admin:
            await teams_service.add_member(session=session, ctx=ctx, team=team, user=user)
    for role in (Role.peer_keyworker, Role.therapist, Role.employment_specialist):
        await users_service.assign_supervisor(
            session=session, ctx=ctx, supervisee=people[role], supervisor=people[Role.supervisor]
        )
    keyworker = people[Role.peer_keyworker]
    as_keyworker = Context(
        actor=Actor(
            user_id=keyworker.id, role=keyworker.role, organisation_id=keyworker.organisation_id
        ),
        clock=ctx.clock,
    )
    today = ctx.now().date()
    for index, (name, status, source, reason, has_login) in enumerate(CLIENTS):
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
                    referred_on=today - timedelta(days=20 + 15 * index),
                ),
            ),
        )
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
        await _demo_consents(session, as_keyworker, client, organisations, granted=index != 3)
        if has_login:
            user = await users_service.create(
                session=session,
                ctx=ctx,
                organisation_id=client.organisation_id,
                data=UserCreate(
                    email="alex.morgan@example.org",
                    display_name=name,
                    role=Role.client,
                    password=password,
                ),
            )
            await clients_service.link_login(session=session, client=client, user=user)
            logins.append(DemoLogin(user.email, Role.client, name))
    return logins


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
