"""Notifications wired onto events and jobs, on the demo data with real parts: the job runner
driven by a frozen clock (no sleeps) and email through a real SMTP server (aiosmtpd). Notices go
out from the recurring delivery job; an urgent alert reaches the care team's clinicians at once
and, unacknowledged, escalates to their supervisors (audited); no email says anything clinical.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.alerts import rules as alert_rules
from app.alerts.models import Alert, AlertKind
from app.audit.models import AuditEvent
from app.clients.models import ClientRecord
from app.clock import FrozenClock
from app.config import Settings
from app.context import Context
from app.db import create_engine, session_factory
from app.demo import CLIENTS, seed_demo
from app.ips.models import Job as IpsJob
from app.jobs.models import ScheduledJob
from app.jobs.runner import SYSTEM, JobRunner
from app.measures import service as measures
from app.measures.jobs import ESCALATE
from app.meetings import service as meetings
from app.meetings.jobs import REMINDER
from app.meetings.models import Meeting, MeetingKind
from app.meetings.schemas import MeetingCreate, MeetingUpdate
from app.messaging import jobs as message_jobs
from app.messaging.jobs import DIGEST
from app.messaging.keyring import keyring_from_settings
from app.migrate import upgrade_async
from app.notifications import service as notifications
from app.notifications.jobs import DELIVER
from app.notifications.models import DeliveryStatus, NotificationDelivery
from app.notifications.notices import Notice
from app.supervision.jobs import PROMPT
from app.users.models import User
from tests.app.notifications.test_notifications import assert_nothing_clinical
from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live, fresh_database, live_server
from tests.realtime.test_realtime import connect, team_conversation
from tests.support.net import free_port
from tests.support.smtp import Mailbox, SmtpServer
from tests.support.ws import WsClient

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PUBLIC_URL = "https://teamwell.example.org"
ITEM9_ABOVE_0 = {1: 1, 2: 1, 3: 0, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0, 9: 1}


class Recorder:
    """The events published after each job's commit."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    async def publish(self, event: events.Event) -> None:
        self.events.append(event)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with SmtpServer() as server:
        yield server.port, server.mailbox


@dataclass
class World:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    settings: Settings
    published: Recorder
    inbox: Mailbox

    def runner(self) -> JobRunner:
        return JobRunner(
            self.sessions, self.published, settings=self.settings, clock=self.clock, worker="one"
        )

    async def tick(self) -> None:
        await self.runner().tick()

    async def person(self, email_address: str) -> User:
        async with self.sessions() as session:
            found = (await session.exec(select(User).where(User.email == email_address))).first()
            assert found is not None
            return found

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.sessions() as session:
            return list(await session.exec(select(model).where(*where)))

    def mail_to(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.inbox.messages if address in str(m["To"])]

    async def mail_to_user(self, user_id: Any) -> list[str]:
        """The subjects of what was emailed to this person."""
        async with self.sessions() as session:
            person = await session.get(User, user_id)
            assert person is not None
        return self.mail_to(person.email)

    def assert_nothing_clinical(self) -> None:
        assert self.inbox.messages
        for message in self.inbox.messages:
            body = message.get_content()
            assert PUBLIC_URL in body
            assert_nothing_clinical(str(message["Subject"]) + "\n" + body)


def world_settings(tmp_path: Path, url: str, port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": url,
        "public_url": PUBLIC_URL,
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        # Only the work under test: the delivery job and what the events schedule.
        "jobs_retention_minutes": None,
        "jobs_journey_alerts_minutes": None,
        "jobs_check_in_prompts_minutes": None,
        "jobs_deliver_notifications_seconds": 15,
        "urgent_alert_escalation_minutes": 30,
    }
    values.update(extra)
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgres"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[int, Mailbox]
) -> AsyncIterator[World]:
    url = fresh_database(request, tmp_path, "wiring")
    await upgrade_async(url)
    port, inbox = smtp
    settings = world_settings(tmp_path, url, port)
    engine = create_engine(settings)
    sessions = session_factory(engine)
    clock = FrozenClock(NOW)
    async with sessions() as session:
        await seed_demo(
            session,
            Context(actor=SYSTEM, clock=clock),
            DEMO_PASSWORD,
            keyring_from_settings(settings),
        )
        # The demo's meetings scheduled their reminders: each test runs only what it schedules.
        for job in await session.exec(select(ScheduledJob)):
            await session.delete(job)
        await session.commit()
    yield World(engine, sessions, clock, settings, Recorder(), inbox)
    await engine.dispose()


