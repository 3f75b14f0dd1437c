"""Scheduled work (app/jobs) on SQLite and PostgreSQL, in process with a frozen clock: a job
exists only if its scheduler commits, runs once when due, retries with backoff and then fails,
is taken over after its lease, and recurring jobs are scheduled once per slot whoever asks.
Then the first real jobs: the IPS journey alerts and retention, on the demo data.

tests/app/jobs/test_jobs_processes.py runs the same runner in separate processes over PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.alerts.events import AlertRaised
from app.alerts.models import Alert
from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.config import Settings
from app.context import Context
from app.db import create_engine, session_factory
from app.ips.jobs import JOURNEY_ALERTS
from app.ips.service import JOURNEY_ALERT_KINDS
from app.jobs import rules, service
from app.jobs import runner as runner_module
from app.jobs.models import JobStatus, ScheduledJob
from app.jobs.registry import HANDLERS, JobContext, JobError, handler
from app.jobs.runner import SYSTEM, JobRunner
from app.migrate import upgrade_async
from app.retention.jobs import RETENTION
from app.supervision import check_ins
from app.supervision.events import CheckInDue
from app.supervision.jobs import PROMPT
from app.supervision.service import SupervisionSettings
from realtime import protocol as p
from tests.conftest import base_env, fresh_database, teamwell_cli
from tests.support.demo import copy_demo, demo_database

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = 10.0  # seconds before the first retry


@dataclass
class Calls:
    """What the test handlers did, by job id."""

    runs: dict[uuid.UUID, int] = field(default_factory=dict)
    fail_until: dict[uuid.UUID, int] = field(default_factory=dict)


CALLS = Calls()
SEEN = uuid.uuid4()


class Noted(events.Event):
    frame: p.Receipt


@handler("test.ok")
async def _ok(job: JobContext) -> None:
    CALLS.runs[job.job_id] = CALLS.runs.get(job.job_id, 0) + 1
    events.announce(
        job.session,
        Noted(
            to=frozenset({SEEN}),
            frame=p.Receipt(conversation_id=job.job_id, user_id=SEEN, seq=job.attempt),
        ),
    )


@handler("test.flaky")
async def _flaky(job: JobContext) -> None:
    """Fails (after announcing, so the event must be dropped) for its first ``fail_until``
    runs; the failure's text quotes data that must not be recorded."""
    await _ok(job)
    if CALLS.runs[job.job_id] <= CALLS.fail_until.get(job.job_id, 0):
        raise RuntimeError("Alex Morgan scored 27 on the PHQ-9")


STARTED = asyncio.Event()


@handler("test.stuck")
async def _stuck(job: JobContext) -> None:
    """Never finishes on its first attempt (a handler waiting on something that never comes)."""
    if job.attempt == 1:
        STARTED.set()
        await asyncio.Event().wait()
    await _ok(job)


@handler("test.explained")
async def _explained(job: JobContext) -> None:
    raise JobError("the SMTP server refused the connection")


class Recorder:
    def __init__(self) -> None:
        self.events: list[events.Event] = []

    async def publish(self, event: events.Event) -> None:
        self.events.append(event)


@dataclass
class Db:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    settings: Settings
    published: Recorder

    def runner(self, worker: str = "one", **changes: Any) -> JobRunner:
        settings = self.settings.model_copy(update=changes) if changes else self.settings
        return JobRunner(
            self.sessions, self.published, settings=settings, clock=self.clock, worker=worker
        )

    async def schedule(self, kind: str, **kw: Any) -> uuid.UUID:
        async with self.sessions() as session:
            kw.setdefault("run_at", self.clock.now())
            assert await service.schedule(session, kind, settings=self.settings, **kw)
            await session.commit()
        return await self.only(kind)

    async def only(self, kind: str) -> uuid.UUID:
        [job] = await self.jobs(kind)
        return job.id

    async def jobs(self, kind: str) -> list[ScheduledJob]:
        async with self.sessions() as session:
            rows = await session.exec(select(ScheduledJob).where(ScheduledJob.kind == kind))
            return list(rows.all())

    async def job(self, job_id: uuid.UUID) -> ScheduledJob:
        async with self.sessions() as session:
            found = await session.get(ScheduledJob, job_id)
            assert found is not None
            return found


