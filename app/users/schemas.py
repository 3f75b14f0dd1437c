from __future__ import annotations

import uuid
from datetime import datetime

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
    email: EmailStr
    display_name: Name = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(default=None, min_length=12, max_length=200)


class UserUpdate(BaseModel):
    display_name: Name | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: StrictBool | None = None


class SupervisorAssign(BaseModel):
    supervisor_id: uuid.UUID


class SupervisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    supervisor_id: uuid.UUID
    supervisee_id: uuid.UUID
    since: datetime
    until: datetime | None
