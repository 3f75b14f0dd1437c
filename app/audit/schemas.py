from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class AuditEventPublic(BaseModel):
    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    action: str
    resource_type: str
    resource_id: str | None
    client_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    outcome: str
    detail: str | None


class ChainReport(BaseModel):
    ok: bool
    checked: int
    broken_at: int | None
    reason: str | None
    checkpoints: int