def quiet_settings(tmp_path: Path, url: str) -> Settings:
    """No recurring jobs of the service (those have their own tests below)."""
    return Settings(
        data_dir=tmp_path,
        database_url=url,
        jobs_retry_base_seconds=BASE,
        jobs_retry_max_seconds=BASE * 3,
        jobs_lease_seconds=60,
        jobs_max_attempts=3,
        jobs_retention_minutes=None,
        jobs_journey_alerts_minutes=None,
        jobs_check_in_prompts_minutes=None,
        jobs_deliver_notifications_seconds=None,
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    url = fresh_database(request, tmp_path, "jobs")
    await upgrade_async(url)
    settings = quiet_settings(tmp_path, url)
    engine = create_engine(settings)
    CALLS.runs.clear()
    yield Db(engine, session_factory(engine), FrozenClock(NOW), settings, Recorder())
    await engine.dispose()


# --- pure rules and settings ---------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [rules.backoff(n, base_seconds=30, max_seconds=100).total_seconds() for n in (1, 2, 3)]
    assert waits == [30, 60, 100]
    assert rules.backoff(10_000, base_seconds=30, max_seconds=3600) == timedelta(hours=1)
    with pytest.raises(ValueError, match="at least 1"):
        rules.backoff(0, base_seconds=30, max_seconds=100)


def test_a_slot_starts_on_its_boundary_and_ends_just_before_the_next() -> None:
    hour = timedelta(hours=1)
    assert rules.slot(NOW, hour) == NOW
    assert rules.slot(NOW + hour - timedelta(microseconds=1), hour) == NOW
    assert rules.slot(NOW + hour, hour) == NOW + hour
    assert rules.recurring_key("k", NOW) == "k@2026-03-02T09:00:00+00:00"
    with pytest.raises(ValueError, match="positive"):
        rules.slot(NOW, timedelta(0))


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [
        ("jobs_poll_seconds", 0.01, 3600),
        ("jobs_batch_size", 1, 1000),
        ("jobs_lease_seconds", 1, 24 * 3600),
        ("jobs_max_attempts", 1, 100),
        ("jobs_retry_base_seconds", 0, 24 * 3600),
        ("jobs_retry_max_seconds", 0, 7 * 24 * 3600),
        ("jobs_keep_finished_days", 2, 3650),
        ("jobs_journey_alerts_minutes", 1, 24 * 60),
        ("jobs_retention_minutes", 1, 24 * 60),
        ("jobs_check_in_prompts_minutes", 1, 24 * 60),
    ],
)
def test_job_settings_at_their_edges(name: str, lowest: float, highest: float) -> None:
    step = 0.01 if isinstance(lowest, float) else 1
    assert getattr(Settings(**{name: lowest}), name) == lowest
    assert getattr(Settings(**{name: highest}), name) == highest
    for wrong in (lowest - step, highest + step):
        with pytest.raises(ValidationError):
            Settings(**{name: wrong})


@pytest.mark.parametrize(
    "name",
    ["jobs_journey_alerts_minutes", "jobs_retention_minutes", "jobs_check_in_prompts_minutes"],
)
def test_an_empty_period_turns_a_recurring_job_off(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"TEAMWELL_{name.upper()}", "")
    assert getattr(Settings(), name) is None
    monkeypatch.setenv(f"TEAMWELL_{name.upper()}", "15")
    assert getattr(Settings(), name) == 15


def test_the_first_jobs_are_registered_and_a_kind_is_registered_once() -> None:
    assert {JOURNEY_ALERTS, RETENTION} <= set(HANDLERS)
    with pytest.raises(ValueError, match="registered already"):
        handler("test.ok")(_ok)


# --- the runner on a database ----------------------------------------------------------------