# --- delivery as a recurring job ---------------------------------------------------------------


async def test_notices_go_out_from_the_recurring_job_with_retries(world: World) -> None:
    therapist = await world.person(ROLE_EMAILS["therapist"])
    async with world.sessions() as session:
        made = await notifications.tell(
            session,
            person_ids=[therapist.id],
            notice=Notice.urgent_alert,
            link="#/alerts",
            now=world.clock.now(),
            settings=world.settings,
        )
        await session.commit()
    assert made == 1
    await world.tick()
    assert world.mail_to(therapist.email) == ["You have an urgent alert in Teamwell"]
    [job] = await world.rows(ScheduledJob, ScheduledJob.kind == DELIVER)
    assert job.status == "done"
    # The next slot's run finds nothing more to send.
    world.clock.advance(seconds=15)
    await world.tick()
    assert len(world.inbox.messages) == 1
    assert len(await world.rows(ScheduledJob, ScheduledJob.kind == DELIVER)) == 2
    world.assert_nothing_clinical()


async def test_a_delivery_that_fails_is_retried_by_a_later_run(world: World) -> None:
    therapist = await world.person(ROLE_EMAILS["therapist"])
    broken = world.settings.model_copy(update={"smtp_port": free_port()})  # nothing listens
    async with world.sessions() as session:
        await notifications.tell(
            session,
            person_ids=[therapist.id],
            notice=Notice.check_in_due,
            link="#/wellbeing",
            now=world.clock.now(),
            settings=world.settings,
        )
        await session.commit()
    world.clock.advance(hours=10)  # past the therapist's quiet hours, if any
    await JobRunner(
        world.sessions, world.published, settings=broken, clock=world.clock, worker="one"
    ).tick()
    [delivery] = await world.rows(NotificationDelivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.pending, 1)
    assert world.inbox.messages == []
    world.clock.advance(seconds=world.settings.notification_retry_base_seconds)
    await world.tick()
    [delivery] = await world.rows(NotificationDelivery)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 2)
    assert world.mail_to(therapist.email) == ["It is time for your check-in in Teamwell"]


# --- urgent alerts -----------------------------------------------------------------------------


def test_an_alert_escalates_only_when_due_and_unacknowledged() -> None:
    after = timedelta(minutes=30)
    due = NOW + after
    assert alert_rules.escalation_due(raised_at=NOW, acknowledged=[None], now=due, after=after)
    assert not alert_rules.escalation_due(
        raised_at=NOW, acknowledged=[None], now=due - timedelta(seconds=1), after=after
    )
    assert not alert_rules.escalation_due(
        raised_at=NOW, acknowledged=[None, NOW], now=due, after=after
    )


async def raise_item9(world: World) -> ClientRecord:
    name = CLIENTS[0][0]
    async with world.sessions() as session:
        client = (
            await session.exec(select(ClientRecord).where(ClientRecord.display_name == name))
        ).one()
        by = (await session.exec(select(User).where(User.email == ROLE_EMAILS["therapist"]))).one()
        _response, alerting = await measures.record(
            session=session,
            ctx=Context(actor=SYSTEM, clock=world.clock),
            client=client,
            by=by,
            instrument_code="phq9",
            raw_answers=dict(ITEM9_ABOVE_0),
            session_key=None,
        )
        assert alerting is not None and alerting.alerts
        await session.commit()
        return client


