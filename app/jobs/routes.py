"""Scheduled work, for admins: what is queued, running or failed, and retrying a failed job
(docs/api.md, "Scheduled jobs")."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.db import SessionDep
from app.jobs import service
from app.jobs.models import JobStatus, ScheduledJob
from app.jobs.schemas import ScheduledJobPublic
from app.pagination import Page, PageDep
from auth.deps import JobManager

router = APIRouter(prefix="/admin/jobs", tags=["jobs"])


def _public(job: ScheduledJob) -> ScheduledJobPublic:
    return ScheduledJobPublic.model_validate(job, from_attributes=True)


@router.get("", response_model=Page[ScheduledJobPublic])
async def list_jobs(
    principal: JobManager, session: SessionDep, page: PageDep, status: JobStatus | None = None
) -> Page[ScheduledJobPublic]:
    """Scheduled jobs of the service and of the admin's organisation: failed ones first, then
    by when they are due. By default queued, running and failed (`status` picks one, `done`
    included: finished jobs are kept `TEAMWELL_JOBS_KEEP_FINISHED_DAYS`). Admins."""
    statuses = service.SHOWN if status is None else (status,)
    rows, total = await service.list_jobs(
        session, viewer=principal.user, statuses=statuses, limit=page.limit, offset=page.offset
    )
    return Page(items=[_public(j) for j in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/{job_id}/retry", response_model=ScheduledJobPublic)
async def retry_job(
    job_id: uuid.UUID, principal: JobManager, session: SessionDep
) -> ScheduledJobPublic:
    """Queue a failed job again, due now, with a fresh set of attempts (409 `job-not-failed`
    for any other job; 404 for one that is not the admin's to see). Audited as `job.retry`."""
    job = await service.get_visible(session, job_id=job_id, viewer=principal.user)
    await service.retry(session, job=job, now=principal.ctx.now())
    await principal.audit(
        "job.retry",
        resource_type="job",
        resource_id=job.id,
        detail=job.kind,
    )
    return _public(job)
