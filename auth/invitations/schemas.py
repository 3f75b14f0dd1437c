from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, EmailStr, Field

from app.schemas import Name
from app.users.models import Role
from auth.passwords import MIN_PASSWORD_LENGTH


class InvitationStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    revoked = "revoked"
    expired = "expired"


class InvitationCreate(BaseModel):
    email: EmailStr
    role: Role
    display_name: Name | None = Field(
        default=None, min_length=1, max_length=200, description="Used to greet them."
    )
    team_id: uuid.UUID | None = Field(
        default=None, description="Staff only: the team they join on accepting."
    )
    client_id: uuid.UUID | None = Field(
        default=None,
        description="Clients only (and required for them): the record their login opens.",
    )


class InvitationPublic(BaseModel):
    """An invitation as admins see it. The link's token is never stored or shown."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    email: str
    role: Role
    display_name: str | None
    team_id: uuid.UUID | None
    client_id: uuid.UUID | None
    invited_by: uuid.UUID
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    accepted_user_id: uuid.UUID | None
    status: InvitationStatus


class InvitationAccept(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="From the emailed link.")
    display_name: Name = Field(min_length=1, max_length=200)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200)