async def test_an_urgent_alert_reaches_the_care_team_at_once_and_escalates_once_audited(
    world: World,
) -> None:
    client = await raise_item9(world)
    first = await world.rows(Alert, Alert.client_id == client.id)
    reached = {a.recipient_id for a in first}
    [job] = await world.rows(ScheduledJob, ScheduledJob.kind == ESCALATE)
    assert job.run_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=30)
    await world.tick()
    for uid in reached:
        assert await world.mail_to_user(uid) == ["You have an urgent alert in Teamwell"]
    # Thirty minutes on, nobody has acknowledged: the supervisors are told.
    world.clock.advance(minutes=30)
    await world.tick()
    # The escalation and the delivery job may fall due together; the next slot sends in any case.
    world.clock.advance(seconds=15)
    await world.tick()
    escalated = await world.rows(Alert, Alert.client_id == client.id, col(Alert.escalated))
    audits = await world.rows(AuditEvent, AuditEvent.action == "alert.escalated")
    assert len(audits) == 1
    assert escalated, audits[0].detail
    assert not {a.recipient_id for a in escalated} & reached
    for alert in escalated:
        assert await world.mail_to_user(alert.recipient_id) == [
            "An urgent alert in Teamwell needs someone to act"
        ]
    assert [e.frame.type for e in world.published.events] == ["alert.raised"] * len(escalated)
    # Once: a later run of anything does not escalate again.
    world.clock.advance(minutes=30)
    await world.tick()
    assert len(await world.rows(AuditEvent, AuditEvent.action == "alert.escalated")) == 1
    world.assert_nothing_clinical()


async def test_an_acknowledged_alert_does_not_escalate(world: World) -> None:
    client = await raise_item9(world)
    async with world.sessions() as session:
        alert = (await session.exec(select(Alert).where(Alert.client_id == client.id))).first()
        assert alert is not None
        alert.acknowledged_at = NOW + timedelta(minutes=5)
        session.add(alert)
        await session.commit()
    world.clock.advance(minutes=31)
    await world.tick()
    [job] = await world.rows(ScheduledJob, ScheduledJob.kind == ESCALATE)
    assert job.status == "done"
    assert await world.rows(Alert, col(Alert.escalated)) == []
    assert await world.rows(AuditEvent, AuditEvent.action == "alert.escalated") == []


# --- settings at their edges -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [
        ("jobs_deliver_notifications_seconds", 1, 3600),
        ("urgent_alert_escalation_minutes", 1, 7 * 24 * 60),
        ("message_notice_delay_minutes", 1, 24 * 60),
        ("message_digest_window_minutes", 1, 7 * 24 * 60),
    ],
)
def test_wiring_settings_at_their_edges(name: str, lowest: int, highest: int) -> None:
    assert getattr(Settings(**{name: lowest}), name) == lowest
    assert getattr(Settings(**{name: highest}), name) == highest
    for wrong in (lowest - 1, highest + 1):
        with pytest.raises(ValidationError):
            Settings(**{name: wrong})


def test_an_empty_period_turns_delivery_by_the_service_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMWELL_JOBS_DELIVER_NOTIFICATIONS_SECONDS", "")
    assert Settings().jobs_deliver_notifications_seconds is None


# --- message digests, through a running server -------------------------------------------------
#
# The server stores messages and schedules digests as it does in service (its own runner off);
# the test's runner, on the same database with a frozen clock, runs them.


@pytest.fixture
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    # A server per test: a server remembers the digests it has scheduled
    # (app/messaging/jobs.py, ScheduledDigests), so one test's jobs cannot be cleared from
    # under it for the next.
    with live_server(tmp_path_factory, "live-digests") as live:
        yield live


