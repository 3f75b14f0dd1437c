from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictInt

from app.measures.scoring import Change

NOT_APPLICABLE_ANSWER = "not_applicable"


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, float):
        return "a decimal number"
    return "a list or an object" if isinstance(value, list | dict) else type(value).__name__


def _whole_number(value: object) -> object:
    """An answer is taken as given, never converted: "2" or true is not an answer of 2 or 1
    (a form that sent one has a fault that would otherwise be scored and stored)."""
    if value is None or value == NOT_APPLICABLE_ANSWER:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(
        f'an answer is a whole number, "{NOT_APPLICABLE_ANSWER}" or null, not {_kind_of(value)}'
    )


ItemAnswer = Annotated[StrictInt | Literal["not_applicable"] | None, BeforeValidator(_whole_number)]
"""One item's answer, strictly typed: a JSON integer, "not_applicable", or null (missing)."""
ANSWERS_DESCRIPTION = (
    'Item number to answer: a JSON integer, "not_applicable", or null for a missing answer. '
    'A string ("2") or a boolean is refused (422 naming the item), never read as a number.'
)


class MeasureSubmit(BaseModel):
    instrument: str = Field(min_length=1, max_length=32, examples=["phq9"])
    answers: dict[int, ItemAnswer] = Field(description=ANSWERS_DESCRIPTION)
    session_key: str | None = Field(
        default=None,
        max_length=64,
        description="Pairs the PHQ-9 and anxiety measure of one sitting (defaults to the day)",
    )


ANSWERS_WITHHELD = (
    "Item number to answer, for the client, the care team's therapists and the supervisors of "
    "its staff; null for everyone else, who see the total, band and outcomes only"
)


class RiskAlertNotice(BaseModel):
    """Whom the urgent alert of this questionnaire reached: told to the member of staff who
    entered the answers, so an alert that could not go to the care team is never silent."""

    sent_to: Literal[
        "care_team", "supervisors_of_care_team", "organisation_supervisors", "nobody"
    ] = Field(
        description="The care team's clinicians, else the supervisors of its staff, else "
        "the organisation's supervisors, else nobody"
    )
    recipients: int = Field(description="How many people received the alert")
    message: str = Field(description="The same, in words, to show")


class MeasurePublic(BaseModel):
    id: uuid.UUID
    instrument: str
    answers: dict[str, Any] | None = Field(description=ANSWERS_WITHHELD)
    total: int | None
    prorated: bool
    band: str | None
    session_key: str
    completed_at: datetime
    completed_by: uuid.UUID
    mode: str
    risk_alert: RiskAlertNotice | None = Field(
        default=None,
        description="Only in the answer to staff who entered a questionnaire that raised a risk "
        "alert: whom the alert reached. Null otherwise, and in every list.",
    )


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
    escalated: bool = Field(
        default=False,
        description="Sent to the organisation's supervisors because the care team had no "
        "clinician and nobody supervised its staff",
    )
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledgement_note: str | None


class Acknowledge(BaseModel):
    note: str | None = Field(default=None, max_length=1000)
