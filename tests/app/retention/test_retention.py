"""Retention: the rules at their edges (pure, with ``now`` given), the job on a real database
with a frozen clock, and ``teamwell retention`` with the audit chain verified before and after.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.clients.models import ClientRecord, ProgrammeStatus
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import metadata, session_factory
from app.documents import service as documents_service
from app.documents.models import (
    Document,
    DocumentKind,
    DocumentUpload,
    DocumentVersion,
    Place,
    ScanStatus,
)
from app.documents.storage import StoredObjectMissing
from app.measures.models import MeasureLink, MeasureResponse
from app.meetings import service as meetings_service
from app.meetings.models import (
    GuestKind,
    GuestLink,
    Meeting,
    MeetingKind,
    MeetingParticipant,
    ParticipantState,
)
from app.messaging import service as messaging
from app.messaging.keyring import MessageKeyring, message_aad
from app.messaging.models import Message, MessageRevision
from app.retention import rules
from app.retention import service as retention
from app.teams.models import Team
from app.users.models import Role, User
from auth.models import AuthSession, Invitation, RefreshToken, SsoLoginCode
from tests.conftest import base_env, teamwell_cli
from tests.support.demo import demo_database, demo_engine

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
IDLE = timedelta(minutes=60)
POLICY = rules.RetentionPolicy(auth_days=30, link_days=7, session_idle=IDLE)
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="retention-test")
KEYRING = MessageKeyring({"k1": bytes(range(32))}, "k1")


# --- the rules -----------------------------------------------------------------------------------


def test_cutoffs_count_back_from_now_and_keep_what_has_no_period() -> None:
    cut = rules.cutoffs(POLICY, NOW)
    assert cut.auth_ended_before == NOW - timedelta(days=30)
    assert cut.link_ended_before == NOW - timedelta(days=7)
    assert cut.messages_sent_before is None and cut.closed_clients_changed_before is None
    longer = rules.RetentionPolicy(
        auth_days=0, link_days=0, session_idle=IDLE, message_days=365, closed_client_years=20
    )
    cut = rules.cutoffs(longer, NOW)
    assert cut.auth_ended_before == cut.link_ended_before == NOW
    assert cut.messages_sent_before == NOW - timedelta(days=365)
    assert cut.closed_clients_changed_before == datetime(2006, 3, 2, 12, 0, tzinfo=UTC)


def test_outlived_means_ended_before_the_cutoff_not_at_it() -> None:
    cutoff = NOW - timedelta(days=30)
    assert not rules.has_outlived(cutoff, cutoff)
    assert rules.has_outlived(cutoff - TICK, cutoff)
    assert not rules.has_outlived(cutoff - timedelta(days=3650), None)  # no period: kept


def test_years_count_calendar_years_and_29_february_becomes_the_28th() -> None:
    leap_day = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert rules.years_before(leap_day, 1) == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert rules.years_before(leap_day, 4) == datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
    assert rules.years_before(NOW, 20) == datetime(2006, 3, 2, 12, 0, tzinfo=UTC)


def test_a_session_ends_when_revoked_or_when_it_went_idle_for_good() -> None:
    used = NOW - timedelta(hours=5)
    assert rules.session_ended_at(revoked_at=None, last_used_at=used, idle=IDLE) == used + IDLE
    revoked = NOW - timedelta(hours=6)
    assert rules.session_ended_at(revoked_at=revoked, last_used_at=used, idle=IDLE) == revoked


def test_a_guest_link_ends_at_its_use_withdrawal_cancellation_or_window_close() -> None:
    ends, close = NOW - timedelta(days=2), timedelta(minutes=30)
    assert rules.guest_link_ended_at(session_ends_at=ends, close_after=close) == ends + close
    used = ends - timedelta(hours=1)
    assert rules.guest_link_ended_at(session_ends_at=ends, close_after=close, used_at=used) == used
    cancelled = ends - timedelta(days=3)
    assert (
        rules.guest_link_ended_at(
            session_ends_at=ends, close_after=close, revoked_at=used, cancelled_at=cancelled
        )
        == cancelled
    )
    cut = rules.cutoffs(rules.RetentionPolicy(**{**POLICY.__dict__, "guest_link_days": 9}), NOW)
    assert cut.guest_link_ended_before == NOW - timedelta(days=9)


def test_a_link_ends_at_the_first_of_expiry_use_and_revocation() -> None:
    expires = NOW + timedelta(days=7)
    assert rules.link_ended_at(expires) == expires
    assert rules.link_ended_at(expires, None, NOW) == NOW
    assert rules.link_ended_at(expires, NOW - TICK, NOW) == NOW - TICK


@pytest.mark.parametrize(
    "changes",
    [
        {"auth_days": -1},
        {"link_days": -1},
        {"guest_link_days": -1},
        {"message_days": 0},
        {"closed_client_years": 0},
    ],
)
def test_a_policy_refuses_periods_that_cannot_be_meant(changes: dict[str, int]) -> None:
    values: dict[str, Any] = {"auth_days": 30, "link_days": 7, "session_idle": IDLE, **changes}
    with pytest.raises(ValueError):
        rules.RetentionPolicy(**values)


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("retention_auth_days", "0", True),
        ("retention_auth_days", "-1", False),
        ("retention_link_days", "0", True),
        ("retention_link_days", "-1", False),
        ("retention_guest_link_days", "0", True),
        ("retention_guest_link_days", "-1", False),
        ("retention_message_days", "1", True),
        ("retention_message_days", "0", False),
        ("retention_closed_client_years", "1", True),
        ("retention_closed_client_years", "0", False),
    ],
)
def test_retention_settings_at_their_edges(
    name: str, value: str, ok: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"TEAMWELL_{name.upper()}", value)
    if ok:
        assert getattr(Settings(data_dir=tmp_path), name) == int(value)
    else:
        with pytest.raises(ValueError):
            Settings(data_dir=tmp_path)


def test_by_default_messages_and_client_records_are_kept(tmp_path: Path) -> None:
    policy = retention.policy_from_settings(Settings(data_dir=tmp_path))
    assert policy.message_days is None and policy.closed_client_years is None
    assert (policy.auth_days, policy.link_days, policy.guest_link_days) == (30, 30, 30)
    assert policy.guest_link_close_after == timedelta(minutes=30)


# --- the job on a database -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the demo data, made once and copied for each test."""
    return await demo_database(tmp_path_factory, "retention", SYSTEM, NOW)


