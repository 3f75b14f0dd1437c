from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.meetings.models import MeetingKind, MeetingState
from app.schemas import Name


class MeetingCreate(BaseModel):
    kind: MeetingKind
    title: Name = Field(min_length=1, max_length=200)
    client_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    starts_at: datetime
    ends_at: datetime
    invitee_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def belongs_somewhere(self) -> MeetingCreate:
        if (self.client_id is None) == (self.team_id is None):
            raise ValueError("a meeting belongs to a client's case (client_id) or a team (team_id)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.kind == MeetingKind.client_session and self.client_id is None:
            raise ValueError("a client session is for a client: give client_id")
        return self


class MeetingUpdate(BaseModel):
    title: Name | None = Field(default=None, min_length=1, max_length=200)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    invitee_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)


class MeetingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: MeetingKind
    title: str
    client_id: uuid.UUID | None
    team_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    state: MeetingState
    host_id: uuid.UUID
    ical_uid: str
    ical_sequence: int
    cancelled_at: datetime | None
    invitee_ids: list[uuid.UUID] = Field(default_factory=list)


class AttendancePublic(BaseModel):
    participant_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    arrived_at: datetime
    joined_at: datetime | None
    left_at: datetime | None
    minutes: float | None
    state: str