async def test_a_job_exists_only_if_its_scheduler_commits_and_a_key_is_scheduled_once(
    db: Db,
) -> None:
    async with db.sessions() as session:
        await service.schedule(session, "test.ok", run_at=NOW, settings=db.settings)
        await session.rollback()
    assert await db.jobs("test.ok") == []
    for _ in range(2):
        async with db.sessions() as session:
            await service.schedule(session, "test.ok", run_at=NOW, key="once", settings=db.settings)
            await session.commit()
    assert len(await db.jobs("test.ok")) == 1
    with pytest.raises(service.UnknownJobKind):
        async with db.sessions() as session:
            await service.schedule(session, "test.nobody", run_at=NOW)


async def test_a_due_job_runs_once_and_a_later_one_waits_for_its_time(db: Db) -> None:
    soon = await db.schedule("test.ok", run_at=NOW + timedelta(minutes=5), key="later")
    runner = db.runner()
    assert (await runner.tick()).claimed == 0
    db.clock.advance(minutes=5)
    report = await runner.tick()
    assert (report.claimed, report.done) == (1, 1)
    assert (await runner.tick()).claimed == 0
    assert CALLS.runs == {soon: 1}
    job = await db.job(soon)
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.done, 1, db.clock.now())
    assert job.claimed_by is None and job.lease_until is None
    # Its event went out after the commit.
    [event] = db.published.events
    assert isinstance(event, Noted) and event.frame.conversation_id == soon


async def test_a_failing_job_backs_off_then_fails_and_an_admin_retry_runs_it(db: Db) -> None:
    job_id = await db.schedule("test.flaky")
    CALLS.fail_until[job_id] = 3
    runner = db.runner()
    expected_waits = [BASE, BASE * 2]  # then out of attempts (3)
    for attempt, wait in enumerate(expected_waits, start=1):
        assert (await runner.tick()).failed == 1
        job = await db.job(job_id)
        assert (job.status, job.attempts) == (JobStatus.queued, attempt)
        assert job.run_at == db.clock.now() + timedelta(seconds=wait)
        # Only the error's kind is kept: its message quoted stored data.
        assert job.last_error == "RuntimeError"
        db.clock.advance(seconds=wait - 0.001)
        assert (await runner.tick()).claimed == 0  # not before its time
        db.clock.advance(seconds=0.001)
    assert (await runner.tick()).failed == 1
    job = await db.job(job_id)
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.failed, 3, db.clock.now())
    db.clock.advance(days=30)
    assert (await runner.tick()).claimed == 0  # failed stays failed
    # What the failed attempts announced was dropped with their transactions.
    assert db.published.events == []

    async with db.sessions() as session:
        found = await session.get(ScheduledJob, job_id)
        assert found is not None
        await service.retry(session, job=found, now=db.clock.now())
        await session.commit()
    async with db.sessions() as session:
        found = await session.get(ScheduledJob, job_id)
        assert found is not None
        with pytest.raises(service.JobNotFailed):
            await service.retry(session, job=found, now=db.clock.now())
    assert (await runner.tick()).done == 1
    job = await db.job(job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.done, 1, None)
    assert CALLS.runs[job_id] == 4
    [event] = db.published.events
    assert isinstance(event, Noted) and event.frame.seq == 1


async def test_a_job_error_keeps_its_own_words(db: Db) -> None:
    job_id = await db.schedule("test.explained", max_attempts=1)
    await db.runner().tick()
    job = await db.job(job_id)
    assert (job.status, job.last_error) == (
        JobStatus.failed,
        "the SMTP server refused the connection",
    )


async def test_a_job_left_by_a_dead_process_is_taken_over_after_its_lease(db: Db) -> None:
    job_id = await db.schedule("test.ok")
    # A process claims it and dies before running it.
    async with db.sessions() as session:
        [claimed] = await service.claim(
            session, worker="dead", now=NOW, lease=timedelta(seconds=60), limit=10
        )
        await session.commit()
    assert claimed.id == job_id
    other = db.runner("other")
    db.clock.advance(seconds=60)
    assert (await other.tick()).claimed == 0  # the lease ends after, not at, its last instant
    db.clock.advance(seconds=0.001)
    assert (await other.tick()).done == 1
    job = await db.job(job_id)
    assert (job.status, job.attempts) == (JobStatus.done, 2)
    # The dead process, back, finds it is no longer its job.
    async with db.sessions() as session:
        assert await service.hold(session, job_id=job_id, worker="dead") is None


