from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.audit import checkpoints, service
from app.audit.models import Outcome
from app.audit.schemas import AuditEventPublic, ChainReport
from app.config import Settings
from app.db import SessionDep
from app.pagination import Page, PageDep, page_of
from app.users import service as users_service
from auth.deps import AuditReader

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("", response_model=Page[AuditEventPublic])
async def list_events(
    principal: AuditReader,
    session: SessionDep,
    page: PageDep,
    client_id: uuid.UUID | None = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="Who acted")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEventPublic]:
    """The audit trail of the caller's organisation, newest first: what its people did and what
    anyone did to its clients' records. Supervisors and admins."""
    filters = service.AuditFilter(
        organisation_id=principal.user.organisation_id,
        client_id=client_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
    )
    rows, total = await service.list_events(session, filters, limit=page.limit, offset=page.offset)
    names = await users_service.names(session=session, ids={e.actor_id for e in rows if e.actor_id})
    items = [
        AuditEventPublic(
            id=e.id or 0,
            occurred_at=e.occurred_at,
            actor_id=e.actor_id,
            actor_name=names.get(e.actor_id) if e.actor_id else None,
            actor_role=e.actor_role,
            action=e.action,
            resource_type=e.resource_type,
            resource_id=e.resource_id,
            client_id=e.client_id,
            ip=e.ip,
            user_agent=e.user_agent,
            outcome=e.outcome,
            detail=e.detail,
        )
        for e in rows
    ]
    return page_of(page, items, total)


@router.get("/verify", response_model=ChainReport)
async def verify(principal: AuditReader, session: SessionDep, request: Request) -> ChainReport:
    """Check the whole hash chain, and that it still holds every event this host's signed
    checkpoints recorded; say where, if anywhere, it breaks (a forged checkpoint line by its
    number, never by the server's file path)."""
    settings: Settings = request.app.state.settings
    verdict = await checkpoints.verify(
        session,
        [settings.audit_checkpoint_file],
        checkpoints.settings_key(settings).public_key(),
        name_files=False,
    )
    # Recorded so that the System page can say when the chain was last verified, and how it was.
    await principal.audit(
        "audit.verify",
        resource_type="audit_chain",
        outcome=Outcome.success,
        detail="intact" if verdict.ok else "broken",
    )
    return ChainReport(
        ok=verdict.ok,
        checked=verdict.checked,
        broken_at=verdict.broken_at,
        reason=verdict.reason,
        checkpoints=verdict.checkpoints,
    )
