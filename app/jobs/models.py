"""The jobs table: one row per piece of scheduled work, claimed by one process at a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class JobStatus(StrEnum):
    queued = "queued"  # waiting for ``run_at`` (or for its next attempt)
    running = "running"  # claimed by ``claimed_by`` until ``lease_until``
    done = "done"
    failed = "failed"  # out of attempts: waits for an admin's retry


class ScheduledJob(SQLModel, table=True):
    """One piece of work of a registered ``kind``, due at ``run_at``.

    ``key`` is unique: scheduling the same key twice stores one job (a recurring job's key is
    its kind and due slot, so two processes starting together schedule it once). ``payload``
    holds ids and settings only, never clinical content: admins see jobs, and errors are
    recorded by their class name only."""

    __tablename__ = "scheduled_job"

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=64, index=True)
    key: str | None = Field(default=None, max_length=200, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Whose work it is: an organisation's admins see its jobs; null is the service's own work
    # (retention, the journey scan), seen by every admin.
    organisation_id: uuid.UUID | None = Field(default=None, foreign_key="organisation.id")
    status: JobStatus = enum_field(JobStatus.queued, length=16, index=True)
    run_at: datetime = timestamp_field(index=True)
    attempts: int = 0
    max_attempts: int = Field(ge=1)
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = timestamp_field(nullable=True)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp_field()
    finished_at: datetime | None = timestamp_field(nullable=True, index=True)
