"""Delivery runs hold no transaction while a notice is on the network: they claim their batch
with a lease in a short transaction, send with none open, and record each outcome in another.

With a real SMTP server that holds its answer until the test releases it, a plan save on the
same SQLite database completes while the send is in flight (a run that sent inside its
transaction held SQLite's write lock until the mail server answered). A run that dies after
claiming leaves its rows to the next run after their lease: at least once, never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from app import events
from app.clients.models import ClientRecord
from app.clock import FrozenClock
from app.context import Context
from app.db import session_factory
from app.jobs.models import ScheduledJob
from app.jobs.runner import SYSTEM, JobRunner
from app.notifications.channels import channels_for
from app.notifications.jobs import DELIVER
from app.notifications.models import DeliveryStatus
from app.notifications.notices import Notice
from app.plans import service as plans
from app.plans.schemas import Goal
from auth.email import EmailMessage
from tests.app.notifications.test_notifications import (
    CLIENT,
    NOON,
    deliver,
    deliveries,
    email_channels,
    notify,
    person,
    settings_for,
)
from tests.support.smtp import MAIL_WAIT_SECONDS, HoldingMailbox, Mailbox, SmtpServer

WAIT = MAIL_WAIT_SECONDS


@pytest.fixture
def held() -> Iterator[tuple[int, HoldingMailbox]]:
    mailbox = HoldingMailbox()
    with SmtpServer(mailbox) as server:
        try:
            yield server.port, mailbox
        finally:
            mailbox.release.set()


async def save_plan(engine: AsyncEngine, text: str) -> int:
    """The client adds a goal to their own plan: a write like any through the API."""
    async with session_factory(engine)() as session:
        client_user = await person(session, CLIENT)
        record = (
            await session.exec(select(ClientRecord).where(ClientRecord.user_id == client_user.id))
        ).one()
        plan = await plans.find(session=session, client_id=record.id)
        content = plans.content_of(plan)
        content.goals.append(Goal(text=text))
        saved, _sections = await plans.save(
            session=session,
            ctx=Context(actor=SYSTEM, clock=FrozenClock(NOON)),
            client=record,
            editor=client_user,
            content=content,
            based_on=plan.version if plan else 0,
        )
        await session.commit()
        return saved.version


class Unheard:
    """A publisher nobody listens to: the delivery job announces nothing."""

    async def publish(self, event: events.Event) -> None:
        return None


async def in_flight(mailbox: HoldingMailbox) -> None:
    assert await asyncio.to_thread(mailbox.wait_holding, WAIT), "no send reached the server"


# --- no transaction across a send --------------------------------------------------------------


async def test_a_write_completes_while_a_notice_is_on_its_way(
    engine: AsyncEngine, held: tuple[int, HoldingMailbox], tmp_path: Path
) -> None:
    port, mailbox = held
    settings = settings_for(tmp_path)
    await notify(engine, CLIENT, Notice.new_messages)
    run = asyncio.create_task(deliver(engine, NOON, email_channels(port, settings), settings))
    try:
        await in_flight(mailbox)
        # The mail server has not answered: the plan is saved meanwhile all the same.
        version = await asyncio.wait_for(save_plan(engine, "Ask about evening shifts"), WAIT)
        assert version >= 1
        [delivery] = await deliveries(engine)
        # Claimed, not yet sent: pending, with its lease and its attempt.
        assert delivery.status == DeliveryStatus.pending and delivery.attempts == 1
        assert delivery.claimed_until == NOON + timedelta(
            seconds=settings.notification_claim_seconds
        )
        assert not run.done(), "the write waited for the send to end"
    finally:
        mailbox.release.set()
    report = await asyncio.wait_for(run, WAIT)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    assert mailbox.wait_count(1)
    [delivery] = await deliveries(engine)
    assert (delivery.status, delivery.claimed_by, delivery.claimed_until) == (
        DeliveryStatus.sent,
        None,
        None,
    )


async def test_the_delivery_job_holds_no_transaction_while_it_sends(
    engine: AsyncEngine, held: tuple[int, HoldingMailbox], tmp_path: Path
) -> None:
    """The recurring job, as the service runs it: the job's own transaction is not held
    across the sends either."""
    port, mailbox = held
    settings = settings_for(
        tmp_path,
        database_url=str(engine.url),
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        jobs_retention_minutes=None,
        jobs_journey_alerts_minutes=None,
        jobs_check_in_prompts_minutes=None,
        jobs_deliver_notifications_seconds=15,
    )
    sessions = session_factory(engine)
    async with sessions() as session:
        # Only the delivery job runs: the demo's meeting reminders are not under test.
        for job in await session.exec(select(ScheduledJob)):
            await session.delete(job)
        await session.commit()
    await notify(engine, CLIENT, Notice.new_messages)

    runner = JobRunner(sessions, Unheard(), settings=settings, clock=FrozenClock(NOON))
    tick = asyncio.create_task(runner.tick())
    try:
        await in_flight(mailbox)
        await asyncio.wait_for(save_plan(engine, "Look at the warehouse vacancies"), WAIT)
        assert not tick.done(), "the write waited for the send to end"
    finally:
        mailbox.release.set()
    report = await asyncio.wait_for(tick, WAIT)
    assert report.done >= 1 and report.failed == 0
    assert mailbox.wait_count(1)
    async with sessions() as session:
        [job] = await session.exec(select(ScheduledJob).where(ScheduledJob.kind == DELIVER))
        assert job.status == "done"
    [delivery] = await deliveries(engine)
    assert delivery.status == DeliveryStatus.sent


# --- a run that dies ---------------------------------------------------------------------------


@dataclass
class DyingSender:
    """An email sender whose process dies while the message is on its way: it never answers."""

    holding: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: EmailMessage) -> None:
        self.holding.set()
        await asyncio.Event().wait()  # cancelled with its run


async def test_a_claim_whose_run_died_is_taken_over_after_its_lease(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, notification_claim_seconds=120)
    lease = timedelta(seconds=settings.notification_claim_seconds)
    await notify(engine, CLIENT, Notice.new_messages)
    dying = DyingSender()
    run = asyncio.create_task(deliver(engine, NOON, channels_for(settings, dying), settings))
    await asyncio.wait_for(dying.holding.wait(), WAIT)
    run.cancel()  # the run dies with its claim committed and nothing recorded
    with pytest.raises(asyncio.CancelledError):
        await run
    [claimed] = await deliveries(engine)
    assert (claimed.status, claimed.attempts) == (DeliveryStatus.pending, 1)
    assert claimed.claimed_by is not None and claimed.claimed_until == NOON + lease

    with SmtpServer() as server:
        channels = email_channels(server.port, settings)
        # Within the lease another run leaves it alone, even at its last moment...
        early = await deliver(engine, NOON + lease - timedelta(microseconds=1), channels, settings)
        assert (early.sent, early.retrying, early.failed) == (0, 0, 0)
        assert server.mailbox.messages == []
        # ... and takes it over once the lease is over: sent, as a second attempt.
        later = await deliver(engine, NOON + lease, channels, settings)
        assert later.sent == 1
        assert server.mailbox.wait_for(CLIENT)
    [delivery] = await deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.claimed_by) == (
        DeliveryStatus.sent,
        2,
        None,
    )


async def test_a_run_slower_than_its_lease_does_not_record_over_the_run_that_took_over(
    engine: AsyncEngine, held: tuple[int, HoldingMailbox], tmp_path: Path
) -> None:
    port, mailbox = held
    settings = settings_for(tmp_path, notification_claim_seconds=60)
    await notify(engine, CLIENT, Notice.new_messages)
    slow = asyncio.create_task(deliver(engine, NOON, email_channels(port, settings), settings))
    try:
        await in_flight(mailbox)
        # Its lease over, a second run takes the row and finds the address refused for good.
        refusing = Mailbox()
        refusing.refused.add(CLIENT)
        with SmtpServer(refusing) as other:
            second = await deliver(
                engine, NOON + timedelta(seconds=60), email_channels(other.port, settings), settings
            )
        assert second.failed == 1
    finally:
        mailbox.release.set()
    first = await asyncio.wait_for(slow, WAIT)
    # The slow run's send went through, but the row is the second run's: it is left as that
    # run recorded it, and the slow run counts nothing.
    assert (first.sent, first.retrying, first.failed) == (0, 0, 0)
    [delivery] = await deliveries(engine)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.failed, 2)


# --- sends at once, within the bound -----------------------------------------------------------


@dataclass
class CountingSender:
    """Holds every message until ``release``; counts how many were in hand at once."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_hand: int = 0
    most: int = 0
    reached: dict[int, asyncio.Event] = field(default_factory=dict)

    def at(self, count: int) -> asyncio.Event:
        return self.reached.setdefault(count, asyncio.Event())

    async def send(self, message: EmailMessage) -> None:
        self.in_hand += 1
        self.most = max(self.most, self.in_hand)
        self.at(self.in_hand).set()
        try:
            await self.release.wait()
        finally:
            self.in_hand -= 1


@pytest.mark.parametrize("bound", [1, 3])
async def test_sends_go_at_once_up_to_the_bound(
    engine: AsyncEngine, tmp_path: Path, bound: int
) -> None:
    settings = settings_for(tmp_path, notification_send_concurrency=bound)
    for notice in (Notice.new_messages, Notice.questionnaire, Notice.check_in_due):
        await notify(engine, CLIENT, notice)
    sender = CountingSender()
    run = asyncio.create_task(deliver(engine, NOON, channels_for(settings, sender), settings))
    await asyncio.wait_for(sender.at(bound).wait(), WAIT)
    sender.release.set()
    report = await asyncio.wait_for(run, WAIT)
    assert report.sent == 3
    assert sender.most == bound