async def test_a_stopping_runner_cancels_a_stuck_job_which_another_takes_over(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "STOP_SECONDS", 0.05)
    STARTED.clear()
    job_id = await db.schedule("test.stuck")
    stopping = db.runner("stopping")
    stopping.start()
    await asyncio.wait_for(STARTED.wait(), timeout=30)
    await asyncio.wait_for(stopping.stop(), timeout=30)
    job = await db.job(job_id)
    assert (job.status, job.claimed_by, job.attempts) == (JobStatus.running, "stopping", 1)
    db.clock.advance(seconds=61)  # past the lease
    assert (await db.runner("other").tick()).done == 1
    assert (await db.job(job_id)).status == JobStatus.done


async def test_a_job_abandoned_on_its_last_attempt_fails(db: Db) -> None:
    job_id = await db.schedule("test.ok", max_attempts=1)
    async with db.sessions() as session:
        await service.claim(session, worker="dead", now=NOW, lease=timedelta(seconds=1), limit=1)
        await session.commit()
    db.clock.advance(seconds=2)
    assert (await db.runner().tick()).claimed == 0
    job = await db.job(job_id)
    assert job.status == JobStatus.failed and job.last_error is not None
    assert "lease expired" in job.last_error
    assert CALLS.runs == {}


async def test_jobs_due_while_nobody_ran_run_at_the_next_start_earliest_first(db: Db) -> None:
    for minutes in (30, 10, 20):
        async with db.sessions() as session:
            await service.schedule(
                session, "test.ok", run_at=NOW + timedelta(minutes=minutes), settings=db.settings
            )
            await session.commit()
    db.clock.advance(days=3)  # every process was down
    report = await db.runner(jobs_batch_size=2).tick()
    assert (report.claimed, report.done) == (2, 2)
    done = sorted((j.run_at, j.status) for j in await db.jobs("test.ok"))
    assert [s for _, s in done] == [JobStatus.done, JobStatus.done, JobStatus.queued]
    assert (await db.runner().tick()).done == 1


async def test_recurring_jobs_are_scheduled_once_per_slot_by_any_number_of_processes(
    db: Db,
) -> None:
    hourly = {"jobs_journey_alerts_minutes": 60}
    first, second = db.runner("a", **hourly), db.runner("b", **hourly)
    assert (await first.tick()).scheduled == 1
    assert (await second.tick()).scheduled == 0
    db.clock.advance(minutes=59)
    assert (await first.tick()).scheduled == 0
    db.clock.advance(minutes=1)
    assert (await second.tick()).scheduled == 1
    slots = sorted(j.run_at for j in await db.jobs(JOURNEY_ALERTS))
    assert slots == [NOW, NOW + timedelta(hours=1)]
    # Finished jobs are kept for the configured days (a slot's key with them), then removed.
    db.clock.advance(days=db.settings.jobs_keep_finished_days, minutes=1)
    await first.tick()
    assert [j.run_at for j in await db.jobs(JOURNEY_ALERTS)] == [db.clock.now().replace(minute=0)]


# --- the first jobs on the demo data -------------------------------------------------------------


@pytest.fixture(scope="module")
async def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await demo_database(tmp_path_factory, "jobs-demo", SYSTEM, NOW)


@pytest.fixture
async def demo(demo_file: Path, tmp_path: Path) -> AsyncIterator[Db]:
    settings = quiet_settings(tmp_path, copy_demo(demo_file, tmp_path))
    engine = create_engine(settings)
    yield Db(engine, session_factory(engine), FrozenClock(NOW), settings, Recorder())
    await engine.dispose()


async def journey_alerts(db: Db) -> list[Alert]:
    async with db.sessions() as session:
        rows = await session.exec(select(Alert).where(col(Alert.kind).in_(JOURNEY_ALERT_KINDS)))
        return list(rows.all())