@dataclass
class Chat:
    live: Live
    world: World
    priya: WsClient
    tom: WsClient
    conversation: str
    tom_id: uuid.UUID

    async def digests_for_tom(self) -> list[ScheduledJob]:
        return await self.world.rows(
            ScheduledJob,
            ScheduledJob.kind == DIGEST,
            col(ScheduledJob.key).like(f"{DIGEST}:{self.tom_id}:%"),
        )

    async def send(self, body: str) -> int:
        ack = await self.priya.send_message(self.conversation, body)
        assert ack["type"] == "message.ack", ack
        await self.tom.wait_for(
            lambda f: (
                f.get("type") == "message.new" and f["message"]["seq"] == ack["message"]["seq"]
            )
        )
        # The server schedules digests just after it publishes the message (realtime/handlers.py):
        # wait, bounded, until Tom's is there.
        deadline = asyncio.get_running_loop().time() + 10
        while not await self.digests_for_tom():
            assert asyncio.get_running_loop().time() < deadline, "no digest was scheduled"
            await asyncio.sleep(0.05)
        return int(ack["message"]["seq"])

    async def tom_reads(self, seq: int) -> None:
        reply = await self.tom.request(
            {"type": "read", "conversation_id": self.conversation, "seq": seq}
        )
        assert reply["seq"] == seq, reply


@pytest.fixture
async def chat(chat_server: Live, smtp: tuple[int, Mailbox], tmp_path: Path) -> AsyncIterator[Chat]:
    url = chat_server.env["TEAMWELL_DATABASE_URL"]
    port, inbox = smtp
    settings = world_settings(chat_server.data_dir, url, port)
    engine = create_engine(settings)
    # Somewhere in working hours after anything this server has stored.
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=11, minute=0, second=0)
    world = World(engine, session_factory(engine), FrozenClock(start), settings, Recorder(), inbox)
    async with world.sessions() as session:
        # Each test starts with no jobs (the demo meetings' reminders among them) or notices
        # left by the one before: it runs only the digests its messages schedule.
        for job in await session.exec(select(ScheduledJob)):
            await session.delete(job)
        for delivery in await session.exec(select(NotificationDelivery)):
            await session.delete(delivery)
        await session.commit()
    conversation = team_conversation(chat_server)
    priya = await connect(chat_server, chat_server.as_role("peer_keyworker"))
    tom = await connect(chat_server, chat_server.as_role("therapist"))
    # Tom has read everything so far.
    marker = await tom.request({"type": "sync", "conversation_id": conversation, "after_seq": 0})
    if marker.get("last_seq"):
        await tom.request(
            {"type": "read", "conversation_id": conversation, "seq": marker["last_seq"]}
        )
    tom_id = uuid.UUID(chat_server.as_role("therapist").user["id"])
    yield Chat(chat_server, world, priya, tom, conversation, tom_id)
    await priya.close()
    await tom.close()
    await engine.dispose()


NEW_MESSAGES = "You have a new message in Teamwell"


def daytime_after(job: ScheduledJob) -> datetime:
    """A time after the job is due, in working hours wherever the test runs (no quiet hours)."""
    return (job.run_at.replace(tzinfo=UTC) + timedelta(days=1)).replace(hour=11, minute=0)


async def test_unread_messages_bring_one_digest_per_window_without_their_words(chat: Chat) -> None:
    bodies = ["Alex Morgan scored 19 on the PHQ-9", "Can we talk about Bea Collins", "Thanks"]
    for body in bodies:
        await chat.send(body)
    [job] = await chat.digests_for_tom()  # one per window, not one per message
    chat.world.clock.current = daytime_after(job)
    await chat.world.tick()
    world = chat.world
    tom = await world.person(ROLE_EMAILS["therapist"])
    # The notice is made by the digest, and sent by the next delivery run.
    world.clock.advance(seconds=15)
    await world.tick()
    assert world.mail_to(tom.email) == [NEW_MESSAGES]
    for message in world.inbox.messages:
        content = message.get_content()
        assert f"{PUBLIC_URL}/#/messages" in content
        for body in bodies:
            assert body not in content
        assert "Priya" not in content and "19" not in str(message["Subject"])
    world.assert_nothing_clinical()
    # Later runs send nothing more for those messages.
    world.clock.advance(minutes=5)
    await world.tick()
    assert world.mail_to(tom.email) == [NEW_MESSAGES]


async def test_reading_in_the_app_means_no_digest(chat: Chat) -> None:
    seq = await chat.send("See you at ten")
    await chat.tom_reads(seq)
    [job] = await chat.digests_for_tom()
    chat.world.clock.current = daytime_after(job)
    await chat.world.tick()
    chat.world.clock.advance(seconds=15)
    await chat.world.tick()
    [done] = await chat.digests_for_tom()
    assert done.status == "done"
    assert (
        await chat.world.rows(NotificationDelivery, NotificationDelivery.user_id == chat.tom_id)
        == []
    )


