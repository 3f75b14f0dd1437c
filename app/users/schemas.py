from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool

from app.schemas import Name
from app.users.models import Role


class UserPublic(BaseModel):
    """What any response may say about a person: never a hash, a secret or lockout state."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    kind: str
    organisation_id: uuid.UUID
    is_active: bool
    mfa_enabled: bool
    created_at: datetime


class UserCreate(BaseModel):
    """An account made by an admin. It has no password: nobody but its holder may ever know one,
    so the person signs in by single sign-on, or is invited instead (``POST /invitations``) and
    chooses their own. A ``password`` field is refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    display_name: Name = Field(min_length=1, max_length=200)
    role: Role


class UserUpdate(BaseModel):
    display_name: Name | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: StrictBool | None = None


class SupervisorAssign(BaseModel):
    supervisor_id: uuid.UUID


class SupervisionLinkStatus(StrEnum):
    pending = "pending"  # proposed by an admin, waiting for the supervisee
    active = "active"  # accepted by the supervisee and in force
    declined = "declined"  # the supervisee said no
    withdrawn = "withdrawn"  # replaced by a later proposal before anyone answered
    ended = "ended"  # was in force; replaced by a later accepted link


class SupervisionPublic(BaseModel):
    id: uuid.UUID
    supervisor_id: uuid.UUID
    supervisor_name: str | None = None
    supervisor_email: str | None = None
    supervisee_id: uuid.UUID
    supervisee_name: str | None = None
    status: SupervisionLinkStatus
    since: datetime = Field(description="In force since; while pending, when proposed.")
    until: datetime | None
    proposed_by: uuid.UUID | None
    accepted_at: datetime | None
    declined_at: datetime | None
