from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, timestamp_field


class ConsentPurpose(StrEnum):
    care = "care"
    employment_sharing = "employment_sharing"
    evaluation = "evaluation"


class ConsentState(StrEnum):
    granted = "granted"
    withdrawn = "withdrawn"


class ConsentRecord(SQLModel, table=True):
    """One decision by a client, for one organisation and purpose.

    Rows are only ever added: the current state is the latest row, and the history is the rest.
    """

    __tablename__ = "consent_record"

    # An integer key gives decisions made in the same instant a definite order.
    id: int | None = Field(default=None, primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    purpose: ConsentPurpose = enum_field()
    state: ConsentState = enum_field()
    recorded_at: datetime = timestamp_field()
    recorded_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    note: str | None = Field(default=None, max_length=1000)
