"""Scheduled work (app/jobs): who sees the jobs and retries a failed one.

Jobs carry ids, never clinical content, but they are the running of the service: admins see
them. An organisation's jobs are its own admins'; the service's own work (no organisation:
retention, the journey scan) is every admin's, as it runs for all of them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_
from sqlmodel import col

from app.jobs.models import ScheduledJob
from app.users.models import Role, User
from auth.policies.decision import ALLOW, Decision


def can_manage_jobs(user: User) -> Decision:
    if user.role == Role.admin and user.is_active:
        return ALLOW
    return Decision(False, "only admins see and retry scheduled jobs")


def job_is_visible(user: User, organisation_id: uuid.UUID | None) -> bool:
    """The Python form of ``visible_to``."""
    return organisation_id is None or organisation_id == user.organisation_id


def visible_to(user: User) -> Any:
    """The SQL form of ``job_is_visible``: a condition on ``scheduled_job``."""
    return or_(
        col(ScheduledJob.organisation_id).is_(None),
        col(ScheduledJob.organisation_id) == user.organisation_id,
    )