@pytest.fixture
async def engine(demo_file: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with demo_engine(demo_file, tmp_path) as running:
        yield running


async def in_session(engine: AsyncEngine, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with session_factory(engine)() as session:
        result = await work(session)
        await session.commit()
        return result


def documents_runtime(engine: AsyncEngine) -> documents_service.Runtime:
    """The documents' local folder store, beside the test's database."""
    folder = Path(str(engine.url.database)).parent
    return documents_service.runtime_from_settings(Settings(data_dir=folder), KEYRING)


async def run_job(
    engine: AsyncEngine,
    now: datetime,
    policy: rules.RetentionPolicy = POLICY,
    documents: documents_service.Runtime | None = None,
) -> retention.RetentionReport:
    async def work(session: AsyncSession) -> retention.RetentionReport:
        before = await audit_service.verify_chain(session)
        assert before.ok, before
        return await retention.run(
            session=session,
            ctx=Context(actor=SYSTEM, clock=FrozenClock(now)),
            policy=policy,
            keyring=KEYRING,
            documents=documents or documents_runtime(engine),
        )

    report = await in_session(engine, work)
    after = await in_session(engine, audit_service.verify_chain)
    assert after.ok, after
    return report


async def person(session: AsyncSession, role: Role) -> User:
    return (await session.exec(select(User).where(User.role == role))).first()  # type: ignore[return-value]


async def ids(session: AsyncSession, model: Any) -> set[Any]:
    return set((await session.exec(select(model.id))).all())


async def last_event(session: AsyncSession, action: str) -> AuditEvent | None:
    return (
        await session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .order_by(col(AuditEvent.id).desc())
        )
    ).first()


@dataclass
class Planted:
    kept: dict[str, set[Any]]
    gone: dict[str, set[Any]]


async def plant_auth_and_links(session: AsyncSession) -> Planted:
    """Sign-in records and one-time links at each side of their cutoffs."""
    cut = rules.cutoffs(POLICY, NOW)
    auth_cut, link_cut = cut.auth_ended_before, cut.link_ended_before
    priya = await person(session, Role.peer_keyworker)
    alex = (await session.exec(select(ClientRecord))).first()
    assert alex is not None
    kept: dict[str, set[Any]] = {"session": set(), "token": set(), "link": set()}
    gone: dict[str, set[Any]] = {"session": set(), "token": set(), "link": set()}

    def auth_session(*, revoked_at: datetime | None, last_used_at: datetime) -> AuthSession:
        row = AuthSession(
            user_id=priya.id,
            method="password",
            created_at=last_used_at - timedelta(days=1),
            last_used_at=last_used_at,
            revoked_at=revoked_at,
        )
        session.add(row)
        return row

    def token(auth: AuthSession, expires_at: datetime) -> RefreshToken:
        row = RefreshToken(
            session_id=auth.id,
            token_hash=uuid.uuid4().hex,
            issued_at=expires_at - timedelta(days=14),
            expires_at=expires_at,
        )
        session.add(row)
        return row

    revoked_at_edge = auth_session(revoked_at=auth_cut, last_used_at=auth_cut)
    revoked_before = auth_session(revoked_at=auth_cut - TICK, last_used_at=auth_cut - TICK)
    idle_at_edge = auth_session(revoked_at=None, last_used_at=auth_cut - IDLE)
    idle_before = auth_session(revoked_at=None, last_used_at=auth_cut - IDLE - TICK)
    live = auth_session(revoked_at=None, last_used_at=NOW)
    kept["session"] |= {revoked_at_edge.id, idle_at_edge.id, live.id}
    gone["session"] |= {revoked_before.id, idle_before.id}
    gone["token"] |= {
        token(revoked_before, NOW + timedelta(days=1)).id,  # with its ended session
        token(live, auth_cut - TICK).id,  # expired long enough ago, in a live session
    }
    kept["token"] |= {token(live, auth_cut).id, token(live, NOW + timedelta(days=14)).id}

    team = (await session.exec(select(Team))).first()
    assert team is not None

    def invitation(*, expires_at: datetime, **ended: datetime) -> Invitation:
        row = Invitation(
            organisation_id=team.organisation_id,
            email=f"{uuid.uuid4().hex[:8]}@example.org",
            role=Role.therapist,
            token_hash=uuid.uuid4().hex,
            invited_by=priya.id,
            created_at=expires_at - timedelta(days=7),
            expires_at=expires_at,
            **ended,
        )
        session.add(row)
        return row

    def measure_link(*, expires_at: datetime, used_at: datetime | None = None) -> MeasureLink:
        row = MeasureLink(
            client_id=alex.id,
            instrument="phq9",
            token_hash=uuid.uuid4().hex,
            created_by=priya.id,
            created_at=expires_at - timedelta(hours=72),
            expires_at=expires_at,
            used_at=used_at,
        )
        session.add(row)
        return row

    def sso_code(*, expires_at: datetime, used_at: datetime | None = None) -> SsoLoginCode:
        row = SsoLoginCode(
            code_hash=uuid.uuid4().hex, user_id=priya.id, expires_at=expires_at, used_at=used_at
        )
        session.add(row)
        return row

    later = NOW + timedelta(days=3)
    gone["link"] |= {
        invitation(expires_at=link_cut - TICK).id,
        invitation(expires_at=later, revoked_at=link_cut - TICK).id,
        invitation(expires_at=later, accepted_at=link_cut - TICK).id,
        measure_link(expires_at=later, used_at=link_cut - TICK).id,
        measure_link(expires_at=link_cut - TICK).id,
        sso_code(expires_at=link_cut - TICK).id,
    }
    kept["link"] |= {
        invitation(expires_at=link_cut).id,
        invitation(expires_at=later, accepted_at=link_cut).id,
        invitation(expires_at=later).id,  # still pending
        measure_link(expires_at=later, used_at=link_cut).id,
        sso_code(expires_at=later).id,
    }
    await session.flush()
    return Planted(kept=kept, gone=gone)


async def test_the_job_removes_exactly_what_ended_before_its_cutoff(engine: AsyncEngine) -> None:
    planted = await in_session(engine, plant_auth_and_links)
    events_before = (await in_session(engine, audit_service.verify_chain)).checked
    report = await run_job(engine, NOW)

    async def survivors(session: AsyncSession) -> dict[str, set[Any]]:
        links = set()
        for model in (Invitation, MeasureLink, SsoLoginCode):
            links |= await ids(session, model)
        return {
            "session": await ids(session, AuthSession),
            "token": await ids(session, RefreshToken),
            "link": links,
        }

    left = await in_session(engine, survivors)
    for kind in ("session", "token", "link"):
        assert planted.kept[kind] <= left[kind], kind
        assert not planted.gone[kind] & left[kind], kind
    assert report.removed == {
        "auth_session": 2,
        "refresh_token": 2,
        "invitation": 3,
        "measure_link": 2,
        "sso_login_code": 1,
        "guest_link": 0,
        "message": 0,
        "client_record": 0,
    }

    async def audited(session: AsyncSession) -> tuple[int, AuditEvent | None]:
        return (
            (await audit_service.verify_chain(session)).checked,
            await last_event(session, "retention.run"),
        )

    checked, event = await in_session(engine, audited)
    assert checked == events_before + 1  # one event for the run, counts only
    assert event is not None and event.detail == report.summary()
    assert event.detail.startswith("auth_session=2 refresh_token=2 invitation=3")
    # Run again: nothing is left to do (and that run is audited too).
    assert set((await run_job(engine, NOW)).removed.values()) == {0}
    # A microsecond later, what ended exactly at the cutoffs has outlived them too.
    later = await run_job(engine, NOW + TICK)
    assert later.summary() == (
        "auth_session=2 refresh_token=1 invitation=2 measure_link=1 sso_login_code=0 "
        "guest_link=0 message=0 client_record=0"
    )


async def test_spent_guest_links_go_and_their_guests_attendance_stays(
    engine: AsyncEngine,
) -> None:
    """Guest links used, withdrawn, cancelled with their session or past their window's close
    before the cutoff go; those that stopped at the cutoff or still work stay. A guest who came
    keeps their seat (kind, name, times) with no link behind it, and attendance still reads it."""
    close = POLICY.guest_link_close_after
    cut = rules.cutoffs(POLICY, NOW).guest_link_ended_before

    async def plant(session: AsyncSession) -> tuple[Planted, uuid.UUID, uuid.UUID]:
        priya = await person(session, Role.peer_keyworker)
        alex = (await session.exec(select(ClientRecord))).first()
        assert alex is not None
        planted = Planted(kept={"guest_link": set()}, gone={"guest_link": set()})

        def meeting(ends_at: datetime, cancelled_at: datetime | None = None) -> Meeting:
            row = Meeting(
                kind=MeetingKind.client_session,
                title="Session",
                client_id=alex.id,
                team_id=alex.team_id,
                starts_at=ends_at - timedelta(hours=1),
                ends_at=ends_at,
                host_id=priya.id,
                ical_uid=f"{uuid.uuid4()}@teamwell",
                cancelled_at=cancelled_at,
                created_at=ends_at - timedelta(days=7),
            )
            session.add(row)
            return row

        def link(
            on: Meeting, *, used_at: datetime | None = None, revoked_at: datetime | None = None
        ) -> GuestLink:
            row = GuestLink(
                meeting_id=on.id,
                kind=GuestKind.interpreter,
                guest_name="Dana Price",
                token_hash=uuid.uuid4().hex,
                code_hash=uuid.uuid4().hex,
                created_by=priya.id,
                created_at=on.starts_at - timedelta(days=1),
                used_at=used_at,
                revoked_at=revoked_at,
            )
            session.add(row)
            return row

        far = NOW + timedelta(days=30)
        upcoming, past = meeting(far), meeting(cut - close - TICK)
        at_edge = meeting(cut - close)
        cancelled = meeting(far, cancelled_at=cut - TICK)
        await session.flush()
        came = link(upcoming, used_at=cut - TICK)  # used before the cutoff: gone
        planted.gone["guest_link"] |= {
            came.id,
            link(upcoming, revoked_at=cut - TICK).id,
            link(past).id,  # its window closed a microsecond before the cutoff
            link(cancelled).id,
        }
        planted.kept["guest_link"] |= {
            link(upcoming, used_at=cut).id,
            link(upcoming).id,  # still to be used
            link(at_edge).id,  # its window closed exactly at the cutoff
        }
        await session.flush()
        seat = MeetingParticipant(
            meeting_id=upcoming.id,
            guest_link_id=came.id,
            guest_kind=str(GuestKind.interpreter),
            guest_name="Dana Price (interpreter)",
            connection_id="gone-long-ago",
            state=ParticipantState.left,
            arrived_at=cut - timedelta(minutes=10),
            joined_at=cut - timedelta(minutes=9),
            left_at=cut - TICK,
        )
        session.add(seat)
        await session.flush()
        return planted, seat.id, upcoming.id

    planted, seat_id, meeting_id = await in_session(engine, plant)
    report = await run_job(engine, NOW)
    assert report.removed["guest_link"] == 4
    assert "guest_link=4" in report.summary()

    async def after(session: AsyncSession) -> tuple[set[Any], MeetingParticipant | None]:
        return await ids(session, GuestLink), await session.get(MeetingParticipant, seat_id)

    left, seat = await in_session(engine, after)
    assert planted.kept["guest_link"] <= left and not planted.gone["guest_link"] & left
    assert seat is not None and seat.guest_link_id is None
    assert (seat.guest_kind, seat.guest_name) == ("interpreter", "Dana Price (interpreter)")
    assert seat.joined_at is not None and seat.left_at is not None
    assert seat.person_id == seat.id  # routes to no one

    async def attendance(session: AsyncSession) -> list[Any]:
        return await meetings_service.attendance(session=session, meeting_id=meeting_id)

    [guest] = await in_session(engine, attendance)
    assert (guest.guest, guest.name, guest.user_id) == (
        "interpreter",
        "Dana Price (interpreter)",
        None,
    )
    # A microsecond later what stopped exactly at the cutoff has outlived it too.
    assert (await run_job(engine, NOW + TICK)).removed["guest_link"] == 2


async def test_messages_are_erased_only_when_a_period_is_set_and_keep_their_numbers(
    engine: AsyncEngine,
) -> None:
    sent_at = NOW - timedelta(days=400)

    async def converse(session: AsyncSession) -> uuid.UUID:
        priya = await person(session, Role.peer_keyworker)
        team = (await session.exec(select(Team))).first()
        assert team is not None
        clock = FrozenClock(sent_at)
        ctx = Context(actor=SYSTEM, clock=clock)
        conversation = await messaging.open_team(session=session, ctx=ctx, user=priya, team=team)
        for n in range(2):
            await messaging.send_once(
                session=session, ctx=ctx, keyring=KEYRING, conversation_id=conversation.id,
                sender=priya, client_msg_id=f"old-{n}", body=f"old {n}",
            )  # fmt: skip
        first = await messaging.get_message(session=session, conversation_id=conversation.id, seq=1)
        await messaging.revise(
            session=session, ctx=ctx, keyring=KEYRING, message=first, editor=priya,
            new_body="old 0, edited",
        )  # fmt: skip
        clock.current = NOW - timedelta(days=365)  # exactly at the cutoff: kept
        await messaging.send_once(
            session=session, ctx=ctx, keyring=KEYRING, conversation_id=conversation.id,
            sender=priya, client_msg_id="recent", body="recent",
        )  # fmt: skip
        return conversation.id

    conversation_id = await in_session(engine, converse)
    kept = await run_job(engine, NOW)  # no period set: nothing happens to messages
    assert kept.removed["message"] == 0

    policy = rules.RetentionPolicy(auth_days=30, link_days=7, session_idle=IDLE, message_days=365)
    report = await run_job(engine, NOW, policy)
    assert report.removed["message"] == 2

    async def read(session: AsyncSession) -> tuple[list[Message], int]:
        messages = list(
            (
                await session.exec(
                    select(Message)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(col(Message.seq))
                )
            ).all()
        )
        revisions = await session.exec(select(func.count()).select_from(MessageRevision))
        return messages, int(revisions.one())

    messages, revisions = await in_session(engine, read)
    assert [m.seq for m in messages] == [1, 2, 3]  # the numbers stay, without a gap
    bodies = [
        KEYRING.decrypt(m.key_id, m.body_ciphertext, aad=message_aad(m.conversation_id, m.seq))
        for m in messages
    ]
    assert bodies == ["", "", "recent"]
    assert [m.deleted_at is not None for m in messages] == [True, True, False]
    assert revisions == 0  # the earlier text of the edited one went too
    assert (await run_job(engine, NOW, policy)).removed["message"] == 0  # already erased


async def test_a_closed_client_record_goes_with_everything_about_it_after_its_years(
    engine: AsyncEngine,
) -> None:
    closed_at = NOW - timedelta(days=3 * 365)

    async def prepare(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, int]:
        eli = (
            await session.exec(
                select(ClientRecord).where(ClientRecord.display_name == "Eli Fraser")
            )
        ).one()
        priya = await person(session, Role.peer_keyworker)
        ctx = Context(actor=SYSTEM, clock=FrozenClock(closed_at))
        # A login of their own, a case thread, a questionnaire: all of it theirs.
        login = User(
            organisation_id=eli.organisation_id, email="eli@example.org",
            display_name="Eli Fraser", role=Role.client, password_hash="x", created_at=closed_at,
        )  # fmt: skip
        session.add(login)
        await session.flush()
        eli.user_id = login.id
        eli.updated_at = closed_at
        session.add(eli)
        session.add(AuthSession(user_id=login.id, method="password", created_at=NOW,
                                last_used_at=NOW))  # fmt: skip
        thread = await messaging.open_case(
            session=session, ctx=ctx, user=priya, client=eli, includes_client=True
        )
        await messaging.send_once(
            session=session, ctx=ctx, keyring=KEYRING, conversation_id=thread.id,
            sender=priya, client_msg_id="handover", body="Hand-over letter sent.",
        )  # fmt: skip
        session.add(
            MeasureResponse(
                client_id=eli.id, instrument="phq9", instrument_version="1", answers={},
                session_key="s1", completed_at=closed_at, completed_by=priya.id, mode="remote",
            )
        )  # fmt: skip
        await session.flush()
        others = await session.exec(select(func.count()).select_from(ClientRecord))
        return eli.id, login.id, int(others.one()) - 1

    eli_id, login_id, others = await in_session(engine, prepare)
    policy = rules.RetentionPolicy(
        auth_days=30, link_days=7, session_idle=IDLE, closed_client_years=3
    )
    edge = closed_at.replace(year=closed_at.year + 3)  # three years after the last change
    assert (await run_job(engine, edge, policy)).removed["client_record"] == 0  # still kept
    report = await run_job(engine, edge + TICK, policy)
    assert report.removed["client_record"] == 1 and report.client_ids == [eli_id]
    assert report.with_client_records["message"] == 1
    assert report.with_client_records["measure_response"] == 1

    async def look(session: AsyncSession) -> dict[str, Any]:
        referring = 0
        for table in metadata.sorted_tables:
            for key in table.foreign_keys:
                if key.column.table.name == "client_record":
                    found = await session.exec(
                        select(func.count()).select_from(table).where(key.parent == eli_id)
                    )
                    referring += int(found.one())
        login = await session.get(User, login_id)
        remaining = await session.exec(select(func.count()).select_from(ClientRecord))
        sessions = await session.exec(
            select(func.count()).select_from(AuthSession).where(AuthSession.user_id == login_id)
        )
        return {
            "record": await session.get(ClientRecord, eli_id),
            "referring": referring,
            "login": login,
            "others": int(remaining.one()),
            "sessions": int(sessions.one()),
            "event": await last_event(session, "client.removed"),
        }

    seen = await in_session(engine, look)
    assert seen["record"] is None and seen["referring"] == 0
    assert seen["others"] == others  # the other clients are untouched
    login = seen["login"]
    assert login is not None and not login.is_active and login.password_hash is None
    assert login.display_name == "Former client" and "eli" not in login.email
    assert seen["sessions"] == 0
    event = seen["event"]
    assert event is not None and event.client_id == eli_id and event.resource_id == str(eli_id)


# --- the command ----------------------------------------------------------------------------------


async def test_the_command_removes_audits_and_the_chain_verifies_before_and_after(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async def sign_out_long_ago(session: AsyncSession) -> None:
        priya = await person(session, Role.peer_keyworker)
        ended = datetime.now(UTC) - timedelta(days=31)
        session.add(AuthSession(user_id=priya.id, method="password", created_at=ended,
                                last_used_at=ended, revoked_at=ended))  # fmt: skip

    await in_session(engine, sign_out_long_ago)
    await engine.dispose()
    env = base_env(tmp_path, f"sqlite:///{tmp_path / 'teamwell.db'}")

    def cli(*args: str) -> str:
        done = teamwell_cli(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    before = cli("verify-audit")
    assert before.startswith("audit chain intact")
    assert "would remove: auth_session=1 " in cli("retention", "--dry-run")
    assert "removed: auth_session=1 " in cli("retention")
    after = cli("verify-audit")
    checked = [int(text.split(": ")[1].split()[0]) for text in (before, after)]
    # One event for the first verification, one for the run, one for the documents' part of it.
    assert after.startswith("audit chain intact") and checked[1] == checked[0] + 3


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_a_removed_client_records_documents_leave_the_store_too(
    engine: AsyncEngine, kind: str, request: pytest.FixtureRequest
) -> None:
    closed_at = NOW - timedelta(days=4 * 365)
    documents = documents_runtime(engine)
    if kind == "s3":  # the same run against a real S3 server (SeaweedFS)
        s3 = request.getfixturevalue("seaweedfs").store()
        await s3.ensure_bucket()
        documents = dataclasses.replace(documents, store=s3)
    store = documents.store
    run = secrets.token_hex(4)  # the S3 bucket is shared by the tests
    version_key = f"documents/eli-{run}/cv"
    direct_key = f"documents/eli-{run}/payslip"

    async def prepare(session: AsyncSession) -> None:
        eli = (
            await session.exec(
                select(ClientRecord).where(ClientRecord.display_name == "Eli Fraser")
            )
        ).one()
        priya = await person(session, Role.peer_keyworker)
        eli.status, eli.updated_at = ProgrammeStatus.closed, closed_at
        session.add(eli)
        document = Document(
            place=Place.client_record, client_id=eli.id, kind=DocumentKind.cv, title="CV",
            created_by=priya.id, created_at=closed_at, latest_version=1,
        )  # fmt: skip
        session.add(document)
        await session.flush()
        session.add(
            DocumentVersion(
                document_id=document.id, number=1, filename="cv.pdf",
                media_type="application/pdf", size_bytes=6, sha256="0" * 64,
                uploaded_by=priya.id, uploaded_at=closed_at, scan_status=ScanStatus.clean,
                object_key=version_key, key_id="k1", wrapped_key=b"sealed key",
            )
        )  # fmt: skip
        # A file Eli sent their keyworker in a conversation of their own (no record named).
        session.add(login := User(
            organisation_id=eli.organisation_id, email=f"eli-{run}@example.org",
            display_name="Eli Fraser", role=Role.client, password_hash="x", created_at=closed_at,
        ))  # fmt: skip
        await session.flush()
        eli.user_id = login.id
        session.add(eli)
        direct = await messaging.open_direct(
            session=session, ctx=Context(actor=SYSTEM, clock=FrozenClock(closed_at)),
            user=login, other=priya,
        )  # fmt: skip
        sent = Document(
            place=Place.conversation, conversation_id=direct.id, kind=DocumentKind.attachment,
            title="Payslip", created_by=login.id, created_at=closed_at, latest_version=1,
        )  # fmt: skip
        session.add(sent)
        await session.flush()
        session.add(
            DocumentVersion(
                document_id=sent.id, number=1, filename="payslip.pdf",
                media_type="application/pdf", size_bytes=6, sha256="0" * 64,
                uploaded_by=login.id, uploaded_at=closed_at, scan_status=ScanStatus.clean,
                object_key=direct_key, key_id="k1", wrapped_key=b"sealed key",
            )
        )  # fmt: skip
        # An upload left half-way, its one chunk in the store.
        session.add(
            DocumentUpload(
                id=uuid.UUID(int=7), uploader_id=priya.id, place=Place.client_record,
                client_id=eli.id, kind=DocumentKind.letters, title="Letter",
                filename="letter.pdf", size_bytes=10, chunk_bytes=10, received_bytes=10,
                created_at=closed_at, expires_at=closed_at + timedelta(days=1),
            )
        )  # fmt: skip
        await session.flush()

    await in_session(engine, prepare)
    chunk_key = "uploads/00000000-0000-0000-0000-000000000007/0"
    other_key = f"documents/someone-else-{run}/letter"  # of a record that stays
    try:
        for key in (version_key, direct_key, chunk_key, other_key):
            await store.put(key, b"sealed")
        policy = rules.RetentionPolicy(
            auth_days=30, link_days=7, session_idle=IDLE, closed_client_years=3
        )
        report = await run_job(engine, NOW + TICK, policy, documents)
        assert report.removed["client_record"] == 1
        assert report.with_client_records["document_version"] == 2
        assert report.with_client_records["document"] == 2
        for gone in (version_key, direct_key, chunk_key):
            with pytest.raises(StoredObjectMissing):
                await store.get(gone)
        assert await store.get(other_key) == b"sealed"
    finally:
        await store.close()
