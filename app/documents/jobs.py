"""Documents' scheduled work: ``documents.scan`` scans a version that waited because the
scanner was unreachable (retried with the runner's backoff while it still is), and
``documents.retention`` applies the retention periods by kind and clears abandoned uploads
(as often as ``retention.run``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.audit import service as audit_service
from app.audit.models import Outcome
from app.config import Settings
from app.context import Context
from app.documents import events as document_events
from app.documents import service
from app.documents.models import ScanStatus
from app.jobs.registry import JobContext, JobError, handler
from app.notifications import service as notifications_service
from app.notifications.notices import Notice
from auth.policies import documents as document_policies

SCAN = "documents.scan"
RETENTION = "documents.retention"


@handler(SCAN)
async def scan_waiting_version(job: JobContext) -> None:
    runtime = service.runtime_from_settings(job.settings)
    try:
        version = await service.get_version_by_id(
            session=job.session, version_id=uuid.UUID(job.payload["version_id"])
        )
        status = await service.scan_pending(
            session=job.session, runtime=runtime, version=version, now=job.ctx.now()
        )
        if status == ScanStatus.pending:
            # Raised so that the runner tries again later, with its backoff.
            raise JobError("the malware scanner is unreachable; the file waits unscanned")
        document = await service.get(session=job.session, document_id=version.document_id)
        target = await document_policies.target_of(job.session, document)
        summary = service.summary(document, version.number)
        await audit_service.record(
            job.session,
            job.ctx,
            action="document.scanned",
            resource_type="document",
            resource_id=document.id,
            client_id=target.client_id,
            outcome=Outcome.success if status == ScanStatus.clean else Outcome.denied,
            detail=f"version {version.number}: {status}",
        )
        if status == ScanStatus.clean:
            audience = await document_policies.audience(job.session, document, target)
            events.announce(
                job.session,
                document_events.document_added(audience=audience, document=summary)
                if version.number == 1
                else document_events.document_changed(
                    audience=audience, document=summary, change="version"
                ),
            )
        else:
            events.announce(
                job.session,
                document_events.document_changed(
                    audience={version.uploaded_by}, document=summary, change="scanned"
                ),
            )
            await notifications_service.tell(
                job.session,
                person_ids=[version.uploaded_by],
                notice=Notice.document_quarantined,
                link=service.place_link(document),
                now=job.ctx.now(),
                settings=job.settings,
            )
    finally:
        await runtime.store.close()


def _every(settings: Settings) -> timedelta | None:
    minutes = settings.jobs_retention_minutes
    return None if minutes is None else timedelta(minutes=minutes)


@handler(RETENTION, every=_every)
async def documents_retention(job: JobContext) -> None:
    runtime = service.runtime_from_settings(job.settings)
    try:
        await apply_retention(session=job.session, ctx=job.ctx, runtime=runtime)
    finally:
        await runtime.store.close()


async def apply_retention(
    *, session: AsyncSession, ctx: Context, runtime: service.Runtime
) -> service.RetentionDone:
    """The retention periods by kind and abandoned uploads, audited with counts: this job's
    run and ``teamwell retention``'s (one code path, so the command does what the job does)."""
    done = await service.apply_retention(session=session, runtime=runtime, now=ctx.now())
    await audit_service.record(
        session,
        ctx,
        action="document.retention",
        resource_type="retention",
        detail=f"documents={len(done.documents)} uploads={done.abandoned_uploads}",
    )
    return done
