"""The jobs table's SQL: scheduling, claiming with a lease, finishing, retrying, listing.

Claiming is one transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so processes
claiming at once take different jobs without waiting on each other; on SQLite (one process) the
clause is left out and the transaction's write lock (``BEGIN IMMEDIATE``, app/db.py) serialises
claims instead. A job's attempt runs in a transaction that first locks its row, still claimed
by this process, and marks it done in the same commit as the handler's work (``finish``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clock import as_utc
from app.config import Settings, get_settings
from app.errors import Conflict, NotFound
from app.jobs import rules
from app.jobs.models import JobStatus, ScheduledJob
from app.jobs.registry import HANDLERS, RECURRING, JobError
from app.pagination import paginate
from app.users.models import User
from auth.policies import jobs as jobs_policies

ERROR_CHARS = 200


class JobNotFound(NotFound):
    title = "Job not found"


class JobNotFailed(Conflict):
    slug, title = "job-not-failed", "Only a failed job can be retried"


class UnknownJobKind(ValueError):
    """``schedule`` was given a kind no handler is registered for."""


async def schedule(
    session: AsyncSession,
    kind: str,
    *,
    run_at: datetime,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
    max_attempts: int | None = None,
    organisation_id: uuid.UUID | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> bool:
    """Schedule a job of ``kind`` at ``run_at`` in the caller's transaction: it exists only if
    the caller commits. With a ``key``, a job already scheduled under that key (by anyone,
    queued or finished) is kept and nothing is added. Returns whether a job was added.

    ``payload`` is JSON of ids and settings only, never clinical content (admins see jobs)."""
    if kind not in HANDLERS:
        raise UnknownJobKind(f"no handler is registered for {kind!r}")
    attempts = max_attempts or (settings or get_settings()).jobs_max_attempts
    values = {
        "id": uuid.uuid4(),
        "kind": kind,
        "key": key,
        "payload": payload or {},
        "organisation_id": organisation_id,
        "status": JobStatus.queued,
        "run_at": run_at,
        "attempts": 0,
        "max_attempts": attempts,
        "created_at": now or run_at,
    }
    table = ScheduledJob.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    result = await session.exec(insert.values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)


async def schedule_recurring(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Schedule each recurring job for the slot ``now`` falls in, once whoever asks (the key
    is the kind and the slot). A process that starts after slots were missed schedules the
    current one only: recurring work catches up once, not once per missed slot."""
    added = 0
    for recurring in RECURRING.values():
        every = recurring.every(settings)
        if every is None:
            continue
        due = rules.slot(now, every)
        added += await schedule(
            session,
            recurring.kind,
            run_at=due,
            key=rules.recurring_key(recurring.kind, due),
            now=now,
            settings=settings,
        )
    return added


def _claimable(now: datetime) -> Any:
    return or_(
        and_(col(ScheduledJob.status) == JobStatus.queued, col(ScheduledJob.run_at) <= now),
        and_(col(ScheduledJob.status) == JobStatus.running, col(ScheduledJob.lease_until) < now),
    )


