"""Retention as scheduled work (``retention.run``, every ``jobs_retention_minutes``): the same
run as ``teamwell retention``, which stays for an outside scheduler."""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.documents import service as documents_service
from app.jobs.registry import JobContext, handler
from app.messaging.keyring import keyring_from_settings
from app.retention import service

RETENTION = "retention.run"


def _every(settings: Settings) -> timedelta | None:
    minutes = settings.jobs_retention_minutes
    return None if minutes is None else timedelta(minutes=minutes)


@handler(RETENTION, every=_every)
async def run_retention(job: JobContext) -> None:
    documents = documents_service.runtime_from_settings(job.settings)
    try:
        await service.run(
            session=job.session,
            ctx=job.ctx,
            policy=service.policy_from_settings(job.settings),
            keyring=keyring_from_settings(job.settings),
            documents=documents,
        )
    finally:
        await documents.store.close()