async def test_reading_cancels_a_notice_held_by_quiet_hours(chat: Chat) -> None:
    seq = await chat.send("Running late")
    [job] = await chat.digests_for_tom()
    # The digest runs at night: the notice waits for the morning.
    night = job.run_at.replace(tzinfo=UTC).replace(hour=23, minute=30) + timedelta(days=1)
    chat.world.clock.current = night
    await chat.world.tick()
    [held] = await chat.world.rows(
        NotificationDelivery, NotificationDelivery.user_id == chat.tom_id
    )
    assert held.status == DeliveryStatus.pending
    await chat.tom_reads(seq)
    [cancelled] = await chat.world.rows(
        NotificationDelivery, NotificationDelivery.user_id == chat.tom_id
    )
    assert cancelled.status == DeliveryStatus.cancelled
    chat.world.clock.advance(hours=12)
    await chat.world.tick()
    # The other members, who did not read it, are told in the morning; Tom is not.
    assert chat.world.inbox.messages
    assert chat.world.mail_to(ROLE_EMAILS["therapist"]) == []


async def test_a_message_after_the_windows_digest_is_covered_by_the_next_window(
    chat: Chat,
) -> None:
    await chat.send("First")
    [job] = await chat.digests_for_tom()
    chat.world.clock.current = job.run_at.replace(tzinfo=UTC) + timedelta(seconds=1)
    await chat.world.tick()
    async with chat.world.sessions() as session:
        found = await session.get(ScheduledJob, job.id)
        assert found is not None and found.status == "done"
    # The same window, as the server would store a later message (its clock is real).
    async with chat.world.sessions() as session:
        await message_jobs.schedule_digests(
            session,
            recipients=[chat.tom_id],
            stored_at=job.created_at.replace(tzinfo=UTC) + timedelta(seconds=1),
            settings=chat.world.settings,
        )
        await session.commit()
    jobs = sorted(await chat.digests_for_tom(), key=lambda j: j.run_at)
    assert len(jobs) == 2
    window = timedelta(minutes=chat.world.settings.message_digest_window_minutes)
    assert jobs[1].run_at - jobs[0].run_at <= window
    assert jobs[1].run_at.replace(tzinfo=UTC).timestamp() % window.total_seconds() == 0


# --- meeting reminders -------------------------------------------------------------------------

REMINDER_SUBJECT = "You have a meeting soon in Teamwell"
STARTS = NOW.replace(hour=10) + timedelta(days=2)


async def arrange_meeting(world: World) -> Meeting:
    therapist = await world.person(ROLE_EMAILS["therapist"])
    client_login = await world.person(ROLE_EMAILS["client"])
    async with world.sessions() as session:
        client = (
            await session.exec(select(ClientRecord).where(ClientRecord.user_id == client_login.id))
        ).one()
        meeting = await meetings.create(
            session=session,
            ctx=Context(actor=SYSTEM, clock=world.clock),
            host=therapist,
            data=MeetingCreate(
                kind=MeetingKind.client_session,
                title="Alex Morgan: review of PHQ-9",
                client_id=client.id,
                starts_at=STARTS,
                ends_at=STARTS + timedelta(hours=1),
                invitee_ids=[client_login.id],
            ),
        )
        await session.commit()
        await session.refresh(meeting)
        return meeting


async def run_at(world: World, when: datetime) -> None:
    """Run what is due at ``when``, and the delivery run just after."""
    world.clock.current = when
    await world.tick()
    world.clock.advance(seconds=15)
    await world.tick()


