"""A client's benefit history (dated claims) and the welfare-benefits counselling they had.
Off-flow is never stored: it is computed from the claims (``app.benefits.rules``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.benefits.rules import BenefitKind, EsaGroup, UcRegime
from app.dbtypes import enum_field, id_field, timestamp_field


class BenefitSource(StrEnum):
    client_reported = "client_reported"
    verified = "verified"  # seen on an award letter, the client's online journal, or from DWP


class BetterOffOutcome(StrEnum):
    better_off_in_work = "better_off_in_work"
    about_the_same = "about_the_same"
    worse_off_in_work = "worse_off_in_work"


class BenefitClaim(SQLModel, table=True):
    """One benefit the client claims or claimed. ``ended_on`` is the first day it was no longer
    paid (None while it is); ``ended_by``/``ended_at`` say who recorded the end, and when."""

    __tablename__ = "benefit_claim"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    benefit: BenefitKind = enum_field()
    esa_group: EsaGroup | None = enum_field(None)
    uc_regime: UcRegime | None = enum_field(None)
    other_name: str | None = Field(default=None, max_length=200)
    started_on: date
    ended_on: date | None = None
    source: BenefitSource = enum_field()
    recorded_by: uuid.UUID = Field(foreign_key="user.id")
    recorded_at: datetime = timestamp_field()
    ended_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    ended_at: datetime | None = timestamp_field(nullable=True)


class BetterOffCalculation(SQLModel, table=True):
    """Welfare-benefits counselling: a better-off calculation done with the client."""

    __tablename__ = "benefit_better_off_calculation"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    done_on: date
    outcome: BetterOffOutcome = enum_field()
    hours_modelled: float | None = None
    recorded_by: uuid.UUID = Field(foreign_key="user.id")
    recorded_at: datetime = timestamp_field()
