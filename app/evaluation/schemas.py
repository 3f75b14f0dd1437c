"""What the evaluation API accepts and returns. The seed never appears here."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.evaluation.randomisation import DEFAULT_BLOCK_SIZES, Arm
from app.schemas import Name

# A trial offers a few block sizes to draw from (repeating one weights it); more adds nothing.
MAX_BLOCK_SIZE_CHOICES = 6


class StratifyBy(StrEnum):
    """The field a trial's clients are stratified by: each value has its own balanced sequence."""

    area_cluster = "area_cluster"  # the area cluster of the client's team
    referral_source = "referral_source"  # where the client's first referral came from
    team = "team"  # the client's team


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialCreate(Strict):
    name: Name = Field(min_length=1, max_length=200)
    stratify_by: StratifyBy
    block_sizes: list[int] = Field(
        default_factory=lambda: list(DEFAULT_BLOCK_SIZES),
        min_length=1,
        max_length=MAX_BLOCK_SIZE_CHOICES,
        description=(
            "Even block sizes drawn from at random for each block (default 4 and 6); the largest "
            "is limited by TEAMWELL_EVALUATION_MAX_BLOCK_SIZE."
        ),
    )

    @field_validator("name")
    @classmethod
    def name_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the trial needs a name")
        return value

    @field_validator("block_sizes")
    @classmethod
    def even_block_sizes(cls, value: list[int]) -> list[int]:
        for size in value:
            # A block holds as many of each arm, so its size must be even (and at least 2).
            if size < 2 or size % 2:
                raise ValueError(f"block sizes must be even numbers of at least 2, not {size}")
        return value


class TrialPublic(BaseModel):
    """A trial as its supervisors see it: the total allocated. The figures by arm are a separate,
    audited reading (``TrialFigures``), so that nobody meets them by opening the trial."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    stratify_by: StratifyBy
    block_sizes: list[int]
    algorithm: str
    open: bool
    opened_at: datetime
    closed_at: datetime | None
    created_by: uuid.UUID
    allocations: int


class AllocationStatus(StrEnum):
    allocated = "allocated"
    # The client could join the organisation's open trial, but has not consented: nothing is
    # allocated yet, so there is no arm to show.
    awaiting_consent = "awaiting_consent"


STRATUM_LABEL = "The stratum as a person reads it: a team stratum by the team's name"


class AllocationPublic(BaseModel):
    client_id: uuid.UUID
    trial_id: uuid.UUID
    trial_name: str
    status: AllocationStatus
    arm: Arm | None = Field(description="Set only once the client's consent is recorded")
    stratum: str | None
    stratum_label: str | None = Field(description=STRATUM_LABEL)
    allocated_at: datetime | None
    consent_record_id: int | None = Field(
        description="The evaluation consent that the allocation was made on"
    )


class StratumVerification(BaseModel):
    stratum: str
    stratum_label: str = Field(description=STRATUM_LABEL)
    allocations: int
    matched: int
    missing_positions: list[int] = Field(
        description="Positions with no allocation below the highest one (expected empty)"
    )


class TrialVerification(BaseModel):
    """Every allocation recomputed from the recorded seed and compared with what was stored."""

    trial_id: uuid.UUID
    algorithm: str
    algorithm_matches: bool
    allocations: int
    matched: int
    mismatched_allocation_ids: list[uuid.UUID]
    strata: list[StratumVerification]
    all_match: bool
    verified_at: datetime


class ConsentCounts(BaseModel):
    entrants: int = Field(
        description="Clients of the organisation whose record was made while the trial was open"
    )
    consented: int = Field(description="Entrants whose latest evaluation decision grants")
    declined: int = Field(description="Entrants whose every evaluation decision withdraws")
    withdrawn: int = Field(description="Entrants who granted, then withdrew (latest withdraws)")
    not_asked: int = Field(description="Entrants with no evaluation decision recorded")


class ArmFigures(BaseModel):
    stratum: str
    stratum_label: str = Field(description=STRATUM_LABEL)
    ips: int
    treatment_as_usual: int
    total: int


class TrialFigures(BaseModel):
    """Consent counts and allocations by arm, overall and per stratum (docs/evaluation.md)."""

    trial_id: uuid.UUID
    open: bool
    consents: ConsentCounts
    allocations: ArmFigures = Field(description="All strata together (`stratum` is `all`)")
    strata: list[ArmFigures]
    as_of: datetime
