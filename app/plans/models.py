from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class CarePlan(SQLModel, table=True):
    """One shared plan per client; ``version`` is the ETag of the current content."""

    __tablename__ = "care_plan"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", unique=True)
    version: int = 0
    content: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime | None = timestamp_field(nullable=True)
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class CarePlanVersion(SQLModel, table=True):
    """Every saved version: who, when, which sections changed, and the content then."""

    __tablename__ = "care_plan_version"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    id: uuid.UUID = id_field()
    plan_id: uuid.UUID = Field(foreign_key="care_plan.id", index=True)
    version: int
    content: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    sections: list[str] = Field(default_factory=list, sa_type=JSON)
    changed_by: uuid.UUID = Field(foreign_key="user.id")
    changed_at: datetime = timestamp_field()


class PlanComment(SQLModel, table=True):
    __tablename__ = "plan_comment"

    id: uuid.UUID = id_field()
    plan_id: uuid.UUID = Field(foreign_key="care_plan.id", index=True)
    item_id: str = Field(max_length=64, index=True)
    text: str = Field(max_length=2000)
    author_id: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()