async def test_reminders_a_day_and_a_quarter_hour_before_to_staff_and_client(
    world: World,
) -> None:
    meeting = await arrange_meeting(world)
    jobs = await world.rows(ScheduledJob, ScheduledJob.kind == REMINDER)
    assert sorted(j.run_at.replace(tzinfo=UTC) for j in jobs) == [
        STARTS - timedelta(hours=24),
        STARTS - timedelta(minutes=15),
    ]
    therapist, client = ROLE_EMAILS["therapist"], ROLE_EMAILS["client"]
    await run_at(world, STARTS - timedelta(hours=24))
    assert world.mail_to(therapist) == [REMINDER_SUBJECT]
    assert world.mail_to(client) == [REMINDER_SUBJECT]
    await run_at(world, STARTS - timedelta(minutes=15))
    assert world.mail_to(therapist) == [REMINDER_SUBJECT] * 2
    assert world.mail_to(client) == [REMINDER_SUBJECT] * 2
    for message in world.inbox.messages:
        content = message.get_content()
        # The client's reminder carries the meeting page, where they join.
        assert f"{PUBLIC_URL}/#/meetings/{meeting.id}" in content
        assert "review" not in content.lower()
    world.assert_nothing_clinical()


async def test_no_reminder_for_a_cancelled_meeting_and_a_moved_one_is_reminded_at_its_new_time(
    world: World,
) -> None:
    ctx = Context(actor=SYSTEM, clock=world.clock)
    cancelled = await arrange_meeting(world)
    async with world.sessions() as session:
        found = await session.get(Meeting, cancelled.id)
        assert found is not None
        await meetings.cancel(session=session, ctx=ctx, meeting=found)
        await session.commit()
    moved = await arrange_meeting(world)
    later = STARTS + timedelta(days=1)
    async with world.sessions() as session:
        found = await session.get(Meeting, moved.id)
        assert found is not None
        await meetings.update(
            session=session,
            ctx=ctx,
            meeting=found,
            data=MeetingUpdate(starts_at=later, ends_at=later + timedelta(hours=1)),
        )
        await session.commit()
    # The old time's reminders, and the cancelled meeting's: nothing.
    await run_at(world, STARTS - timedelta(hours=24))
    await run_at(world, STARTS - timedelta(minutes=15))
    assert world.inbox.messages == []
    await run_at(world, later - timedelta(hours=24))
    assert world.mail_to(ROLE_EMAILS["client"]) == [REMINDER_SUBJECT]
    await run_at(world, later - timedelta(minutes=15))
    assert world.mail_to(ROLE_EMAILS["client"]) == [REMINDER_SUBJECT] * 2
    for message in world.inbox.messages:
        assert f"/#/meetings/{moved.id}" in message.get_content()
    jobs = await world.rows(ScheduledJob, ScheduledJob.kind == REMINDER)
    assert len(jobs) == 6 and {j.status for j in jobs} == {"done"}


# --- journey work and check-ins ----------------------------------------------------------------

ALEX = CLIENTS[0][0]


async def test_a_sustainment_check_is_a_journey_alert_on_its_due_day_and_notifies_once(
    world: World,
) -> None:
    specialist = await world.person(ROLE_EMAILS["employment_specialist"])
    async with world.sessions() as session:
        client = (
            await session.exec(
                select(ClientRecord).where(ClientRecord.display_name == CLIENTS[0][0])
            )
        ).one()
        job = IpsJob(
            client_id=client.id,
            employer="Northside Retail",
            role="Stock assistant",
            hours_per_week=16,
            started_on=NOW.date(),
            recorded_by=specialist.id,
            recorded_at=NOW,
        )
        session.add(job)
        await session.commit()
        await session.refresh(job)
    due_on = job.started_on + timedelta(weeks=13)
    world.clock.current = datetime.combine(due_on, time(11, 0), tzinfo=UTC)
    world.settings = world.settings.model_copy(update={"jobs_journey_alerts_minutes": 60})
    await world.tick()
    checks = await world.rows(
        Alert, Alert.kind == AlertKind.sustainment_check_due, Alert.client_id == job.client_id
    )
    assert checks and all("13-week sustainment check" in a.detail for a in checks)
    raised_now = await world.rows(Alert, Alert.raised_at == world.clock.current)
    told = {a.recipient_id for a in raised_now}
    assert told
    world.clock.advance(seconds=15)
    await world.tick()
    for uid in told:
        # One notice per person per run, however many alerts it raised for them.
        assert await world.mail_to_user(uid) == ["You have journey work due in Teamwell"]
    # The next run raises nothing new and tells nobody again.
    world.clock.advance(hours=1)
    await world.tick()
    world.clock.advance(seconds=15)
    await world.tick()
    assert len(world.inbox.messages) == len(told)
    world.assert_nothing_clinical()
    # The day after, the check is no longer due: no new alert of it.
    world.clock.advance(days=1)
    await world.tick()
    assert len(
        await world.rows(
            Alert, Alert.kind == AlertKind.sustainment_check_due, Alert.client_id == job.client_id
        )
    ) == len(checks)


