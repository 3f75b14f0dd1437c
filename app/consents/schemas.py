from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.consents.models import ConsentPurpose, ConsentState


class ConsentDecision(BaseModel):
    organisation_id: uuid.UUID
    purpose: ConsentPurpose
    state: ConsentState
    note: str | None = Field(default=None, max_length=1000)


class ConsentPublic(BaseModel):
    id: int
    client_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str | None = None
    purpose: ConsentPurpose
    state: ConsentState
    recorded_at: datetime
    recorded_by: uuid.UUID | None
    recorded_by_name: str | None = None
    note: str | None = None
