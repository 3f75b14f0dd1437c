from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from app.meetings.models import GuestKind, MeetingKind, MeetingState
from app.notifications.link_texts import UkMobile
from app.schemas import Name

# The most people one meeting invites (besides its host), in a request body.
MAX_INVITEES = 50

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")  # RFC 3339 allows t and a space


def _written_as_date_time(value: object) -> object:
    """A time comes as an RFC 3339 string with its offset. Pydantic alone would also take a
    number, or a string of one ("1893492000"), for a count of seconds."""
    if isinstance(value, datetime):
        return value  # made in Python (an ad-hoc call), not read from a request
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("a date-time like 2030-01-07T10:00:00Z")
    return value


# A time with its offset ("2030-01-07T10:00:00Z"): a time without one would be read as some
# zone's local time.
MeetingTime = Annotated[AwareDatetime, BeforeValidator(_written_as_date_time)]


class MeetingCreate(BaseModel):
    """docs/meetings.md, "Request bodies"; tests/system/test_api_docs.py compares the two."""

    model_config = ConfigDict(extra="forbid")

    kind: MeetingKind
    title: Name = Field(min_length=1, max_length=200)
    client_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    starts_at: MeetingTime
    ends_at: MeetingTime
    invitee_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_INVITEES)

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
    """Only the fields given change; ``invitee_ids`` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    title: Name | None = Field(default=None, min_length=1, max_length=200)
    starts_at: MeetingTime | None = None
    ends_at: MeetingTime | None = None
    invitee_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_INVITEES)


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
    user_id: uuid.UUID | None = Field(description="None for a guest without an account")
    guest: GuestKind | None = Field(
        default=None, description="client, interpreter or family for a guest; else None"
    )
    name: str
    arrived_at: datetime
    joined_at: datetime | None
    left_at: datetime | None
    minutes: float | None
    state: str


class GuestLinkCreate(BaseModel):
    """docs/meetings.md, "Guest links"; tests/system/test_api_docs.py compares the two."""

    model_config = ConfigDict(extra="forbid")

    kind: GuestKind
    # The interpreter's or family member's name (required for them; none for the client, whose
    # name is on their record).
    guest_name: Name = Field(default="", max_length=200, strict=True)
    # Where to email the link; none: the client's login email for the client, or no email.
    email: str | None = Field(
        default=None, min_length=3, max_length=320, strict=True, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    # Text the link to this UK mobile (app/notifications/link_texts.py), normalised to E.164.
    sms_to: UkMobile | None = None
    # Text the link to the client's own number on record (the client's link, without sms_to).
    sms: StrictBool = False


class GuestLinkPublic(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    kind: GuestKind
    guest_name: str
    created_at: datetime
    opens_at: datetime
    closes_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    failed_attempts: int


class GuestLinkCreated(GuestLinkPublic):
    """The link and its code are shown only here, to the member of staff who made it."""

    link: str
    code: str
    emailed: bool
    texted: bool


class GuestLinkOpened(BaseModel):
    """What the guest page shows before the guest says who they are: no names, no title."""

    kind: GuestKind
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime


class GuestJoin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, min_length=1, max_length=200, strict=True)
    code: str | None = Field(default=None, min_length=1, max_length=20, strict=True)

    @model_validator(mode="after")
    def one_of(self) -> GuestJoin:
        if (self.name is None) == (self.code is None):
            raise ValueError("give your first name (name) or the code you were sent (code)")
        return self


class GuestCredential(BaseModel):
    credential: str
    expires_at: datetime
    meeting_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    kind: GuestKind
    name: str
