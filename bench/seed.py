"""The benchmark's world, written straight into a migrated database through the app's own models:
one organisation, staff in teams of ten, a signed-in session (second factor passed) and an access
token per person, and client records with their care teams for the plan benchmark.

Accounts are minted rather than signed up: signing up and signing in thousands of people would
spend minutes on argon2 and measure nothing the benchmarks are about. The accounts have no
password at all, so they cannot be signed in to; their tokens are made with the server's own
signing key (read from the data directory, as the server reads it) and are checked by the server
exactly like tokens from a sign-in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ReferralSource
from app.clients.schemas import ClientCreate, ReferralCreate
from app.clock import SystemClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.organisations.models import Organisation, OrganisationKind
from app.supervision.models import WellbeingCheckIn
from app.teams.models import Team, TeamMembership
from app.users.models import Role, User
from auth.models import AuthSession
from auth.tokens import TokenSigner

TEAM_SIZE = 10
ROLES = (Role.peer_keyworker, Role.therapist, Role.employment_specialist)
TOKEN_MINUTES = 60  # the longest access token the server allows; a full run takes less


@dataclass(frozen=True)
class Person:
    id: str
    token: str


@dataclass
class World:
    """What the benchmarks act on; ``teams[t]`` are the people of team ``t`` (ten each)."""

    teams: list[list[Person]]
    team_ids: list[str]
    # Client records for the plan benchmark, each with the one person who took its referral.
    clients: list[tuple[str, Person]] = field(default_factory=list)

    @property
    def people(self) -> list[Person]:
        return [p for team in self.teams for p in team]


async def _seed(settings: Settings, *, people: int, clients: int) -> World:
    clock = SystemClock()
    now = clock.now()
    signer = TokenSigner(settings.secret("jwt_secret"))
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            organisation = Organisation(
                slug=f"bench-{uuid.uuid4().hex[:8]}",
                name="Benchmark NHS Trust",
                kind=OrganisationKind.nhs_trust,
                created_at=now,
            )
            session.add(organisation)
            await session.flush()
            teams = _teams(session, organisation, max(1, people // TEAM_SIZE), now)
            users, sessions = await _people(session, organisation, teams, now)
            made = await _clients(session, clock, organisation, teams[0], users, clients)
            await session.commit()
        persons = _signed_in(signer, users, sessions, now)
        return World(
            teams=[persons[t * TEAM_SIZE : (t + 1) * TEAM_SIZE] for t in range(len(teams))],
            team_ids=[str(t.id) for t in teams],
            clients=[(client_id, persons[index]) for client_id, index in made],
        )
    finally:
        await engine.dispose()


def _teams(
    session: AsyncSession, organisation: Organisation, count: int, now: datetime
) -> list[Team]:
    teams = [
        Team(
            organisation_id=organisation.id,
            name=f"Benchmark team {t + 1}",
            area_cluster="Benchmark",
            created_at=now,
        )
        for t in range(count)
    ]
    session.add_all(teams)
    return teams


async def _people(
    session: AsyncSession, organisation: Organisation, teams: list[Team], now: datetime
) -> tuple[list[User], list[AuthSession]]:
    """TEAM_SIZE people a team, in force on it, each signed in with a session of their own."""
    users: list[User] = []
    sessions: list[AuthSession] = []
    for index in range(len(teams) * TEAM_SIZE):
        user = User(
            organisation_id=organisation.id,
            email=f"bench-{index}-{organisation.slug}@bench.example",
            display_name=f"Bench Person {index}",
            role=ROLES[index % len(ROLES)],
            created_at=now,
        )
        users.append(user)
        sessions.append(
            AuthSession(
                user_id=user.id,
                method="password",
                mfa_verified=True,
                created_at=now,
                last_used_at=now,
            )
        )
    session.add_all(users)
    await session.flush()
    session.add_all(
        # Established teams: in force, as memberships a team has confirmed are.
        TeamMembership(
            team_id=teams[index // TEAM_SIZE].id,
            user_id=user.id,
            since=now,
            confirmed_at=now,
        )
        for index, user in enumerate(users)
    )
    session.add_all(sessions)
    # Each has checked in as their cadence asks, as staff of a service in use have. Without it
    # the first job tick after the server starts finds every minted person's check-in due and
    # prompts them all (a job, a notification and a live frame each: 2,000 people kept the
    # one-process server at most of a core for a minute), which the connections benchmark
    # then counted as the cost of idle sockets.
    session.add_all(
        WellbeingCheckIn(user_id=user.id, mood=3, workload=3, stress=3, support=3, at=now)
        for user in users
    )
    await session.flush()
    return users, sessions


async def _clients(
    session: AsyncSession,
    clock: SystemClock,
    organisation: Organisation,
    team: Team,
    users: list[User],
    clients: int,
) -> list[tuple[str, int]]:
    """``clients`` records on the first team, each taken on by one of the first people; (the
    client's id, the index of its creator) for each."""
    ctx_of = {
        user.id: Context(
            actor=Actor(
                user_id=user.id,
                role=user.role,
                organisation_id=organisation.id,
                ip="127.0.0.1",
                user_agent="teamwell-bench",
            ),
            clock=clock,
        )
        for user in users[:clients]
    }
    made = []
    for index in range(min(clients, len(users))):
        creator = users[index]
        client = await clients_service.create(
            session=session,
            ctx=ctx_of[creator.id],
            team=team,
            creator=creator,
            data=ClientCreate(
                display_name=f"Bench Client {index}",
                team_id=team.id,
                referral=ReferralCreate(
                    source=ReferralSource.self_referral,
                    referred_on=date.today(),
                    reason="Benchmark referral",
                ),
            ),
        )
        made.append((str(client.id), index))
    return made


def _signed_in(
    signer: TokenSigner, users: list[User], sessions: list[AuthSession], now: datetime
) -> list[Person]:
    """Each person with an access token of their session, good for the benchmark's length."""
    lifetime = timedelta(minutes=TOKEN_MINUTES)
    return [
        Person(
            id=str(user.id),
            token=signer.access_token(
                user_id=user.id,
                session_id=auth.id,
                role=user.role,
                mfa=True,
                now=now,
                lifetime=lifetime,
            ),
        )
        for user, auth in zip(users, sessions, strict=True)
    ]


async def seed(settings: Settings, *, people: int, clients: int) -> World:
    """Mint ``people`` accounts (rounded down to whole teams, at least one team) and ``clients``
    client records taken on by the first people of the first team."""
    return await _seed(settings, people=people, clients=clients)
