from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.measures.scoring import Change


class MeasureSubmit(BaseModel):
    instrument: str = Field(min_length=1, max_length=32, examples=["phq9"])
    answers: dict[int, int | Literal["not_applicable"] | None] = Field(
        description="Item number to answer; null for a missing answer"
    )
    session_key: str | None = Field(
        default=None,
        max_length=64,
        description="Pairs the PHQ-9 and anxiety measure of one sitting (defaults to the day)",
    )


class MeasurePublic(BaseModel):
    id: uuid.UUID
    instrument: str
    answers: dict[str, Any]
    total: int | None
    prorated: bool
    band: str | None
    session_key: str
    completed_at: datetime
    completed_by: uuid.UUID
    mode: str


class OutcomeSummary(BaseModel):
    pairs: int
    first_session: str | None = None
    last_session: str | None = None
    change: dict[str, Any] | None = None

    @classmethod
    def of(
        cls, pairs: int, first: str | None, last: str | None, result: Change | None
    ) -> OutcomeSummary:
        return cls(
            pairs=pairs,
            first_session=first,
            last_session=last,
            change=asdict(result) if result else None,
        )


class AlertPublic(BaseModel):
    id: uuid.UUID
    kind: str
    urgent: bool
    client_id: uuid.UUID
    client_name: str | None = None
    detail: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledgement_note: str | None


class Acknowledge(BaseModel):
    note: str | None = Field(default=None, max_length=1000)
