"""Quarterly targets for a team or an area cluster, set by its supervisors and admins."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class ReportTarget(SQLModel, table=True):
    """One figure's target for one scope and quarter; setting it again replaces it."""

    __tablename__ = "report_target"
    __table_args__ = (UniqueConstraint("scope_kind", "scope_id", "quarter", "measure"),)

    id: uuid.UUID = id_field()
    scope_kind: str = Field(max_length=16)  # team or area_cluster
    scope_id: str = Field(max_length=100)  # the team's id or the cluster's name
    quarter: str = Field(max_length=7)  # 2026-Q4
    measure: str = Field(max_length=32)
    target: int
    set_by: uuid.UUID = Field(foreign_key="user.id")
    set_at: datetime = timestamp_field()