async def test_a_due_check_in_is_notified_under_check_ins(world: World) -> None:
    world.settings = world.settings.model_copy(update={"jobs_check_in_prompts_minutes": 60})
    await world.tick()  # the scan schedules the prompts
    world.clock.advance(seconds=15)
    await world.tick()  # the prompts notify
    world.clock.advance(seconds=15)
    await world.tick()  # and the notices go
    prompted = await world.rows(ScheduledJob, ScheduledJob.kind == PROMPT)
    assert prompted
    subjects = [str(m["Subject"]) for m in world.inbox.messages]
    assert subjects and set(subjects) == {"It is time for your check-in in Teamwell"}
    assert len(subjects) <= len(prompted)
    for message in world.inbox.messages:
        assert f"{PUBLIC_URL}/#/wellbeing" in message.get_content()


async def test_a_message_too_recent_for_the_windows_digest_is_looked_at_in_the_next(
    chat: Chat,
) -> None:
    await chat.tom_reads(await chat.send("One"))
    await chat.send("Two")  # unread, and stored after the digest was scheduled
    [job] = await chat.digests_for_tom()
    chat.world.clock.current = job.run_at.replace(tzinfo=UTC)  # "Two" is not old enough yet
    await chat.world.tick()
    assert (
        await chat.world.rows(NotificationDelivery, NotificationDelivery.user_id == chat.tom_id)
        == []
    )
    jobs = sorted(await chat.digests_for_tom(), key=lambda j: j.run_at)
    assert len(jobs) == 2 and jobs[0].status == "done"
    chat.world.clock.current = daytime_after(jobs[1])
    await chat.world.tick()
    chat.world.clock.advance(seconds=15)
    await chat.world.tick()
    assert chat.world.mail_to(ROLE_EMAILS["therapist"]) == [NEW_MESSAGES]


# --- this process's memory of digests still to come ---------------------------------------------


def test_a_message_stored_before_a_known_digest_runs_needs_no_schedule() -> None:
    settings = Settings(message_notice_delay_minutes=15, message_digest_window_minutes=60)
    memory = message_jobs.ScheduledDigests(margin=timedelta(seconds=2))
    kim, lee = uuid.uuid4(), uuid.uuid4()
    first = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    due, _window = message_jobs.digest_due(first, settings)
    assert memory.uncovered([kim, lee], first, settings) == [kim, lee]
    memory.remember({kim: due}, first, settings)
    later = first + timedelta(minutes=5)
    # Kim's digest runs at `due`, after this message: it will find it. Lee's is not known.
    assert memory.uncovered([kim, lee], later, settings) == [lee]
    # Within the margin of the run time, or after it, the database is asked again.
    assert memory.uncovered([kim], due - timedelta(seconds=1), settings) == [kim]
    assert memory.uncovered([kim], due + timedelta(minutes=1), settings) == [kim]


def test_the_memory_forgets_digests_that_have_run() -> None:
    settings = Settings(message_notice_delay_minutes=1, message_digest_window_minutes=1)
    memory = message_jobs.ScheduledDigests()
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    for minute in range(3000):
        stored_at = start + timedelta(minutes=minute)
        due, _window = message_jobs.digest_due(stored_at, settings)
        memory.remember({uuid.uuid4(): due}, stored_at, settings)
    assert len(memory._runs_at) <= 2048
