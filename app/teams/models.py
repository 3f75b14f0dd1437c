from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import id_field, timestamp_field


class Team(SQLModel, table=True):
    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    # Evaluations report by area cluster (a group of localities), so every team carries one.
    area_cluster: str = Field(max_length=100, index=True)
    created_at: datetime = timestamp_field()


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: uuid.UUID = id_field()
    team_id: uuid.UUID = Field(foreign_key="team.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    since: datetime = timestamp_field()
