from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field
from app.users.models import Role


class AuthSession(SQLModel, table=True):
    """A signed-in device. Its refresh tokens form one family; revoking it ends them all."""

    __tablename__ = "auth_session"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    method: str = Field(max_length=16)  # password | sso
    mfa_verified: bool = False
    created_at: datetime = timestamp_field()
    last_used_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_token"

    id: uuid.UUID = id_field()
    session_id: uuid.UUID = Field(foreign_key="auth_session.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    issued_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = timestamp_field(nullable=True)


class Invitation(SQLModel, table=True):
    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    email: str = Field(max_length=254, index=True)
    role: Role = enum_field()
    display_name: str | None = Field(default=None, max_length=200)
    team_id: uuid.UUID | None = Field(default=None, foreign_key="team.id")
    # An invitation for a client links their new login to their existing client record.
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    invited_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    accepted_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)
    accepted_user_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class SsoProvider(SQLModel, table=True):
    """An organisation's OpenID Connect identity provider."""

    __tablename__ = "sso_provider"

    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", unique=True)
    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=200)
    client_secret_encrypted: str = Field(max_length=1000)
    enabled: bool = True
    created_at: datetime = timestamp_field()


class ExternalIdentity(SQLModel, table=True):
    """A user's subject at an identity provider, remembered after the first SSO sign-in."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    issuer: str = Field(max_length=500)
    subject: str = Field(max_length=255)
    created_at: datetime = timestamp_field()


class SsoLoginCode(SQLModel, table=True):
    """A one-time code handing an SSO sign-in from the callback to the browser client."""

    __tablename__ = "sso_login_code"

    id: uuid.UUID = id_field()
    code_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id")
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
