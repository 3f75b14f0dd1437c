"""An evaluation trial randomising consenting new clients between IPS and treatment as usual."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field
from app.evaluation.randomisation import Arm


class EvaluationTrial(SQLModel, table=True):
    """One organisation's randomised evaluation. The seed is recorded (sealed with the message
    keyring) so the sequence can be reproduced and audited; enrolling staff never see it."""

    __tablename__ = "evaluation_trial"

    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    # The field clients are stratified by (see app.evaluation.service.STRATIFY_FIELDS).
    stratify_by: str = Field(max_length=32)
    block_sizes: list[int] = Field(default_factory=list, sa_type=JSON)
    seed_key_id: str = Field(max_length=16)
    seed_ciphertext: bytes = Field(sa_type=LargeBinary)
    opened_at: datetime = timestamp_field()
    closed_at: datetime | None = timestamp_field(nullable=True)
    created_by: uuid.UUID = Field(foreign_key="user.id")
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class TrialAllocation(SQLModel, table=True):
    """A client's place in a trial: made when their evaluation consent is recorded, never before."""

    __tablename__ = "trial_allocation"
    __table_args__ = (
        UniqueConstraint("trial_id", "client_id"),
        UniqueConstraint("trial_id", "stratum", "position"),
    )

    id: uuid.UUID = id_field()
    trial_id: uuid.UUID = Field(foreign_key="evaluation_trial.id", index=True)
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    stratum: str = Field(max_length=100)
    position: int
    arm: Arm = enum_field()
    consent_record_id: int = Field(foreign_key="consent_record.id")
    allocated_at: datetime = timestamp_field()
