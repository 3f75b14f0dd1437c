"""What the IPS journey API accepts and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from app.clients.schemas import CareTeamMemberPublic
from app.ips.models import ContractType, EmployerContactType
from app.ips.rules import CaseloadState, CheckStatus, FirstContactSource, MilestoneKind
from app.ips.sectors import SIC_SECTIONS
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


MAX_HOURLY_PAY_PENCE = 100_000
"""The highest hourly pay accepted (£1,000 an hour): a guard against pounds typed as pence."""


def _sector(value: str) -> str:
    if value not in SIC_SECTIONS:
        raise ValueError("must be a UK SIC 2007 section letter, A to U")
    return value


Sector = Annotated[
    str, AfterValidator(_sector), WithJsonSchema({"type": "string", "enum": list(SIC_SECTIONS)})
]


class JobQuality(Strict):
    """A job's quality, recorded with its start (each optional, so a start is never lost for
    want of one; reports count what is recorded)."""

    hourly_pay_pence: StrictInt | None = Field(
        default=None,
        gt=0,
        le=MAX_HOURLY_PAY_PENCE,
        description="Hourly pay in whole pence (1345 is £13.45): an integer; a string, a "
        "decimal or true/false is refused",
    )
    contract_type: ContractType | None = Field(
        default=None,
        description="permanent, fixed_term, zero_hours, self_employed or apprenticeship",
    )
    competitive: StrictBool = Field(
        default=True,
        description="Open labour market: any person could apply and it pays at least the usual "
        "rate (not set aside for disabled people). Sustainment counts competitive jobs only by "
        "default",
    )
    sector: Sector | None = Field(
        default=None, description="A UK SIC 2007 section letter, A to U (GET /api/v1/ips/sectors)"
    )


class JobCreate(JobQuality):
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
    hourly_pay_pence: int | None
    wage_threshold_pence: int | None = Field(
        description="The wage threshold in force when the job was recorded (pence an hour)"
    )
    meets_wage_threshold: bool | None = Field(
        description="Pay at or above that threshold; None when the pay was not recorded"
    )
    contract_type: ContractType | None
    competitive: bool
    sector: str | None
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
    employer_id: uuid.UUID | None = Field(
        default=None,
        description="The employer in the specialist's organisation's directory, if it is one "
        "(GET /api/v1/employers); another organisation's is a 404",
    )


class EmployerContactUpdate(Strict):
    """A correction of a logged contact: only the fields given change. ``contact_type`` and
    ``employer_id`` may be set to null; the others may not. The linked client does not change."""

    employer: Name | None = Field(default=None, min_length=1, max_length=200)
    contacted_on: date | None = None
    contact_type: EmployerContactType | None = None
    outcome: str | None = Field(default=None, min_length=1, max_length=1000)
    employer_id: uuid.UUID | None = Field(
        default=None,
        description="Link the contact to another employer of the specialist's organisation's "
        "directory (another organisation's is a 404), or null: not in the directory",
    )


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
    employer_id: uuid.UUID | None = Field(
        default=None, description="The directory employer it was logged against"
    )
    recorded_at: datetime


class SectorPublic(BaseModel):
    code: str = Field(description="The UK SIC 2007 section letter")
    label: str


class JobQualitySettings(BaseModel):
    """The settings job quality is judged by."""

    wage_threshold_name: str
    wage_threshold_pence: int
    sustainment_competitive_only: bool
    sectors: list[SectorPublic]
    contract_types: list[ContractType]


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
    job_quality: JobQualitySettings | None = Field(
        default=None,
        description="What a job start's quality is judged by: the wage threshold in force, "
        "whether sustainment counts competitive jobs only, the sectors and contract types",
    )


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
