"""IPS-25 fidelity self-reviews of a team, kept per review date to show change."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class FidelityReview(SQLModel, table=True):
    """An IPS-25 self-review of a team on a date: 25 item scores, their total and band."""

    __tablename__ = "fidelity_review"
    __table_args__ = (UniqueConstraint("team_id", "reviewed_on"),)

    id: uuid.UUID = id_field()
    team_id: uuid.UUID = Field(foreign_key="team.id", index=True)
    reviewed_on: date
    reviewer_id: uuid.UUID = Field(foreign_key="user.id")
    scores: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # What Teamwell measured for the pre-filled items when the review was made (for the record).
    measured: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    total: int
    band: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = timestamp_field()
