from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class MeasureResponse(SQLModel, table=True):
    """One completed questionnaire (a QuestionnaireResponse): item answers and the score."""

    __tablename__ = "measure_response"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    instrument: str = Field(max_length=32, index=True)
    instrument_version: str = Field(max_length=32)
    # Item number -> answer (an int, "not_applicable", or null for missing).
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    total: int | None = None
    prorated: bool = False
    band: str | None = Field(default=None, max_length=64)
    # Which session the answers belong to: PHQ-9 and the anxiety measure of one sitting pair up.
    session_key: str = Field(max_length=64, index=True)
    completed_at: datetime = timestamp_field(index=True)
    completed_by: uuid.UUID = Field(foreign_key="user.id")
    mode: str = Field(max_length=16)  # remote (the client) | in_session (a clinician)


class MeasureLink(SQLModel, table=True):
    """A one-time link for a client to complete a questionnaire remotely, without signing in.

    The token in the link is stored only as a digest; the link works once (``used_at``) and
    until ``expires_at``."""

    __tablename__ = "measure_link"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    instrument: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
    response_id: uuid.UUID | None = Field(default=None, foreign_key="measure_response.id")
