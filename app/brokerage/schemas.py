"""What the brokerage API accepts and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from app.brokerage.models import ApplicationStatus, VacancyStatus
from app.ips.schemas import MAX_HOURLY_PAY_PENCE, JobQuality, Sector
from app.schemas import Name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmployerCreate(Strict):
    name: Name = Field(min_length=1, max_length=200)
    sector: Sector | None = Field(default=None, description="A UK SIC 2007 section letter, A-U")
    location: Name | None = Field(default=None, min_length=1, max_length=200)


class EmployerUpdate(Strict):
    """Only the fields given change; ``sector`` and ``location`` may be set to null."""

    name: Name | None = Field(default=None, min_length=1, max_length=200)
    sector: Sector | None = None
    location: Name | None = Field(default=None, min_length=1, max_length=200)


class EmployerPublic(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    sector: str | None
    location: str | None
    open_vacancies: int = Field(description="Vacancies open and not past their closing day")
    contacts: int = Field(description="Employer contacts logged against this employer")
    last_contact_on: date | None
    created_at: datetime


class VacancyCreate(Strict):
    title: Name = Field(min_length=1, max_length=200)
    hours_per_week: StrictFloat = Field(gt=0, le=80, description="A number")
    hourly_pay_pence: StrictInt | None = Field(
        default=None, gt=0, le=MAX_HOURLY_PAY_PENCE, description="Whole pence: an integer"
    )
    location: Name | None = Field(default=None, min_length=1, max_length=200)
    closing_on: date | None = Field(default=None, description="The last day to apply")


class VacancyUpdate(Strict):
    """Only the fields given change."""

    title: Name | None = Field(default=None, min_length=1, max_length=200)
    hours_per_week: StrictFloat | None = Field(default=None, gt=0, le=80)
    hourly_pay_pence: StrictInt | None = Field(default=None, gt=0, le=MAX_HOURLY_PAY_PENCE)
    location: Name | None = Field(default=None, min_length=1, max_length=200)
    closing_on: date | None = None
    status: VacancyStatus | None = Field(default=None, description="open, filled or closed")


class VacancyPublic(BaseModel):
    id: uuid.UUID
    employer_id: uuid.UUID
    employer_name: str
    sector: str | None = Field(description="The employer's sector")
    title: str
    hours_per_week: float
    hourly_pay_pence: int | None
    meets_wage_threshold: bool | None
    location: str | None
    closing_on: date | None
    status: VacancyStatus
    live: bool = Field(description="Open and its closing day has not passed: it is matched")
    created_at: datetime


class EmployerDetail(EmployerPublic):
    vacancies: list[VacancyPublic]


class CriterionPublic(BaseModel):
    name: str = Field(description="type, location, hours, pay, sector or minimum_pay")
    outcome: str = Field(description="met, not_met or unknown")
    reason: str


class VacancyMatch(BaseModel):
    vacancy: VacancyPublic
    met: int = Field(description="How many criteria are met")
    criteria: list[CriterionPublic]
    application_id: uuid.UUID | None = Field(
        description="The client's application to this vacancy, if there is one"
    )


class ApplicationCreate(Strict):
    vacancy_id: uuid.UUID
    applied_on: date


class ApplicationUpdate(Strict):
    """A move on: ``interview``, ``offer``, ``unsuccessful`` or ``withdrawn``; ``started``
    needs ``job``, the job start's quality, which is recorded on the journey as any job start
    (employer and role come from the vacancy)."""

    status: ApplicationStatus
    status_on: date
    job: StartedJob | None = None


class StartedJob(JobQuality):
    hours_per_week: StrictFloat | None = Field(
        default=None, gt=0, le=80, description="The vacancy's hours unless given"
    )


class ApplicationPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    vacancy: VacancyPublic
    status: ApplicationStatus
    applied_on: date
    status_on: date
    job_id: uuid.UUID | None
    recorded_by: uuid.UUID
    recorded_at: datetime


ApplicationUpdate.model_rebuild()
