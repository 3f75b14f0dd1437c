from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field
from app.users.models import Role


class ProgrammeStatus(StrEnum):
    referred = "referred"
    active = "active"
    in_work = "in_work"
    closed = "closed"


class ReferralSource(StrEnum):
    jobcentre = "jobcentre"
    talking_therapies = "talking_therapies"
    self_referral = "self"
    other = "other"


class ClientRecord(SQLModel, table=True):
    """The person supported. ``user_id`` is set when they have their own login."""

    __tablename__ = "client_record"

    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    team_id: uuid.UUID = Field(foreign_key="team.id", index=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", unique=True)
    display_name: str = Field(max_length=200)
    status: ProgrammeStatus = enum_field(ProgrammeStatus.referred, index=True)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class CareTeamMember(SQLModel, table=True):
    """A member of staff on a client's care team, for a period (``until`` is None while current)."""

    __tablename__ = "care_team_member"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    role_on_team: Role = enum_field()
    since: datetime = timestamp_field()
    until: datetime | None = timestamp_field(nullable=True)
    added_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class Referral(SQLModel, table=True):
    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    source: ReferralSource = enum_field()
    referred_on: date
    reason: str = Field(max_length=2000)
    recorded_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    recorded_at: datetime = timestamp_field()
    # Eligibility at referral: None when the questions were not asked; an ineligible referral
    # keeps its reasons and still counts as a referral.
    eligible: bool | None = None
    ineligible_reason: str | None = Field(default=None, max_length=2000)


class EligibilityAnswer(SQLModel, table=True):
    """One eligibility question answered at a referral, with its wording then."""

    __tablename__ = "referral_eligibility_answer"

    id: uuid.UUID = id_field()
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    question_key: str = Field(max_length=64)
    question_text: str = Field(max_length=300)
    answer: bool
    recorded_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    recorded_at: datetime = timestamp_field()
