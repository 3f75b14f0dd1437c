"""What the jobs API returns to admins: timing and state, never a payload (ids only, but
nothing an admin needs) and never more of an error than ``last_error`` (a class name or a
handler's own words, without clinical content)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.jobs.models import JobStatus


class ScheduledJobPublic(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="What the job does, e.g. `ips.journey_alerts`, `retention.run`")
    status: JobStatus
    run_at: datetime = Field(
        description="When it is due: its first run, or its next attempt after a failure"
    )
    attempts: int = Field(description="Attempts made so far (a claim is an attempt)")
    max_attempts: int
    last_error: str | None = Field(
        description="Why the last attempt failed: the error's kind, never stored data"
    )
    lease_until: datetime | None = Field(
        description="While running: when another process may take it over"
    )
    created_at: datetime
    finished_at: datetime | None
    organisation_id: uuid.UUID | None = Field(
        description="The organisation whose work it is; null for the service's own work"
    )