async def test_due_journey_alerts_are_raised_by_the_job_once_and_announced(demo: Db) -> None:
    runner = demo.runner(jobs_journey_alerts_minutes=60)
    await runner.tick()
    before = await journey_alerts(demo)
    # Long after the demo clients joined: every open case with no employer contact is overdue.
    demo.clock.advance(days=120)
    await runner.tick()
    raised = [a for a in await journey_alerts(demo) if a not in before]
    assert raised, "the demo has a case with no employer contact"
    announced = [e for e in demo.published.events if isinstance(e, AlertRaised)]
    assert {e.frame.alert.id for e in announced} >= {a.id for a in raised}
    for event in announced:
        [recipient] = event.to
        assert recipient == next(a.recipient_id for a in raised if a.id == event.frame.alert.id)
    # The next slot, the same day, raises nothing again (the journey page's rule: once per
    # lapse to each member of the care team).
    demo.clock.advance(hours=1)
    demo.published.events.clear()
    assert (await runner.tick()).done == 1
    assert [e for e in demo.published.events if isinstance(e, AlertRaised)] == []
    assert len(await journey_alerts(demo)) == len(before) + len(raised)


async def test_retention_runs_as_a_job_and_is_audited(demo: Db) -> None:
    runner = demo.runner(jobs_retention_minutes=24 * 60)
    assert (await runner.tick()).done >= 1
    [job] = await demo.jobs(RETENTION)
    assert job.status == JobStatus.done and job.organisation_id is None
    async with demo.sessions() as session:
        runs = await session.exec(select(AuditEvent).where(AuditEvent.action == "retention.run"))
        assert len(runs.all()) == 1


async def test_a_due_check_in_is_prompted_once_per_gap_to_the_person_only(demo: Db) -> None:
    runner = demo.runner(jobs_check_in_prompts_minutes=60)
    demo.clock.advance(days=30)  # past every demo person's cadence
    async with demo.sessions() as session:
        due = await check_ins.due_check_ins(
            session=session,
            ctx=Context(actor=SYSTEM, clock=demo.clock),
            settings=SupervisionSettings.of(demo.settings),
        )
    assert due, "the demo staff are due a check-in 30 days on"
    await runner.tick()  # the scan: one prompt job per person
    prompts = await demo.jobs(PROMPT)
    assert len(prompts) == len(due)
    owners = {d.user_id: d.organisation_id for d in due}
    assert {j.organisation_id for j in prompts} == set(owners.values())
    await runner.tick()  # the prompts
    told = [e for e in demo.published.events if isinstance(e, CheckInDue)]
    assert sorted(next(iter(e.to)) for e in told) == sorted(d.user_id for d in due)
    assert all(len(e.to) == 1 and e.frame.type == "wellbeing.check_in_due" for e in told)
    assert {e.frame.due_at for e in told} == {d.due_at for d in due}
    # The next scans find the same gaps: nobody is prompted again.
    demo.published.events.clear()
    for _ in range(3):
        demo.clock.advance(hours=1)
        await runner.tick()
    assert [e for e in demo.published.events if isinstance(e, CheckInDue)] == []
    assert len(await demo.jobs(PROMPT)) == len(due)


@pytest.mark.slow
def test_run_jobs_once_runs_what_is_due_and_a_second_round_finds_nothing(tmp_path: Path) -> None:
    env = base_env(tmp_path, f"sqlite:///{tmp_path / 'teamwell.db'}")
    # Delivery's period as long as the others', so the second round falls in the same slots.
    env["TEAMWELL_JOBS_DELIVER_NOTIFICATIONS_SECONDS"] = "3600"
    assert teamwell_cli(env, "migrate").returncode == 0
    first = teamwell_cli(env, "run-jobs", "--once")
    assert first.returncode == 0, first.stderr
    # The recurring jobs of a fresh service: journey alerts, retention, the documents'
    # retention, check-in prompts and notification delivery.
    assert "jobs: claimed=5 done=5 failed=0" in first.stdout
    again = teamwell_cli(env, "run-jobs", "--once")
    assert "jobs: claimed=0 done=0 failed=0" in again.stdout
