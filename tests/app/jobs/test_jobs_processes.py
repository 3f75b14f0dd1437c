"""The job runner across processes over one real PostgreSQL: each job runs exactly once
whichever process claims it, a process killed (SIGKILL) in the middle of a job leaves it to
the other once its lease is over, and jobs due while every process was down run when one
starts. Each worker is ``python -m tests.support.job_worker`` (the service's ``JobRunner``
with test handlers that record each run in a table, in the job's own transaction)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select

from app.config import Settings
from app.db import create_engine, session_factory
from app.jobs import service
from app.jobs.models import JobStatus, ScheduledJob
from app.migrate import upgrade_async
from tests.conftest import REPO_ROOT
from tests.support import job_worker
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.slow
job_worker.register()  # so this process may schedule the workers' kinds
WAIT = 120.0  # seconds: the bound on every wait below (they end as soon as the state is there)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until true, for at most ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not await check():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        await asyncio.sleep(0.05)


class Workers:
    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.markers = directory / "markers"
        self.markers.mkdir()
        self.running: list[subprocess.Popen[bytes]] = []

    def env(self, lease_seconds: float) -> dict[str, str]:
        return {
            **os.environ,
            "TEAMWELL_DATABASE_URL": self.url,
            "TEAMWELL_DATA_DIR": str(self.directory),
            "TEAMWELL_JOBS_POLL_SECONDS": "0.05",
            "TEAMWELL_JOBS_BATCH_SIZE": "20",
            "TEAMWELL_JOBS_LEASE_SECONDS": str(lease_seconds),
            "TEAMWELL_TEST_MARKERS": str(self.markers),
        }

    def launch(self, lease_seconds: float) -> subprocess.Popen[bytes]:
        with (self.directory / f"worker-{len(self.running)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.job_worker", str(self.markers)],
                env=self.env(lease_seconds),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        return process

    async def start(self, *, lease_seconds: float = 60) -> subprocess.Popen[bytes]:
        """A worker, once it has run its first round (so it is claiming)."""
        process = self.launch(lease_seconds)

        async def ready() -> bool:
            assert process.poll() is None, self.logs()
            return (self.markers / f"ready-{process.pid}").exists()

        await eventually(ready, "a worker ready")
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in self.directory.glob("worker-*.log"))

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def workers(url: str, directory: Path) -> Iterator[Workers]:
    running = Workers(url, directory)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
async def database(
    postgres: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[str, AsyncEngine]]:
    url = postgres.create_database(f"jobs_{uuid.uuid4().hex[:8]}")
    await upgrade_async(url)
    engine = create_engine(Settings(data_dir=tmp_path, database_url=url))
    async with engine.begin() as connection:
        await connection.execute(text(job_worker.RUNS_TABLE))
    yield url, engine
    await engine.dispose()


async def schedule(engine: AsyncEngine, kind: str, count: int, run_at: datetime) -> None:
    async with session_factory(engine)() as session:
        for _ in range(count):
            await service.schedule(session, kind, run_at=run_at, now=run_at)
        await session.commit()


async def count_jobs(engine: AsyncEngine, kind: str, status: JobStatus) -> int:
    async with session_factory(engine)() as session:
        found = await session.exec(
            select(func.count())
            .select_from(ScheduledJob)
            .where(col(ScheduledJob.kind) == kind, col(ScheduledJob.status) == status)
        )
        return int(found.one())


async def runs(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT job_id, worker, attempt FROM test_job_run"))
        return [(r[0], r[1], r[2]) for r in rows]


def now() -> datetime:
    return datetime.now(UTC)


async def test_a_thousand_due_jobs_run_exactly_once_across_two_processes(
    database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, engine = database
    with workers(url, tmp_path) as pool:
        first, second = await pool.start(), await pool.start()
        await schedule(engine, "test.record", 1000, now())

        async def all_done() -> bool:
            return await count_jobs(engine, "test.record", JobStatus.done) == 1000

        await eventually(all_done, "1,000 jobs done")
    recorded = await runs(engine)
    assert len(recorded) == 1000, pool.logs()
    assert len({job_id for job_id, _, _ in recorded}) == 1000  # none twice
    by_worker = {worker for _, worker, _ in recorded}
    assert by_worker == {str(first.pid), str(second.pid)}, "both processes took a share"
    assert {attempt for _, _, attempt in recorded} == {1}


async def test_a_job_whose_process_is_killed_is_run_by_the_other_after_its_lease(
    database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, engine = database
    lease = 2.0
    with workers(url, tmp_path) as pool:
        doomed = await pool.start(lease_seconds=lease)
        await schedule(engine, "test.hang", 1, now())
        markers = pool.markers

        async def hanging() -> bool:
            return any(markers.glob("hang-*"))

        await eventually(hanging, "the job started in the first process")
        [marker] = markers.glob("hang-*")
        assert marker.read_text() == str(doomed.pid)
        survivor = await pool.start(lease_seconds=lease)
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(timeout=30) == -signal.SIGKILL

        async def done() -> bool:
            return await count_jobs(engine, "test.hang", JobStatus.done) == 1

        await eventually(done, "the job taken over and done")
    [(job_id, worker, attempt)] = await runs(engine)
    assert (job_id, worker, attempt) == (marker.name.removeprefix("hang-"), str(survivor.pid), 2)
    async with session_factory(engine)() as session:
        job = await session.get(ScheduledJob, uuid.UUID(job_id))
        assert job is not None and job.attempts == 2 and job.claimed_by is None


async def test_jobs_due_while_every_process_was_down_run_when_one_starts(
    database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, engine = database
    with workers(url, tmp_path) as pool:
        first = await pool.start()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, pool.logs()
        # Due while nothing ran: an hour ago, and a minute ago.
        await schedule(engine, "test.record", 30, now() - timedelta(hours=1))
        await schedule(engine, "test.record", 30, now() - timedelta(minutes=1))
        assert await runs(engine) == []
        await pool.start()

        async def all_done() -> bool:
            return await count_jobs(engine, "test.record", JobStatus.done) == 60

        await eventually(all_done, "the jobs due during the downtime done")
    recorded = await runs(engine)
    assert len(recorded) == 60 and len({j for j, _, _ in recorded}) == 60
