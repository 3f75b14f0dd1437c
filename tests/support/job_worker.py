"""A job runner process for the tests, with test handlers registered.

    python -m tests.support.job_worker MARKER_DIR

Runs ``app.jobs.runner.JobRunner`` (settings from the environment, ``TEAMWELL_DATABASE_URL``
naming the shared database) until SIGTERM. Handlers:

* ``test.record``: inserts one row into ``test_job_run`` (job id, worker) in the job's own
  transaction, so a row exists exactly when the job was marked done.
* ``test.hang``: on its first attempt, writes ``MARKER_DIR/hang-<job id>`` and never finishes
  (the test kills the process there); on a later attempt it records a run as ``test.record``.

``MARKER_DIR/ready-<pid>`` is written after the first tick, so a test waits for both workers
before it schedules work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import text

from app.clock import SystemClock
from app.config import Settings
from app.db import create_engine, session_factory
from app.jobs.registry import JobContext, handler
from app.jobs.runner import JobRunner
from realtime.hub import Hub
from realtime.pubsub import create_pubsub

RUNS_TABLE = (
    "CREATE TABLE IF NOT EXISTS test_job_run (job_id varchar(36) NOT NULL, "
    "worker varchar(64) NOT NULL, attempt integer NOT NULL)"
)
MARKERS = Path(os.environ.get("TEAMWELL_TEST_MARKERS", "."))


async def record_run(job: JobContext) -> None:
    await job.session.exec(
        text("INSERT INTO test_job_run (job_id, worker, attempt) VALUES (:j, :w, :a)"),  # type: ignore[call-overload]
        params={"j": str(job.job_id), "w": str(os.getpid()), "a": job.attempt},
    )


def register() -> None:
    @handler("test.record")
    async def _record(job: JobContext) -> None:
        await record_run(job)

    @handler("test.hang")
    async def _hang(job: JobContext) -> None:
        if job.attempt == 1:
            (MARKERS / f"hang-{job.job_id}").write_text(str(os.getpid()))
            await asyncio.Event().wait()  # until the process is killed
        await record_run(job)


async def main(markers: Path) -> None:
    settings = Settings()
    engine = create_engine(settings)
    hub = Hub(create_pubsub(None))
    await hub.start()
    runner = JobRunner(session_factory(engine), hub, settings=settings, clock=SystemClock())
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await runner.tick()
    (markers / f"ready-{os.getpid()}").write_text(runner.worker)
    runner.start()
    await stopping.wait()
    await runner.stop()
    await hub.stop()
    await engine.dispose()


if __name__ == "__main__":
    MARKERS = Path(sys.argv[1])
    register()
    asyncio.run(main(MARKERS))
