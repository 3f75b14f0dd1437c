"""The job runner: one per process that runs jobs (each server, or ``teamwell run-jobs``).

Each ``tick``: schedule the recurring jobs' current slots, fail jobs abandoned on their last
attempt, claim a batch of due jobs with a lease, and run them one by one, each in its own
transaction that holds the job's row, runs the handler and marks the job done in one commit
(events announced by the handler are published after it). A failure is recorded in a
transaction of its own: queued again after the backoff, or failed. The loop ticks every
``jobs_poll_seconds``, and at once again while it keeps finding a full batch.

Everything takes its time from the injected clock, so tests call ``tick()`` with a frozen
clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

import app.jobs.kinds  # noqa: F401  (every handler registered)
from app import events, metrics
from app.clock import Clock
from app.config import Settings
from app.context import Actor, Context
from app.db import read_only
from app.errors import is_outage
from app.jobs import service
from app.jobs.models import ScheduledJob
from app.jobs.registry import HANDLERS, OUTSIDE_TRANSACTION, Handler, JobContext

log = logging.getLogger("teamwell.jobs")
# How long a stopping process waits for the job in hand (a server's shutdown waits with it).
STOP_SECONDS = 10.0
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="teamwell-jobs")


def worker_name() -> str:
    """This process, as ``claimed_by`` names it: host, process id and a random tail (a process
    id can come back after a restart)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class TickReport:
    scheduled: int = 0
    claimed: int = 0
    done: int = 0
    failed: int = 0  # attempts that failed (retried later, or failed for good)


class JobRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: events.Publisher,
        *,
        settings: Settings,
        clock: Clock,
        worker: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.worker = worker or worker_name()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="job runner")

    async def stop(self) -> None:
        """Stop after the job in hand, or cancel it after ``STOP_SECONDS``: its transaction
        rolls back and another process runs it again once its lease is over."""
        self._stopping.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            if not done:
                log.warning("jobs: the job in hand did not finish in time; cancelled")
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            report = await self._tick_or_log()
            if report is not None and report.claimed >= self.settings.jobs_batch_size:
                continue  # more may be due: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=self.settings.jobs_poll_seconds
                )

    async def _tick_or_log(self) -> TickReport | None:
        try:
            return await self.tick()
        except Exception as exc:
            if is_outage(exc):
                log.warning("jobs: the database is away or not migrated: %r", exc)
            else:
                log.exception("jobs: a tick failed")
            return None

    # --- one tick ----------------------------------------------------------------------------

    async def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock.now()
        async with self.sessions() as session:
            read_only(session)
            if not await service.anything_to_do(session, self.settings, now):
                # Nothing claimable: an empty queue, and a runner that is alive.
                metrics.JOBS_DUE.set(0)
                metrics.JOBS_LAST_TICK.set(time.time())
                return report
        async with self.sessions() as session:
            report.scheduled = await service.schedule_recurring(session, self.settings, now)
            await service.fail_abandoned(session, now)
            await service.purge_finished(
                session, before=now - timedelta(days=self.settings.jobs_keep_finished_days)
            )
            await session.commit()
        async with self.sessions() as session:
            claimed = await service.claim(
                session,
                worker=self.worker,
                now=now,
                lease=timedelta(seconds=self.settings.jobs_lease_seconds),
                limit=self.settings.jobs_batch_size,
            )
            due = await service.due_count(session, now)
            await session.commit()
        report.claimed = len(claimed)
        # The depth before this tick takes its share, and that the runner is alive: a due
        # count that stays up while the last tick grows old is a stuck queue.
        metrics.JOBS_DUE.set(due + report.claimed)
        metrics.JOBS_LAST_TICK.set(time.time())
        for job in claimed:
            if self._stopping.is_set():
                break  # the rest go back to others when their lease ends
            if await self.run_one(job):
                report.done += 1
            else:
                report.failed += 1
        return report

    async def run_one(self, job: ScheduledJob) -> bool:
        """One attempt of a claimed job; True when it is done."""
        run = HANDLERS.get(job.kind)
        try:
            if job.kind in OUTSIDE_TRANSACTION and run is not None:
                if await self._run_outside(job, run):
                    metrics.job_run(_kind_label(job.kind), done=True)
                return True
            async with events.transaction(self.sessions, self.publisher) as session:
                held = await service.hold(session, job_id=job.id, worker=self.worker)
                if held is None:
                    log.warning("jobs: %s %s was taken over before it ran", job.kind, job.id)
                    return True
                if run is None:
                    raise LookupError(f"no handler is registered for {job.kind!r}")
                await run(self._context(held, session))
                service.finish(held, self.clock.now())
                session.add(held)
            metrics.job_run(_kind_label(job.kind), done=True)
            return True
        except Exception as exc:
            error = service.error_text(exc)
            log.warning("jobs: %s %s attempt %d failed: %s", job.kind, job.id, job.attempts, error)
            metrics.job_run(_kind_label(job.kind), done=False)
            async with self.sessions() as session:
                await service.record_failure(
                    session,
                    job_id=job.id,
                    worker=self.worker,
                    now=self.clock.now(),
                    error=error,
                    settings=self.settings,
                )
                await session.commit()
            return False

    async def _run_outside(self, job: ScheduledJob, run: Handler) -> bool:
        """A handler that waits on the network, with no transaction held while it runs: the
        job is checked to be still this worker's, then run, then held and marked done. True
        when this worker finished it; False when another took it over (nothing to retry)."""
        async with self.sessions() as session:
            held = await service.hold(session, job_id=job.id, worker=self.worker)
            await session.commit()
        if held is None:
            log.warning("jobs: %s %s was taken over before it ran", job.kind, job.id)
            return False
        async with events.transaction(self.sessions, self.publisher) as session:
            await run(self._context(held, session, sessions=self.sessions))
            done = await service.hold(session, job_id=job.id, worker=self.worker)
            if done is None:
                log.warning("jobs: %s %s was taken over while it ran", job.kind, job.id)
                return False
            service.finish(done, self.clock.now())
            session.add(done)
        return True

    def _context(
        self,
        held: ScheduledJob,
        session: AsyncSession,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> JobContext:
        return JobContext(
            session=session,
            ctx=Context(actor=SYSTEM, clock=self.clock),
            payload=dict(held.payload),
            settings=self.settings,
            job_id=held.id,
            attempt=held.attempts,
            sessions=sessions,
        )


def _kind_label(kind: str) -> str:
    # Only the registered kinds name a series; anything else (a row of an older release) is one.
    return kind if kind in HANDLERS else "other"
