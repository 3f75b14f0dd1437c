from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

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


class TeamMembershipStatus(StrEnum):
    pending = "pending"  # proposed by an admin; grants nothing until confirmed
    active = "active"


class TeamMemberPublic(BaseModel):
    user_id: uuid.UUID
    display_name: str
    role: str
    # When the membership came into force; while pending, when it was proposed.
    since: datetime
    status: TeamMembershipStatus
    proposed_by: uuid.UUID | None
    confirmed_at: datetime | None
    confirmed_by: uuid.UUID | None


class PendingTeamMember(BaseModel):
    """A proposed member waiting for the caller to confirm or decline them. The email is shown so
    a person can be told from someone of the same name."""

    team_id: uuid.UUID
    team_name: str
    user_id: uuid.UUID
    display_name: str
    email: str
    role: str
    proposed_by: uuid.UUID | None
    proposed_by_name: str | None
    proposed_at: datetime
