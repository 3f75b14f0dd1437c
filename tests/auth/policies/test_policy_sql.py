"""The permission rules that also run as SQL, for speed, give the answer of their Python
predicates in every case of the permission table, on SQLite and PostgreSQL:

- a supervision link in force (``auth.policies.supervision``): every state a link reaches;
- a team membership in force (``auth.policies.teams``): the first member, proposed, confirmed;
- the members of team and direct conversations, as the group commit reads them
  (``auth.policies.messaging.MEMBERS_SQL``, run through ``app/messaging/batch.py`` itself),
  against ``is_member`` and ``member_ids``: every role, active or deactivated, x a member of the
  team in force, proposed, of another team, or none, x a participant of a direct conversation
  or not;
- the clients a person is related to (``auth.policies.clients.related_to``, behind every list)
  filtered by ``readable_clients``, against ``can_read_client``: every role x own record, on the
  care team, off it again, supervising a care-team member under a link proposed, in force,
  declined or ended, or none x of the client's organisation, or of a partner organisation whose
  consent the client granted, withdrew or was never asked for.

The data is built through the services and the policies that guard them, so a relationship
they refuse (a client on a care team, a therapist as someone's supervisor, an admin on a team)
is refused here too and counted as not reachable, and each side of every rule is reached.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.clients.schemas import CareTeamMemberAdd
from app.clock import FrozenClock
from app.config import Settings
from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.errors import Problem
from app.messaging import service as messaging_service
from app.messaging.batch import store_batch
from app.messaging.keyring import MessageKeyring, keyring_from_settings
from app.messaging.models import Conversation, ConversationKind, ConversationParticipant
from app.migrate import upgrade_async
from app.organisations.models import Organisation, OrganisationKind
from app.teams import service as teams_service
from app.teams.models import Team, TeamMembership
from app.users import service as users_service
from app.users.models import Role, SupervisionLink, User
from auth.policies import clients as client_policies
from auth.policies import messaging as messaging_policies
from auth.policies import supervision as supervision_policies
from auth.policies import teams as team_policies
from tests.conftest import fresh_database

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="policy-sql-test")
CTX = Context(actor=SYSTEM, clock=FrozenClock(NOW))


@dataclass
class Db:
    engine: AsyncEngine
    keyring: MessageKeyring

    def session(self) -> AsyncSession:
        return session_factory(self.engine)()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    url = fresh_database(request, tmp_path, "policies")
    await upgrade_async(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = create_engine(settings)
    yield Db(engine=engine, keyring=keyring_from_settings(settings))
    await engine.dispose()


# --- builders ------------------------------------------------------------------------------------


async def organisation(session: AsyncSession, kind: OrganisationKind) -> Organisation:
    made = Organisation(
        slug=f"org-{uuid.uuid4().hex[:8]}", name=f"{kind} org", kind=kind, created_at=NOW
    )
    session.add(made)
    await session.flush()
    return made


async def person(session: AsyncSession, org: Organisation, role: Role) -> User:
    made = User(
        organisation_id=org.id,
        email=f"{role}-{uuid.uuid4().hex[:10]}@example.org",
        display_name=f"A {role}",
        role=role,
        created_at=NOW,
    )
    session.add(made)
    await session.flush()
    return made


async def team(session: AsyncSession, org: Organisation) -> Team:
    made = Team(organisation_id=org.id, name="A team", area_cluster="North", created_at=NOW)
    session.add(made)
    await session.flush()
    return made


async def client_record(session: AsyncSession, org: Organisation, of_team: Team) -> ClientRecord:
    made = ClientRecord(
        organisation_id=org.id,
        team_id=of_team.id,
        display_name="A client",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(made)
    await session.flush()
    return made


async def in_force_link(session: AsyncSession, supervisor: User, supervisee: User) -> None:
    link = await users_service.propose_supervisor(
        session=session, ctx=CTX, supervisee=supervisee, supervisor=supervisor
    )
    await users_service.accept_supervisor(session=session, ctx=CTX, link=link)


# --- a supervision link and a team membership in force ------------------------------------------


async def test_a_supervision_link_in_force_is_one_rule_in_python_and_sql(db: Db) -> None:
    async with db.session() as session:
        org = await organisation(session, OrganisationKind.nhs_trust)
        first = await person(session, org, Role.supervisor)
        second = await person(session, org, Role.supervisor)
        # Every state a link reaches through the services.
        proposed = await person(session, org, Role.therapist)
        await users_service.propose_supervisor(
            session=session, ctx=CTX, supervisee=proposed, supervisor=first
        )
        accepted = await person(session, org, Role.peer_keyworker)
        await in_force_link(session, first, accepted)
        declined = await person(session, org, Role.therapist)
        link = await users_service.propose_supervisor(
            session=session, ctx=CTX, supervisee=declined, supervisor=first
        )
        await users_service.decline_supervisor(session=session, ctx=CTX, link=link)
        replaced = await person(session, org, Role.employment_specialist)
        await in_force_link(session, first, replaced)
        await in_force_link(session, second, replaced)  # ends the first link
        withdrawn = await person(session, org, Role.therapist)
        await users_service.propose_supervisor(
            session=session, ctx=CTX, supervisee=withdrawn, supervisor=first
        )
        await users_service.propose_supervisor(  # withdraws the first proposal
            session=session, ctx=CTX, supervisee=withdrawn, supervisor=second
        )
        await session.commit()

        links = (await session.exec(select(SupervisionLink))).all()
        by_python = {link.id for link in links if supervision_policies.link_is_in_force(link)}
        by_sql = set(
            (
                await session.exec(
                    select(SupervisionLink.id).where(*supervision_policies.link_in_force())
                )
            ).all()
        )
        assert by_sql == by_python
        statuses = Counter(users_service.link_status(link) for link in links)
        assert len(links) == 7 and len(by_python) == 2, statuses  # both answers are reached


async def test_a_team_membership_in_force_is_one_rule_in_python_and_sql(db: Db) -> None:
    async with db.session() as session:
        org = await organisation(session, OrganisationKind.nhs_trust)
        the_team = await team(session, org)
        people = [await person(session, org, role) for role in (Role.supervisor, *Role)]
        first, *others = people
        await teams_service.add_member(  # the first member: in force at once
            session=session, ctx=CTX, team=the_team, user=first, proposed_by=None
        )
        for index, someone in enumerate(others):
            membership = await teams_service.add_member(
                session=session, ctx=CTX, team=the_team, user=someone, proposed_by=None
            )
            if index % 2:
                await teams_service.confirm_member(session=session, ctx=CTX, membership=membership)
        await session.commit()

        memberships = (await session.exec(select(TeamMembership))).all()
        by_python = {m.id for m in memberships if team_policies.membership_is_in_force(m)}
        by_sql = set(
            (
                await session.exec(
                    select(TeamMembership.id).where(*team_policies.membership_in_force())
                )
            ).all()
        )
        assert by_sql == by_python
        assert 0 < len(by_python) < len(memberships)


# --- conversation membership: the group commit's statement against is_member -------------------

TEAM_RELATIONS = ("member", "proposed", "other_team", "none")
DIRECT_RELATIONS = ("participant", "none")


async def direct_conversation(session: AsyncSession, a: User, b: User) -> Conversation:
    made = Conversation(
        kind=ConversationKind.direct,
        direct_key=messaging_service.direct_key(a.id, b.id),
        created_at=NOW,
        last_activity_at=NOW,
        created_by=a.id,
    )
    session.add(made)
    await session.flush()
    session.add_all(
        ConversationParticipant(conversation_id=made.id, user_id=who.id) for who in (a, b)
    )
    await session.flush()
    return made


async def test_conversation_members_are_one_rule_in_python_and_in_the_group_commit(
    db: Db,
) -> None:
    async with db.session() as session:
        org = await organisation(session, OrganisationKind.nhs_trust)
        ours, theirs = await team(session, org), await team(session, org)
        lead = await person(session, org, Role.supervisor)
        for each in (ours, theirs):
            await teams_service.add_member(
                session=session, ctx=CTX, team=each, user=lead, proposed_by=None
            )
        conversation = await messaging_service.open_team(
            session=session, ctx=CTX, user=lead, team=ours
        )
        partner = await person(session, org, Role.therapist)
        elsewhere = await direct_conversation(session, lead, partner)

        cases: list[tuple[User, Conversation]] = []
        unreachable = 0
        for role, active, team_relation, direct_relation in itertools.product(
            Role, (True, False), TEAM_RELATIONS, DIRECT_RELATIONS
        ):
            someone = await person(session, org, role)
            if team_relation != "none":
                # Who may be put on a team at all is a policy (the team routes ask it).
                if not team_policies.can_join_team(someone):
                    unreachable += 1
                    continue
                membership = await teams_service.add_member(
                    session=session,
                    ctx=CTX,
                    team=theirs if team_relation == "other_team" else ours,
                    user=someone,
                    proposed_by=lead.id,
                )
                if team_relation != "proposed":
                    await teams_service.confirm_member(
                        session=session, ctx=CTX, membership=membership
                    )
            direct = (
                await direct_conversation(session, someone, partner)
                if direct_relation == "participant"
                else elsewhere
            )
            someone.is_active = active  # deactivated after the relationships were made
            session.add(someone)
            cases += [(someone, conversation), (someone, direct)]
        await session.commit()

        expected: list[bool] = []
        audiences: dict[uuid.UUID, set[uuid.UUID]] = {}
        for someone, where in cases:
            expected.append(await messaging_policies.is_member(session, someone, where))
            if where.id not in audiences:
                audiences[where.id] = await messaging_service.member_ids(
                    session=session, conversation=where
                )

    items = [
        messaging_service.Outgoing(
            ctx=CTX,
            conversation_id=where.id,
            sender_id=someone.id,
            client_msg_id=uuid.uuid4().hex,
            body="hello",
        )
        for someone, where in cases
    ]
    async with db.engine.connect() as connection:
        outcomes = await store_batch(connection, db.keyring, items)
    stored = [isinstance(outcome, messaging_service.Stored) for outcome in outcomes]
    disagreements = [
        (someone.role, someone.is_active, where.kind, python, sql, outcome)
        for (someone, where), python, sql, outcome in zip(
            cases, expected, stored, outcomes, strict=True
        )
        if python != sql
    ]
    assert not disagreements
    for (_, where), outcome in zip(cases, outcomes, strict=True):
        if isinstance(outcome, messaging_service.Stored):
            assert outcome.members == audiences[where.id]  # who is told: the same people
    assert 0 < sum(stored) < len(stored) and unreachable  # every answer reached


# --- the clients a person is related to: the lists' SQL against can_read_client ----------------

RELATIONS = (
    "own_record",
    "care_team",
    "care_team_ended",
    "supervising_proposed",
    "supervising_in_force",
    "supervising_declined",
    "supervising_ended",
    "none",
)
ORGANISATIONS = ("home", "partner_granted", "partner_withdrawn", "partner_never_asked")


async def test_the_lists_related_clients_are_those_can_read_client_admits(db: Db) -> None:
    async with db.session() as session:
        home = await organisation(session, OrganisationKind.nhs_trust)
        partner = await organisation(session, OrganisationKind.employment_provider)
        home_team = await team(session, home)
        other_supervisor = await person(session, home, Role.supervisor)

        cases: list[tuple[str, User, ClientRecord]] = []
        unreachable = 0
        for role, relation, where in itertools.product(Role, RELATIONS, ORGANISATIONS):
            client = await client_record(session, home, home_team)
            someone = await person(session, home if where == "home" else partner, role)
            if where in ("partner_granted", "partner_withdrawn"):
                session.add(
                    ConsentRecord(
                        client_id=client.id,
                        organisation_id=partner.id,
                        purpose=ConsentPurpose.employment_sharing,
                        state=(
                            ConsentState.granted
                            if where == "partner_granted"
                            else ConsentState.withdrawn
                        ),
                        recorded_at=NOW,
                    )
                )
            try:
                if relation == "own_record":
                    await clients_service.link_login(session=session, client=client, user=someone)
                elif relation.startswith("care_team"):
                    member = await clients_service.add_care_team_member(
                        session=session,
                        ctx=CTX,
                        client=client,
                        user=someone,
                        data=CareTeamMemberAdd(user_id=someone.id),
                    )
                    if relation == "care_team_ended":
                        await clients_service.end_care_team_membership(
                            session=session, ctx=CTX, client=client, member_id=member.id
                        )
                elif relation.startswith("supervising"):
                    supervisee = await person(session, home, Role.therapist)
                    await clients_service.add_care_team_member(
                        session=session,
                        ctx=CTX,
                        client=client,
                        user=supervisee,
                        data=CareTeamMemberAdd(user_id=supervisee.id),
                    )
                    link = await users_service.propose_supervisor(
                        session=session, ctx=CTX, supervisee=supervisee, supervisor=someone
                    )
                    if relation == "supervising_declined":
                        await users_service.decline_supervisor(session=session, ctx=CTX, link=link)
                    elif relation != "supervising_proposed":
                        await users_service.accept_supervisor(session=session, ctx=CTX, link=link)
                    if relation == "supervising_ended":
                        await in_force_link(session, other_supervisor, supervisee)
            except Problem:
                # The service refuses the relationship for this role (NotClinicalStaff,
                # NotASupervisor) before writing it: it never exists, so neither rule is asked.
                unreachable += 1
                continue
            await session.commit()
            cases.append((relation, someone, client))

        answers: list[tuple[str, str, bool]] = []
        for relation, someone, client in cases:
            related = await clients_service.related_clients(
                session=session, user_id=someone.id, query=clients_service.ClientQuery()
            )
            listed = client in await client_policies.readable_clients(session, someone, related)
            allowed = bool(await client_policies.can_read_client(session, someone, client))
            assert listed == allowed, (someone.role, relation, someone.organisation_id)
            answers.append((someone.role, relation, allowed))
    # The table reaches both answers, for every relationship that can grant anything.
    granted = {relation for _, relation, allowed in answers if allowed}
    assert granted == {"own_record", "care_team", "supervising_in_force"}
    assert any(not allowed for _, _, allowed in answers) and unreachable
