from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class OrganisationKind(StrEnum):
    nhs_trust = "nhs_trust"
    employment_provider = "employment_provider"
    local_authority = "local_authority"
    jobcentre = "jobcentre"
    voluntary_sector = "voluntary_sector"


class Organisation(SQLModel, table=True):
    id: uuid.UUID = id_field()
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: OrganisationKind = enum_field()
    created_at: datetime = timestamp_field()
