"""What the IPS journey API accepts and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from app.clients.schemas import CareTeamMemberPublic
from app.ips.models import EmployerContactType
from app.ips.rules import CaseloadState, CheckStatus, FirstContactSource, MilestoneKind
from app.schemas import Name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordedMilestoneKind(StrEnum):
    """Milestones recorded directly; job starts and ends are recorded through the job."""

    referral = MilestoneKind.referral.value
    first_meeting = MilestoneKind.first_meeting.value
    first_employer_contact = MilestoneKind.first_employer_contact.value


class MilestoneCreate(Strict):
    kind: RecordedMilestoneKind
    occurred_on: date
    note: str | None = Field(default=None, max_length=1000)


class MilestonePublic(BaseModel):
    id: uuid.UUID
    kind: MilestoneKind
    occurred_on: date
    job_id: uuid.UUID | None
    note: str | None
    recorded_by: uuid.UUID
    recorded_by_name: str | None
    recorded_at: datetime


class JobCreate(Strict):
    employer: Name = Field(min_length=1, max_length=200)
    role: Name = Field(min_length=1, max_length=200)
    hours_per_week: StrictFloat = Field(
        gt=0, le=80, description="A number: a string or true/false is refused"
    )
    started_on: date


class JobEnd(Strict):
    ended_on: date = Field(description="The last day the client held the job")
    note: str | None = Field(default=None, max_length=1000)


class ReviewCreate(Strict):
    reviewed_on: date
    note: str | None = Field(default=None, max_length=1000)


class ReviewPublic(BaseModel):
    id: uuid.UUID
    reviewed_on: date
    reviewed_by: uuid.UUID
    reviewed_by_name: str | None
    note: str | None


class InWorkSupport(BaseModel):
    """The 26-week in-work support window and its fortnightly reviews, as of today."""

    until: date = Field(description="Last day of the window (inclusive)")
    open: bool
    last_review_on: date | None
    next_review_due_on: date | None = Field(description="None once the window has closed")


class SustainmentCheck(BaseModel):
    weeks: Literal[13, 26, 52]
    due_on: date
    status: CheckStatus


class JobPublic(BaseModel):
    id: uuid.UUID
    employer: str
    role: str
    hours_per_week: float
    started_on: date
    ended_on: date | None
    in_work_support: InWorkSupport
    sustainment: list[SustainmentCheck]
    reviews: list[ReviewPublic]


class JourneyAlert(BaseModel):
    """Something due on the journey today or overdue. Overdue ones also reach the care team's
    alert lists (``GET /api/v1/alerts``) with the same ``kind``."""

    kind: str
    due_on: date
    days_past_due: int
    overdue: bool
    detail: str
    job_id: uuid.UUID | None = None
    action_id: str | None = None


class EmployerContactCreate(Strict):
    employer: Name = Field(min_length=1, max_length=200)
    contacted_on: date
    contact_type: EmployerContactType | None = Field(
        default=None, description="face_to_face, phone, video, email or other"
    )
    outcome: str = Field(min_length=1, max_length=1000)
    client_id: uuid.UUID | None = Field(
        default=None, description="The client the contact was for, if any"
    )


class EmployerContactUpdate(Strict):
    """A correction of a logged contact: only the fields given change. ``contact_type`` may be
    set to null; the others may not. The linked client does not change."""

    employer: Name | None = Field(default=None, min_length=1, max_length=200)
    contacted_on: date | None = None
    contact_type: EmployerContactType | None = None
    outcome: str | None = Field(default=None, min_length=1, max_length=1000)


class EmployerContactPublic(BaseModel):
    id: uuid.UUID
    specialist_id: uuid.UUID
    specialist_name: str | None
    employer: str
    contacted_on: date
    contact_type: EmployerContactType | None
    outcome: str
    client_id: uuid.UUID | None = Field(
        description="Shown only when the reader may read that client's record"
    )
    recorded_at: datetime


class Journey(BaseModel):
    client_id: uuid.UUID
    today: date
    joined_on: date
    joined_from: Literal["first_meeting", "record_created"]
    first_employer_contact_on: date | None
    first_employer_contact_from: FirstContactSource | None = Field(
        description="What showed the first employer contact: a recorded first-employer-contact "
        "milestone, an employer contact logged for the client, or a job start"
    )
    milestones: list[MilestonePublic]
    jobs: list[JobPublic]
    employer_contacts: list[EmployerContactPublic] = Field(
        description="Employer contacts logged for this client, newest first"
    )
    alerts: list[JourneyAlert]


class Caseload(BaseModel):
    specialist_id: uuid.UUID
    specialist_name: str
    organisation_id: uuid.UUID
    active_clients: int
    state: CaseloadState
    limit: int
    warn_above: int
    ips25_caseload_score: int = Field(description="IPS-25 item 1 at one full-time specialist")
    overrides_in_force: int = Field(
        description="Clients on the caseload assigned under a supervisor's override"
    )


class SpecialistAssign(Strict):
    user_id: uuid.UUID = Field(description="The employment specialist to assign")
    override_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="A supervisor's reason for assigning beyond the caseload limit",
    )


class OverridePublic(BaseModel):
    id: uuid.UUID
    specialist_id: uuid.UUID
    client_id: uuid.UUID
    supervisor_id: uuid.UUID
    reason: str
    caseload_before: int
    caseload_limit: int
    at: datetime


class Assignment(BaseModel):
    care_team: list[CareTeamMemberPublic]
    caseload: Caseload
    override: OverridePublic | None
