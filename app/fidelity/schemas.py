"""What the IPS-25 fidelity API accepts and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.supervision.rules import FidelityBand

MAX_SPECIALIST_FTE: Final = 100.0
"""The most full-time equivalents of employment specialists one team may declare."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


FTE_DESCRIPTION: Final = (
    "The team's employment specialists in full-time equivalents, all together. Left out, "
    "each active employment specialist on the team counts as one."
)


class FidelityReviewCreate(Strict):
    reviewed_on: date
    scores: dict[str, StrictInt] = Field(
        description="Every one of the 25 IPS-25 items (by name, as in the draft's `items`) "
        "scored 1-5"
    )
    note: str | None = Field(default=None, max_length=2000)
    specialist_fte: float | None = Field(
        default=None, gt=0, le=MAX_SPECIALIST_FTE, description=FTE_DESCRIPTION
    )


class CaseloadMeasure(BaseModel):
    """IPS-25 item 1, caseload size: clients per full-time employment specialist."""

    specialists: int = Field(description="Active employment specialists on the team")
    fte: float | None = Field(description="Their full-time equivalents, all together")
    fte_source: Literal["one_per_specialist", "given"]
    clients: int = Field(description="Open cases on their caseloads, now")
    clients_per_fte: float | None
    suggested_score: int | None
    basis: str


class RapidJobSearchMeasure(BaseModel):
    """IPS-25 rapid job search: days from joining to the first employer contact."""

    window_from: date
    window_to: date
    clients_joined: int = Field(description="The team's clients who joined in the window")
    clients_contacted: int = Field(description="... of them with a first employer contact")
    mean_days: float | None
    median_days: float | None
    waiting_over_30_days: int = Field(
        description="Joined in the window, no employer contact yet, more than 30 days ago"
    )
    suggested_score: int | None
    basis: str


class EmployerContactMeasure(BaseModel):
    """IPS-25 job development, frequent employer contact: contacts per specialist per week."""

    window_from: date
    window_to: date
    weeks: int
    specialists: int
    contacts: int = Field(description="Employer contacts the specialists logged in the window")
    contacts_per_specialist_per_week: float | None
    suggested_score: int | None
    basis: str


class EmployerDiversityMeasure(BaseModel):
    """IPS-25 diversity of employers: the share of job starts with different employers, and
    the employer directory of the team's specialists' organisations behind them."""

    window_from: date
    window_to: date
    jobs: int = Field(description="Job starts of the team's clients in the window")
    employers: int = Field(description="Different employers among them (names, case ignored)")
    share_different: float | None = Field(description="employers / jobs, 0-1")
    directory_employers: int = Field(
        description="Employers in the directories of the team's employment specialists"
    )
    directory_employers_contacted: int = Field(
        description="Directory employers with a contact the specialists logged in the window"
    )
    suggested_score: int | None
    basis: str


class MeasuredItems(BaseModel):
    """What Teamwell measured for the items it can, keyed by item name."""

    model_config = ConfigDict(populate_by_name=True)

    caseload_size: CaseloadMeasure = Field(alias="caseload size")
    rapid_job_search: RapidJobSearchMeasure = Field(alias="rapid job search")
    frequent_employer_contact: EmployerContactMeasure = Field(
        alias="job development - frequent employer contact"
    )
    diversity_of_employers: EmployerDiversityMeasure = Field(alias="diversity of employers")


class FidelityDraft(BaseModel):
    """A review form pre-filled from the data: the items in scale order, suggested scores for
    the items Teamwell measures, and what it measured. The supervisor scores the rest."""

    team_id: uuid.UUID
    reviewed_on: date
    items: list[str]
    scores: dict[str, int] = Field(description="Suggested scores for the measured items")
    measured: MeasuredItems


class FidelityReviewPublic(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    reviewed_on: date
    reviewer_id: uuid.UUID
    reviewer_name: str | None
    scores: dict[str, int] = Field(description="The 25 item scores, in scale order")
    total: int
    band: FidelityBand
    note: str | None
    measured: dict[str, Any] = Field(
        description="What Teamwell measured for the pre-filled items when the review was made"
    )
    created_at: datetime
