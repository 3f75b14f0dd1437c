"""What the benefits API accepts and returns. Off-flow is returned computed, never accepted."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator

from app.benefits.models import BenefitSource, BetterOffOutcome
from app.benefits.rules import BenefitKind, EsaGroup, OffFlowState, UcRegime
from app.schemas import Name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenefitClaimCreate(Strict):
    benefit: BenefitKind
    esa_group: EsaGroup | None = Field(default=None, description="Required for ESA, else null")
    uc_regime: UcRegime | None = Field(
        default=None, description="Required for Universal Credit, else null"
    )
    other_name: Name | None = Field(
        default=None, min_length=1, max_length=200, description="Required for other, else null"
    )
    started_on: date
    ended_on: date | None = Field(
        default=None, description="The first day it was no longer paid; after started_on"
    )
    source: BenefitSource

    @model_validator(mode="after")
    def _details_fit_the_benefit(self) -> BenefitClaimCreate:
        wanted = {
            "esa_group": self.benefit == BenefitKind.esa,
            "uc_regime": self.benefit == BenefitKind.universal_credit,
            "other_name": self.benefit == BenefitKind.other,
        }
        for name, needed in wanted.items():
            given = getattr(self, name) is not None
            if needed and not given:
                raise ValueError(f"{name} is required for {self.benefit.value}")
            if given and not needed:
                raise ValueError(f"{name} is only for {name.split('_')[0]} claims")
        if self.ended_on is not None and self.ended_on <= self.started_on:
            raise ValueError("ended_on must be after started_on")
        return self


class BenefitClaimEnd(Strict):
    ended_on: date = Field(description="The first day the benefit was no longer paid")


class BenefitClaimPublic(BaseModel):
    id: uuid.UUID
    benefit: BenefitKind
    esa_group: EsaGroup | None
    uc_regime: UcRegime | None
    other_name: str | None
    out_of_work: bool = Field(description="Counted as an out-of-work benefit (docs/reports.md)")
    started_on: date
    ended_on: date | None
    source: BenefitSource
    recorded_by: uuid.UUID
    recorded_by_name: str | None
    recorded_at: datetime
    ended_by: uuid.UUID | None
    ended_at: datetime | None


class BetterOffCreate(Strict):
    done_on: date
    outcome: BetterOffOutcome
    hours_modelled: StrictFloat | None = Field(
        default=None, gt=0, le=80, description="The weekly hours of work the calculation modelled"
    )


class BetterOffPublic(BaseModel):
    id: uuid.UUID
    done_on: date
    outcome: BetterOffOutcome
    hours_modelled: float | None
    recorded_by: uuid.UUID
    recorded_by_name: str | None
    recorded_at: datetime


class OffFlowPublic(BaseModel):
    """Computed from the claims on the day asked (today)."""

    as_of: date
    state: OffFlowState
    off_since: date | None = Field(description="The day the last out-of-work spell ended")
    days_off: int | None
    off_flows: list[date] = Field(description="Every confirmed off-flow day, oldest first")
    restart_window_days: int
    baseline_on: date | None = Field(description="The client's first referral day")
    on_out_of_work_benefit_at_baseline: bool | None


class BenefitsPublic(BaseModel):
    client_id: uuid.UUID
    claims: list[BenefitClaimPublic]
    better_off_calculations: list[BetterOffPublic]
    off_flow: OffFlowPublic
