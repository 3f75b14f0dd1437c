"""Who is told of a change to a client's record (``auth.policies.clients.record_audience``,
decided for everyone at once) is exactly who ``can_read_client`` lets read it, person by
person: on the demo programme, and again after a care-team member is deactivated, a
supervisor's link ends, the client's partner consent flips, and a client's account is
unlinked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import CareTeamMember, ClientRecord
from app.config import Settings
from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
from app.context import Actor
from app.db import create_engine, session_factory
from app.migrate import upgrade_async
from app.organisations.models import Organisation, OrganisationKind
from app.users.models import Role, SupervisionLink, User
from auth.policies import benefits as benefit_policies
from auth.policies import clients as client_policies
from tests.support.demo import seed_demo_in

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="audience-test")


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    url = f"sqlite:///{tmp_path / 'audience.db'}"
    await upgrade_async(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = create_engine(settings)
    async with session_factory(engine)() as session:
        await seed_demo_in(session, settings, SYSTEM, NOW)
        yield session
    await engine.dispose()


async def one_by_one(session: AsyncSession, client: ClientRecord) -> set[uuid.UUID]:
    everyone = (await session.exec(select(User))).all()
    return {u.id for u in everyone if await client_policies.can_read_client(session, u, client)}


async def agree_everywhere(session: AsyncSession) -> None:
    clients = (await session.exec(select(ClientRecord))).all()
    assert clients
    for client in clients:
        assert await client_policies.record_audience(session, client) == await one_by_one(
            session, client
        ), client.display_name


async def test_the_audience_is_who_may_read_the_record(session: AsyncSession) -> None:
    await agree_everywhere(session)
    clients = (await session.exec(select(ClientRecord))).all()
    # Someone from the partner organisation is on a care team (what consent is about).
    provider = (
        await session.exec(
            select(Organisation).where(Organisation.kind == OrganisationKind.employment_provider)
        )
    ).one()
    partner_ids = {
        u.id for u in (await session.exec(select(User).where(User.organisation_id == provider.id)))
    }
    on_teams = (
        await session.exec(
            select(CareTeamMember).where(col(CareTeamMember.user_id).in_(partner_ids))
        )
    ).all()
    assert on_teams, "the demo has a partner on a care team"

    # The partner's consent flips for every client, both ways.
    for state in (ConsentState.withdrawn, ConsentState.granted, ConsentState.withdrawn):
        for client in clients:
            session.add(
                ConsentRecord(
                    client_id=client.id,
                    organisation_id=provider.id,
                    purpose=ConsentPurpose.employment_sharing,
                    state=state,
                    recorded_at=NOW,
                )
            )
        await session.flush()
        await agree_everywhere(session)

    # A care-team member leaves, a supervision link ends, a client's account is unlinked.
    member = (await session.exec(select(CareTeamMember))).first()
    assert member is not None
    leaver = await session.get(User, member.user_id)
    assert leaver is not None
    leaver.is_active = False
    session.add(leaver)
    link = (await session.exec(select(SupervisionLink))).first()
    assert link is not None
    link.until = NOW
    session.add(link)
    with_account = next(c for c in clients if c.user_id is not None)
    with_account.user_id = None
    session.add(with_account)
    await session.flush()
    await agree_everywhere(session)


async def test_item_answers_are_for_the_client_and_the_care_teams_clinicians(
    session: AsyncSession,
) -> None:
    """``can_see_item_answers`` on the demo programme, person by person: of everyone who reads
    a record, the client, the therapists and the supervisors see answers item by item; a
    supervisor of the partner employment provider, supervising the specialist on the care team
    and with the client's consent, reads the record but not the answers."""
    clients = (await session.exec(select(ClientRecord))).all()
    provider = (
        await session.exec(
            select(Organisation).where(Organisation.kind == OrganisationKind.employment_provider)
        )
    ).one()
    specialist = (
        await session.exec(select(User).where(User.role == Role.employment_specialist))
    ).first()
    assert specialist is not None and specialist.organisation_id == provider.id
    theirs = User(
        organisation_id=provider.id,
        email="lead@northern-employment.example",
        display_name="Provider Lead",
        role=Role.supervisor,
        password_hash="x",
        created_at=NOW,
    )
    session.add(theirs)
    for link in (
        await session.exec(
            select(SupervisionLink).where(
                SupervisionLink.supervisee_id == specialist.id, col(SupervisionLink.until).is_(None)
            )
        )
    ).all():
        link.until = NOW
        session.add(link)
    # Accepted by the specialist: a link only proposed opens nothing.
    session.add(
        SupervisionLink(
            supervisor_id=theirs.id, supervisee_id=specialist.id, since=NOW, accepted_at=NOW
        )
    )
    await session.flush()
    everyone = (await session.exec(select(User))).all()
    checked = 0
    for client in clients:
        for user in everyone:
            reads = await client_policies.can_read_client(session, user, client)
            sees = await client_policies.can_see_item_answers(session, user, client)
            if sees:
                assert reads, (user.display_name, client.display_name)
            if not reads:
                continue
            checked += 1
            expected = client.user_id == user.id or (
                user.role in (Role.therapist, Role.supervisor)
                and user.organisation_id != provider.id
            )
            assert bool(sees) == expected, (user.display_name, user.role, client.display_name)
    assert checked
    granted = [c for c in clients if await client_policies.can_read_client(session, theirs, c)]
    assert granted, "the provider's supervisor reads some record through consent"


async def test_who_hears_of_a_benefit_change_is_who_may_read_the_benefits(
    session: AsyncSession,
) -> None:
    """``benefits_audience`` (who is sent ``benefits.updated``) against ``can_read_benefits``,
    person by person, for every demo client."""
    everyone = (await session.exec(select(User))).all()
    for client in (await session.exec(select(ClientRecord))).all():
        readers = {
            u.id for u in everyone if await benefit_policies.can_read_benefits(session, u, client)
        }
        assert readers, client.display_name
        assert await benefit_policies.benefits_audience(session, client) == readers
