from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.clients.models import ProgrammeStatus, ReferralSource
from app.consents.schemas import ConsentPublic
from app.schemas import Name
from app.users.models import Role


class ReferralCreate(BaseModel):
    source: ReferralSource
    referred_on: date
    reason: str = Field(min_length=1, max_length=2000)
    eligibility: dict[str, StrictBool] | None = Field(
        default=None,
        description="The answer (true/false) to every eligibility question, by its key "
        "(GET /eligibility-questions); omitted when the questions were not asked",
    )


class EligibilityAnswerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    question_key: str
    question_text: str
    answer: bool
    recorded_by: uuid.UUID | None
    recorded_at: datetime


class ReferralPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: ReferralSource
    referred_on: date
    reason: str
    recorded_at: datetime
    eligible: bool | None = Field(description="None when the questions were not asked")
    ineligible_reason: str | None
    eligibility: list[EligibilityAnswerPublic] = Field(default_factory=list)


class EligibilityQuestionPublic(BaseModel):
    key: str
    text: str
    eligible_answer: bool
    reason_if_not: str


class ClientCreate(BaseModel):
    display_name: Name = Field(min_length=1, max_length=200)
    team_id: uuid.UUID
    referral: ReferralCreate


class ClientUpdate(BaseModel):
    display_name: Name | None = Field(default=None, min_length=1, max_length=200)
    status: ProgrammeStatus | None = None


class ClientListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    status: ProgrammeStatus
    organisation_id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime


class CareTeamMemberAdd(BaseModel):
    user_id: uuid.UUID
    role_on_team: Role | None = Field(
        default=None, description="Defaults to the person's own role."
    )


class CareTeamMemberPublic(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    role_on_team: Role
    since: datetime
    until: datetime | None


class ClientSummary(ClientListItem):
    organisation_name: str
    team_name: str
    user_id: uuid.UUID | None
    updated_at: datetime
    care_team: list[CareTeamMemberPublic]
    referrals: list[ReferralPublic]
    consents: list[ConsentPublic]
