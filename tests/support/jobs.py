"""Put a job straight into a running server's database, as a runner would have left it (a
failed job, say), for the tests of what admins see of jobs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import create_engine, session_factory
from app.jobs.models import JobStatus, ScheduledJob


async def plant_job(database_url: str, data_dir: Path, **fields: Any) -> uuid.UUID:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "kind": "retention.run",
        "status": JobStatus.failed,
        "run_at": now - timedelta(hours=1),
        "attempts": 5,
        "max_attempts": 5,
        "last_error": "OperationalError",
        "created_at": now - timedelta(hours=2),
        "finished_at": now - timedelta(minutes=5),
        **fields,
    }
    engine = create_engine(Settings(data_dir=data_dir, database_url=database_url))
    try:
        async with session_factory(engine)() as session:
            job = ScheduledJob(**values)
            session.add(job)
            await session.commit()
            return job.id
    finally:
        await engine.dispose()
