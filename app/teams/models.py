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
    """Who is on a team. Members read the team's conversation, join its meetings and see their
    colleagues' presence, so an admin only proposes a member: the membership grants nothing
    until someone already on the team confirms it (``teams.service.confirmer_ids``). The admin
    controls every account it makes, email address included; the confirming person is one it
    does not, who already reads what the new member would."""

    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: uuid.UUID = id_field()
    team_id: uuid.UUID = Field(foreign_key="team.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    # When it came into force (confirmed); while pending, when it was proposed.
    since: datetime = timestamp_field()
    proposed_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    confirmed_at: datetime | None = timestamp_field(nullable=True)
    # None for a membership in force without a confirmation: the first member of a team with
    # nothing recorded yet, and those made before confirmation existed.
    confirmed_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
