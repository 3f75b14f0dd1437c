"""The shared client plan as a typed document: every section the integrated team works on."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.ips.schemas import MAX_HOURLY_PAY_PENCE, Sector
from app.ips.sectors import SIC_SECTIONS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def new_item_id() -> str:
    return uuid.uuid4().hex[:12]


class Goal(Strict):
    """A goal in the client's own words."""

    id: str = Field(default_factory=new_item_id, max_length=32)
    text: str = Field(min_length=1, max_length=1000)


class JobPreferences(Strict):
    types: list[str] = Field(default_factory=list, max_length=20)
    locations: list[str] = Field(default_factory=list, max_length=20)
    hours_per_week: StrictInt | None = Field(default=None, ge=0, le=80)
    # Vacancy matching leaves out vacancies outside these sectors or below this pay
    # (app.brokerage.rules); each is optional, and unset rules nothing out.
    sectors: list[Sector] = Field(
        default_factory=list,
        max_length=len(SIC_SECTIONS),
        description="Preferred sectors, UK SIC 2007 section letters (A-U)",
    )
    min_hourly_pay_pence: StrictInt | None = Field(
        default=None,
        gt=0,
        le=MAX_HOURLY_PAY_PENCE,
        description="The least hourly pay the client would take, in whole pence",
    )


class VocationalProfile(Strict):
    preferences: JobPreferences = Field(default_factory=JobPreferences)
    work_history: str = Field(default="", max_length=4000)
    skills: list[str] = Field(default_factory=list, max_length=50)
    what_helps: str = Field(default="", max_length=2000)
    what_gets_in_the_way: str = Field(default="", max_length=2000)


class ActionStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class Action(Strict):
    """Something someone will do: an owner from any discipline, or the client themselves."""

    id: str = Field(default_factory=new_item_id, max_length=32)
    text: str = Field(min_length=1, max_length=1000)
    owner_id: uuid.UUID | None = Field(default=None, description="Staff owner; None = the client")
    due_on: date | None = None
    status: ActionStatus = ActionStatus.open


class SupportKind(StrEnum):
    housing = "housing"
    debt_advice = "debt_advice"
    welfare_benefits = "welfare_benefits"
    other = "other"


class ReferralStatus(StrEnum):
    to_refer = "to_refer"
    referred = "referred"
    accepted = "accepted"
    declined = "declined"
    completed = "completed"


class SupportNeed(Strict):
    """Support brokered elsewhere, with where the referral stands."""

    id: str = Field(default_factory=new_item_id, max_length=32)
    kind: SupportKind
    description: str = Field(min_length=1, max_length=1000)
    referral_status: ReferralStatus = ReferralStatus.to_refer


class DiversionKind(StrEnum):
    life_skills = "life_skills"
    vocational_skills = "vocational_skills"


class DiversionActivity(Strict):
    """Offered instead of a sanction to someone at risk of dropping out, with attendance."""

    id: str = Field(default_factory=new_item_id, max_length=32)
    kind: DiversionKind
    activity: str = Field(min_length=1, max_length=300)
    sessions_offered: StrictInt = Field(default=0, ge=0, le=500)
    sessions_attended: StrictInt = Field(default=0, ge=0, le=500)


class PlanContent(Strict):
    goals: list[Goal] = Field(default_factory=list, max_length=50)
    vocational_profile: VocationalProfile = Field(default_factory=VocationalProfile)
    actions: list[Action] = Field(default_factory=list, max_length=200)
    support_needs: list[SupportNeed] = Field(default_factory=list, max_length=50)
    diversion: list[DiversionActivity] = Field(default_factory=list, max_length=50)


SECTIONS = ("goals", "vocational_profile", "actions", "support_needs", "diversion")
# What a client may change in their own plan: their goals in their own words (and comments).
CLIENT_EDITABLE = frozenset({"goals"})


class PlanPublic(BaseModel):
    client_id: uuid.UUID
    version: int
    content: PlanContent
    updated_at: datetime | None
    updated_by: uuid.UUID | None
    updated_by_name: str | None = None


class PlanVersionPublic(BaseModel):
    version: int
    changed_at: datetime
    changed_by: uuid.UUID
    changed_by_name: str | None
    sections: list[str]
    content: dict[str, Any]


class CommentCreate(Strict):
    item_id: str = Field(min_length=1, max_length=64, description="A plan item id or a section")
    text: str = Field(min_length=1, max_length=2000)


class CommentPublic(BaseModel):
    id: uuid.UUID
    item_id: str
    text: str
    author_id: uuid.UUID
    author_name: str | None
    created_at: datetime