async def anything_to_do(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Whether a tick has work: a recurring job's current slot not yet scheduled, a job to
    claim (due, or its lease over: also where abandoned ones are failed), or a finished job to
    purge. Reads only, so an idle tick takes no write lock (on SQLite, ``BEGIN IMMEDIATE``
    with a commit to disk every poll, in the way of every request that writes)."""
    keys = []
    for recurring in RECURRING.values():
        every = recurring.every(settings)
        if every is not None:
            keys.append(rules.recurring_key(recurring.kind, rules.slot(now, every)))
    if keys:
        found = await session.exec(select(ScheduledJob.key).where(col(ScheduledJob.key).in_(keys)))
        if len(set(found.all())) < len(keys):
            return True
    cutoff = now - timedelta(days=settings.jobs_keep_finished_days)
    waiting = await session.exec(
        select(ScheduledJob.id)
        .where(
            or_(
                _claimable(now),
                and_(
                    col(ScheduledJob.status) == JobStatus.done,
                    col(ScheduledJob.finished_at) < cutoff,
                ),
            )
        )
        .limit(1)
    )
    return waiting.first() is not None


async def due_count(session: AsyncSession, now: datetime) -> int:
    """How many jobs could be claimed now (the job queue's depth, for the metrics)."""
    found = await session.exec(
        select(func.count()).select_from(ScheduledJob).where(_claimable(now))
    )
    return int(found.one())


async def fail_abandoned(session: AsyncSession, now: datetime) -> int:
    """Jobs whose process died holding them on their last attempt: failed, not run again."""
    result = await session.exec(
        update(ScheduledJob)
        .where(
            col(ScheduledJob.status) == JobStatus.running,
            col(ScheduledJob.lease_until) < now,
            col(ScheduledJob.attempts) >= col(ScheduledJob.max_attempts),
        )
        .values(
            status=JobStatus.failed,
            claimed_by=None,
            lease_until=None,
            finished_at=now,
            last_error="lease expired: the process running it stopped",
        )
    )
    return int(result.rowcount or 0)


async def claim(
    session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[ScheduledJob]:
    """Claim up to ``limit`` due jobs (queued and due, or running with an expired lease), the
    earliest due first, for ``worker`` until ``now + lease``; each claim is an attempt."""
    rows = await session.exec(
        select(ScheduledJob.id)
        .where(_claimable(now))
        .order_by(col(ScheduledJob.run_at), col(ScheduledJob.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(rows.all())
    if not ids:
        return []
    await session.exec(
        update(ScheduledJob)
        .where(col(ScheduledJob.id).in_(ids))
        .values(
            status=JobStatus.running,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=ScheduledJob.attempts + 1,
        )
    )
    found = await session.exec(
        select(ScheduledJob)
        .where(col(ScheduledJob.id).in_(ids))
        .order_by(col(ScheduledJob.run_at), col(ScheduledJob.id))
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def hold(session: AsyncSession, *, job_id: uuid.UUID, worker: str) -> ScheduledJob | None:
    """Lock the job for this attempt, if ``worker`` still holds it (its lease may have ended
    and another process taken it). Held until the attempt's transaction ends, so no other
    process can claim it meanwhile."""
    rows = await session.exec(
        select(ScheduledJob)
        .where(
            col(ScheduledJob.id) == job_id,
            col(ScheduledJob.claimed_by) == worker,
            col(ScheduledJob.status) == JobStatus.running,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return rows.first()


def finish(job: ScheduledJob, now: datetime) -> None:
    job.status = JobStatus.done
    job.claimed_by = None
    job.lease_until = None
    job.last_error = None
    job.finished_at = now


def error_text(exc: BaseException) -> str:
    """What is recorded of a failure: a ``JobError``'s own words, else the exception's class
    only (its message may quote stored data)."""
    text = str(exc) if isinstance(exc, JobError) else type(exc).__name__
    return text[:ERROR_CHARS]


async def record_failure(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    worker: str,
    now: datetime,
    error: str,
    settings: Settings,
) -> ScheduledJob | None:
    """After a failed attempt: queued again after the backoff, or failed when out of attempts."""
    job = await hold(session, job_id=job_id, worker=worker)
    if job is None:
        return None
    job.claimed_by = None
    job.lease_until = None
    job.last_error = error
    if job.attempts >= job.max_attempts:
        job.status = JobStatus.failed
        job.finished_at = now
    else:
        job.status = JobStatus.queued
        job.run_at = now + rules.backoff(
            job.attempts,
            base_seconds=settings.jobs_retry_base_seconds,
            max_seconds=settings.jobs_retry_max_seconds,
        )
    session.add(job)
    await session.flush()
    return job


async def purge_finished(session: AsyncSession, *, before: datetime) -> int:
    """Remove done jobs finished before ``before`` (failed ones stay for an admin)."""
    result = await session.exec(
        delete(ScheduledJob).where(
            col(ScheduledJob.status) == JobStatus.done, col(ScheduledJob.finished_at) < before
        )
    )
    return int(result.rowcount or 0)


# --- what admins see -------------------------------------------------------------------------

SHOWN = (JobStatus.queued, JobStatus.running, JobStatus.failed)


async def list_jobs(
    session: AsyncSession,
    *,
    viewer: User,
    statuses: Sequence[JobStatus] = SHOWN,
    limit: int,
    offset: int,
) -> tuple[list[ScheduledJob], int]:
    """The jobs ``viewer`` may see (``auth.policies.jobs``) in ``statuses``: failed first,
    then by when they are next due."""
    query = select(ScheduledJob).where(
        col(ScheduledJob.status).in_(list(statuses)), jobs_policies.visible_to(viewer)
    )
    failed_first = col(ScheduledJob.status) != JobStatus.failed
    return await paginate(
        session,
        query,
        failed_first,
        col(ScheduledJob.run_at),
        col(ScheduledJob.id),
        limit=limit,
        offset=offset,
    )


async def get_visible(session: AsyncSession, *, job_id: uuid.UUID, viewer: User) -> ScheduledJob:
    """The job, if ``viewer`` may see it; else not found (whether it exists elsewhere is not
    theirs to learn)."""
    job = await session.get(ScheduledJob, job_id)
    if job is None or not jobs_policies.job_is_visible(viewer, job.organisation_id):
        raise JobNotFound()
    return job


async def retry(session: AsyncSession, *, job: ScheduledJob, now: datetime) -> ScheduledJob:
    """A failed job queued again at once, with a fresh set of attempts."""
    if job.status != JobStatus.failed:
        raise JobNotFailed(f"This job is {job.status}; only a failed job can be retried.")
    job.status = JobStatus.queued
    job.run_at = now
    job.attempts = 0
    job.finished_at = None
    session.add(job)
    await session.flush()
    return job


async def status_of(session: AsyncSession, key: str) -> JobStatus | None:
    """The status of the job scheduled under ``key``, if there is one."""
    found = await state_of(session, key)
    return None if found is None else found[0]


async def state_of(session: AsyncSession, key: str) -> tuple[JobStatus, datetime] | None:
    """The status and run time of the job scheduled under ``key``, if there is one."""
    rows = await session.exec(
        select(ScheduledJob.status, ScheduledJob.run_at).where(ScheduledJob.key == key)
    )
    found = rows.first()
    return None if found is None else (JobStatus(found[0]), as_utc(found[1]))
