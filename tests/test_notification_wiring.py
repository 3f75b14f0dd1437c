"""Notifications wired onto events and jobs, on the demo data with real parts: the job runner
driven by a frozen clock (no sleeps) and email through a real SMTP server (aiosmtpd). Notices go
out from the recurring delivery job; an urgent alert reaches the care team's clinicians at once
and, unacknowledged, escalates to their supervisors (audited); no email says anything clinical.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts import rules as alert_rules
from app.alerts.models import Alert
from app.audit.models import AuditEvent
from app.clients.models import ClientRecord
from app.clock import FrozenClock
from app.config import Settings
from app.context import Context
from app.db import create_engine, session_factory
from app.demo import CLIENTS, seed_demo
from app.jobs.models import ScheduledJob
from app.jobs.runner import SYSTEM, JobRunner
from app.measures import service as measures
from app.measures.jobs import ESCALATE
from app.messaging.keyring import keyring_from_settings
from app.migrate import upgrade_async
from app.notifications import service as notifications
from app.notifications.jobs import DELIVER
from app.notifications.models import DeliveryStatus, NotificationDelivery
from app.notifications.notices import Notice
from app.users.models import User
from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, fresh_database
from tests.support.net import free_port
from tests.test_jobs import Recorder
from tests.test_notifications import Inbox, assert_nothing_clinical

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PUBLIC_URL = "https://teamwell.example.org"
ITEM9_ABOVE_0 = {1: 1, 2: 1, 3: 0, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0, 9: 1}


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@dataclass
class World:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    settings: Settings
    published: Recorder
    inbox: Inbox

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
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[int, Inbox]
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
        async with world.sessions() as session:
            person = await session.get(User, uid)
            assert person is not None
        assert world.mail_to(person.email) == ["You have an urgent alert in Teamwell"]
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
        async with world.sessions() as session:
            person = await session.get(User, alert.recipient_id)
            assert person is not None
        assert world.mail_to(person.email) == ["An urgent alert in Teamwell needs someone to act"]
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
