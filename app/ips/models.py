"""The IPS employment journey as recorded: milestones, jobs and their in-work support reviews,
each specialist's employer contacts, and supervisors' caseload overrides.

What is *due* (first employer contact, reviews, sustainment checks) is never stored: it is
computed from these facts by the pure rules in ``app.ips.rules`` for the day it is asked.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field
from app.ips.rules import MilestoneKind


class Milestone(SQLModel, table=True):
    """A point on a client's journey. Job starts and ends name their job (``job_id``)."""

    __tablename__ = "ips_milestone"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    kind: MilestoneKind = enum_field()
    occurred_on: date
    job_id: uuid.UUID | None = Field(default=None, foreign_key="ips_job.id")
    note: str | None = Field(default=None, max_length=1000)
    recorded_by: uuid.UUID = Field(foreign_key="user.id")
    recorded_at: datetime = timestamp_field()


class ContractType(StrEnum):
    """The job's contract: its quality as well as its security (issue: job quality)."""

    permanent = "permanent"
    fixed_term = "fixed_term"
    zero_hours = "zero_hours"
    self_employed = "self_employed"
    apprenticeship = "apprenticeship"


class Job(SQLModel, table=True):
    """A job the client started. ``ended_on`` is the last day in the job.

    Its quality: hourly pay in pence and the wage threshold in force when it was recorded (so a
    job that met the Real Living Wage when it started does not stop meeting it when the rate
    rises), the contract, whether it is competitive (open labour market, the IPS goal) and its
    sector (a UK SIC 2007 section letter, ``app.ips.sectors``). Jobs recorded before these were
    asked have None (competitive: true, as every job then was)."""

    __tablename__ = "ips_job"

    id: uuid.UUID = id_field()
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    employer: str = Field(max_length=200)
    role: str = Field(max_length=200)
    hours_per_week: float
    started_on: date
    ended_on: date | None = None
    hourly_pay_pence: int | None = None
    wage_threshold_pence: int | None = None
    contract_type: ContractType | None = enum_field(default=None)
    competitive: bool = True
    sector: str | None = Field(default=None, max_length=1)
    recorded_by: uuid.UUID = Field(foreign_key="user.id")
    recorded_at: datetime = timestamp_field()


class SupportReview(SQLModel, table=True):
    """An in-work support review of one job, on the day it took place."""

    __tablename__ = "ips_support_review"

    id: uuid.UUID = id_field()
    job_id: uuid.UUID = Field(foreign_key="ips_job.id", index=True)
    reviewed_on: date
    reviewed_by: uuid.UUID = Field(foreign_key="user.id")
    note: str | None = Field(default=None, max_length=1000)
    recorded_at: datetime = timestamp_field()


class EmployerContactType(StrEnum):
    """How the specialist reached the employer. IPS-25 job development counts face-to-face
    contacts, so the log says which they were."""

    face_to_face = "face_to_face"
    phone = "phone"
    video = "video"
    email = "email"
    other = "other"


class EmployerContact(SQLModel, table=True):
    """Job development: an employment specialist's contact with an employer, for a client when
    there is one (then it also counts as that client's employer contact)."""

    __tablename__ = "employer_contact"

    id: uuid.UUID = id_field()
    specialist_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    employer: str = Field(max_length=200)
    contacted_on: date = Field(index=True)
    # None on contacts logged before the type was recorded, or when it was not given.
    contact_type: EmployerContactType | None = enum_field(default=None)
    outcome: str = Field(max_length=1000)
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id", index=True)
    # The directory employer (``app.brokerage.models.Employer``) it was with, when one was named.
    employer_id: uuid.UUID | None = Field(default=None, foreign_key="employer.id", index=True)
    recorded_at: datetime = timestamp_field()


class CaseloadOverride(SQLModel, table=True):
    """A supervisor's decision to assign a client to a specialist beyond the caseload limit."""

    __tablename__ = "caseload_override"

    id: uuid.UUID = id_field()
    specialist_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    supervisor_id: uuid.UUID = Field(foreign_key="user.id")
    reason: str = Field(max_length=1000)
    caseload_before: int
    caseload_limit: int
    at: datetime = timestamp_field()
