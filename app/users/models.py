from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class Role(StrEnum):
    peer_keyworker = "peer_keyworker"
    therapist = "therapist"
    employment_specialist = "employment_specialist"
    supervisor = "supervisor"
    admin = "admin"
    client = "client"


CLINICAL_ROLES = frozenset(
    {Role.peer_keyworker, Role.therapist, Role.employment_specialist, Role.supervisor}
)
STAFF_ROLES = CLINICAL_ROLES | {Role.admin}


class User(SQLModel, table=True):
    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    display_name: str = Field(max_length=200)
    role: Role = enum_field(index=True)
    is_active: bool = True
    # Secrets live only here and never reach a response schema.
    password_hash: str | None = Field(default=None, max_length=255)
    mfa_secret_encrypted: str | None = Field(default=None, max_length=512)
    mfa_enabled: bool = False
    # The last TOTP time step accepted, so one code cannot be replayed within its window.
    mfa_last_step: int | None = None
    failed_logins: int = 0
    locked_until: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()
    last_login_at: datetime | None = timestamp_field(nullable=True)

    @property
    def is_staff(self) -> bool:
        return self.role != Role.client

    @property
    def kind(self) -> str:
        return "staff" if self.is_staff else "client"


class SupervisionLink(SQLModel, table=True):
    """Which supervisor supervises which member of staff, and since when.

    An admin only proposes a link; it is in force (and opens the supervisee's clients' records
    to the supervisor) once the supervisee has accepted it. The admin controls every account it
    makes, email address included, so the one who confirms must be someone who already holds
    the clinical relationship: the supervisee, whose records are the ones opened.
    """

    __tablename__ = "supervision_link"

    id: uuid.UUID = id_field()
    supervisor_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    supervisee_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    # When it came into force (accepted); while pending, when it was proposed.
    since: datetime = timestamp_field()
    until: datetime | None = timestamp_field(nullable=True)
    proposed_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    accepted_at: datetime | None = timestamp_field(nullable=True)
    declined_at: datetime | None = timestamp_field(nullable=True)
