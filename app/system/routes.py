"""The System page for admins (docs/api.md, "System"): how the service is running."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.config import Settings
from app.db import SessionDep
from app.system import service
from app.system.schemas import SystemReport
from auth.deps import SystemAdministrator

router = APIRouter(prefix="/admin/system", tags=["system"])


@router.get("", response_model=SystemReport)
async def read_system(
    principal: SystemAdministrator, session: SessionDep, request: Request
) -> SystemReport:
    """Version, migration state, database and Redis reachability, the job queue, when the audit
    chain was last verified, the last backup, and the age of the message keys and the TURN
    secret: ids, counts and ages, never a secret. Admins. Audited as `system.read`."""
    settings: Settings = request.app.state.settings
    now = principal.ctx.now()
    migrations = await service.migrations(session)
    database = await service.database(session, settings)
    redis = await service.redis(settings)
    jobs = await service.job_queue(session, viewer=principal.user, settings=settings, now=now)
    audit_chain = await service.audit_chain(session, settings, now)
    backups = await service.backups(session, settings, now)
    keys = service.key_ages(settings, request.app.state.keyring, now)
    await principal.audit("system.read", resource_type="system")
    return SystemReport(
        checked_at=now,
        status=service.worst(
            migrations.status,
            database.status,
            redis.status,
            jobs.status,
            audit_chain.status,
            backups.status,
            *(key.status for key in keys),
        ),
        version=service.version_info(settings),
        migrations=migrations,
        database=database,
        redis=redis,
        jobs=jobs,
        audit_chain=audit_chain,
        backups=backups,
        keys=keys,
    )
