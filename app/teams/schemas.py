from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import Name


class TeamCreate(BaseModel):
    name: Name = Field(min_length=2, max_length=200)
    area_cluster: Name = Field(min_length=2, max_length=100)


class TeamUpdate(BaseModel):
    """A new name or area cluster for a team; what is left out stays."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, min_length=2, max_length=200)
    area_cluster: Name | None = Field(default=None, min_length=2, max_length=100)


class TeamPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    area_cluster: str
    created_at: datetime


class TeamMemberAdd(BaseModel):
    user_id: uuid.UUID


class TeamMemberPublic(BaseModel):
    user_id: uuid.UUID
    display_name: str
    role: str
    since: datetime
