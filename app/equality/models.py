"""A client's equality-monitoring answers: special-category data, sealed at rest."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class EqualityProfile(SQLModel, table=True):
    """One row per client who answered. The answers are one JSON document sealed with the
    message keyring and bound to the client (``profile_aad``), so no column says anything about
    the person; who entered them and on whose consent is kept in the clear for the audit."""

    __tablename__ = "equality_profile"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", unique=True)
    answers_key_id: str = Field(max_length=16)
    answers_ciphertext: bytes = Field(sa_type=LargeBinary)
    # "client" when the client entered them; "staff" when a member of staff did, on the
    # client's consent given to them (recorded by ``consent_recorded_by``).
    entered_by: str = Field(max_length=16)
    consent_recorded_by: uuid.UUID = Field(foreign_key="user.id")
    consent_recorded_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
