from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.organisations.models import OrganisationKind
from app.schemas import Name


class OrganisationCreate(BaseModel):
    slug: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: Name = Field(min_length=2, max_length=200)
    kind: OrganisationKind


class OrganisationUpdate(BaseModel):
    name: Name | None = Field(default=None, min_length=2, max_length=200)
    kind: OrganisationKind | None = None


class OrganisationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    kind: OrganisationKind
    created_at: datetime
