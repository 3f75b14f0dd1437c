"""Job brokerage: each organisation's employer directory, the vacancies its employers offer,
and clients' applications to them (applied, interview, offer, start), part of the journey.

Employer contacts (``app.ips.models.EmployerContact``) are logged against a directory employer
through their ``employer_id``; the matching of a client's job preferences to vacancies is the
pure rule in ``app.brokerage.rules`` and is never stored.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class Employer(SQLModel, table=True):
    """An employer in one organisation's directory, kept by its employment specialists."""

    __tablename__ = "employer"

    id: uuid.UUID = id_field()
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    sector: str | None = Field(default=None, max_length=1)
    location: str | None = Field(default=None, max_length=200)
    created_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()


class VacancyStatus(StrEnum):
    open = "open"
    filled = "filled"
    closed = "closed"


class Vacancy(SQLModel, table=True):
    """A vacancy an employer offers. It is matched while open and its closing day has not
    passed (``closing_on`` is the last day to apply)."""

    __tablename__ = "vacancy"

    id: uuid.UUID = id_field()
    employer_id: uuid.UUID = Field(foreign_key="employer.id", index=True)
    title: str = Field(max_length=200)
    hours_per_week: float
    hourly_pay_pence: int | None = None
    location: str | None = Field(default=None, max_length=200)
    closing_on: date | None = None
    status: VacancyStatus = enum_field(default=VacancyStatus.open)
    created_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()


class ApplicationStatus(StrEnum):
    """Where an application stands. ``started`` is reached by recording the job start (an
    accepted offer becomes the job); ``unsuccessful`` and ``withdrawn`` close it."""

    applied = "applied"
    interview = "interview"
    offer = "offer"
    started = "started"
    unsuccessful = "unsuccessful"
    withdrawn = "withdrawn"


class Application(SQLModel, table=True):
    """A client's application to a vacancy, on their journey."""

    __tablename__ = "vacancy_application"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    vacancy_id: uuid.UUID = Field(foreign_key="vacancy.id", index=True)
    status: ApplicationStatus = enum_field(default=ApplicationStatus.applied)
    applied_on: date
    status_on: date
    job_id: uuid.UUID | None = Field(default=None, foreign_key="ips_job.id")
    recorded_by: uuid.UUID = Field(foreign_key="user.id")
    recorded_at: datetime = timestamp_field()
