from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class MeetingKind(StrEnum):
    case_meeting = "case_meeting"  # the care team about a client
    client_session = "client_session"  # a client with their keyworker, therapist or specialist
    supervision = "supervision"  # supervision or reflective practice (a team's)


class MeetingState(StrEnum):
    scheduled = "scheduled"
    open = "open"  # someone is in it
    ended = "ended"


class ParticipantState(StrEnum):
    lobby = "lobby"
    admitted = "admitted"
    reconnecting = "reconnecting"  # the socket dropped; the seat is kept for the grace time
    left = "left"
    declined = "declined"
    removed = "removed"


ACTIVE_STATES = (ParticipantState.admitted, ParticipantState.reconnecting)


class Meeting(SQLModel, table=True):
    id: uuid.UUID = id_field()
    kind: MeetingKind = enum_field()
    title: str = Field(max_length=200)
    # A meeting belongs to a team or to a client's case (an ad-hoc call may also name the
    # conversation it was started from).
    team_id: uuid.UUID | None = Field(default=None, foreign_key="team.id", index=True)
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id", index=True)
    conversation_id: uuid.UUID | None = Field(default=None, foreign_key="conversation.id")
    starts_at: datetime = timestamp_field()
    ends_at: datetime = timestamp_field()
    state: MeetingState = enum_field(MeetingState.scheduled)
    host_id: uuid.UUID = Field(foreign_key="user.id")
    # iCalendar identity: one UID for the meeting's life, SEQUENCE raised on every change.
    ical_uid: str = Field(max_length=200, unique=True)
    ical_sequence: int = 0
    cancelled_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()


class MeetingInvitee(SQLModel, table=True):
    __tablename__ = "meeting_invitee"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: uuid.UUID = id_field()
    meeting_id: uuid.UUID = Field(foreign_key="meeting.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    added_at: datetime = timestamp_field()


class MeetingParticipant(SQLModel, table=True):
    """One person's presence in a meeting, from arrival to leaving: the attendance record, and
    the live seat that signalling is routed by (several server processes share it)."""

    __tablename__ = "meeting_participant"

    id: uuid.UUID = id_field()
    meeting_id: uuid.UUID = Field(foreign_key="meeting.id", index=True)
    # A person with an account, or else a guest who came by a guest link (no account): then the
    # link stands for them, and ``guest_name`` and ``guest_kind`` say who they are.
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user.id", index=True)
    guest_link_id: uuid.UUID | None = Field(default=None, foreign_key="meeting_guest_link.id")
    guest_kind: str | None = Field(default=None, max_length=32)
    guest_name: str = Field(default="", max_length=200)
    connection_id: str = Field(max_length=64, index=True)
    state: ParticipantState = enum_field(ParticipantState.lobby, index=True)
    audio: bool = True
    video: bool = True
    screen: bool = False
    hand: bool = False
    arrived_at: datetime = timestamp_field()
    joined_at: datetime | None = timestamp_field(nullable=True)  # admitted
    left_at: datetime | None = timestamp_field(nullable=True)
    reconnect_deadline: datetime | None = timestamp_field(nullable=True)

    @property
    def person_id(self) -> uuid.UUID:
        """Whom the seat's frames are routed to: the person's id, or a guest's link's id (the
        channel a guest's socket listens on). A guest's seat whose link retention has removed
        (long after the session) routes to no one: the seat's own id stands in."""
        if self.user_id is not None:
            return self.user_id
        return self.guest_link_id if self.guest_link_id is not None else self.id


class GuestKind(StrEnum):
    """Who a guest link brings into a client's session, as the participant list and attendance
    name them."""

    client = "client"  # the client themselves, without a Teamwell account
    interpreter = "interpreter"
    family = "family"  # a family member or friend the client asked for


class GuestLink(SQLModel, table=True):
    """A one-time link that lets one person without an account into one client session's lobby.

    The token in the link and the short code are stored only as digests. The link works once
    (``used_at``), only within a window around the session's time, until it is revoked, and
    after too many wrong names or codes (``failed_attempts``) not at all."""

    __tablename__ = "meeting_guest_link"

    id: uuid.UUID = id_field()
    meeting_id: uuid.UUID = Field(foreign_key="meeting.id", index=True)
    kind: GuestKind = enum_field()
    # The guest's name for an interpreter or family member (checked on joining, shown in the
    # participant list); empty for the client, whose name is read from their record.
    guest_name: str = Field(default="", max_length=200)
    token_hash: str = Field(max_length=64, unique=True)
    code_hash: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()
    failed_attempts: int = 0
    used_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)
