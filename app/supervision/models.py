"""Staff wellbeing check-ins and supervision records with their agreed actions.

Free text written about a person's own wellbeing or in supervision is as sensitive as a message,
so it is stored only encrypted (AES-GCM, the message keyring), never in the clear.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class WellbeingCheckIn(SQLModel, table=True):
    """One staff member's answers. Only they and their supervisors ever see a single row."""

    __tablename__ = "wellbeing_check_in"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    mood: int
    workload: int
    stress: int
    support: int
    wants_to_talk: bool = False
    # Optional free text, sealed with the message keyring (None when no text was given).
    text_key_id: str | None = Field(default=None, max_length=16)
    text_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    at: datetime = timestamp_field(index=True)
    # "I'd like to talk": which supervisor answered it and when.
    talk_acknowledged_at: datetime | None = timestamp_field(nullable=True)
    talk_acknowledged_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class SupervisionCadence(SQLModel, table=True):
    """How often a supervisor wants a supervisee to check in and to have supervision.

    One row per supervisee; absent means the settings' defaults apply.
    """

    __tablename__ = "supervision_cadence"

    supervisee_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True)
    check_in_days: int
    supervision_days: int
    set_by: uuid.UUID = Field(foreign_key="user.id")
    set_at: datetime = timestamp_field()


class SupervisionKind(StrEnum):
    one_to_one = "one_to_one"
    group = "group"  # group reflective practice


class SupervisionRecord(SQLModel, table=True):
    """A supervision session that took place (scheduled as a meeting of the kind "supervision"),
    with its notes. Visible to the supervisor who holds it and to its supervisees only."""

    __tablename__ = "supervision_record"

    id: uuid.UUID = id_field()
    supervisor_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    meeting_id: uuid.UUID | None = Field(default=None, foreign_key="meeting.id", index=True)
    kind: SupervisionKind = enum_field()
    held_on: date = Field(index=True)
    notes_key_id: str | None = Field(default=None, max_length=16)
    notes_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    # The notes' version, the record's ETag: each save of the notes adds one, and a save must
    # name the version it was based on (If-Match), so one made on a stale copy is refused.
    version: int = 1
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class SupervisionAttendee(SQLModel, table=True):
    __tablename__ = "supervision_attendee"
    __table_args__ = (UniqueConstraint("record_id", "supervisee_id"),)

    id: uuid.UUID = id_field()
    record_id: uuid.UUID = Field(foreign_key="supervision_record.id", index=True)
    supervisee_id: uuid.UUID = Field(foreign_key="user.id", index=True)


class SupervisionAction(SQLModel, table=True):
    """An action agreed in supervision, owned by one attendee (or the supervisor)."""

    __tablename__ = "supervision_action"

    id: uuid.UUID = id_field()
    record_id: uuid.UUID = Field(foreign_key="supervision_record.id", index=True)
    owner_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    text: str = Field(max_length=1000)
    due_on: date | None = None
    done_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()
