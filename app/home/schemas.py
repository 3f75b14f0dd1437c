"""The shape of a person's day (``GET /api/v1/me/today``): what each role starts from."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.measures.schemas import AlertPublic
from app.meetings.schemas import MeetingPublic
from app.supervision.schemas import CheckInPrompt, TalkRequestPublic


class UnreadConversation(BaseModel):
    conversation_id: uuid.UUID
    title: str
    unread: int


class DueWork(BaseModel):
    """Something due today or overdue on the IPS journey of a client on the person's care team
    (``app.ips.service.due_alerts``)."""

    client_id: uuid.UUID
    client_name: str
    kind: str
    due_on: date
    days_past_due: int
    overdue: bool
    detail: str


class QuestionnaireDue(BaseModel):
    """A questionnaire the care team asked the client to complete, still open."""

    instrument: str
    name: str
    expires_at: datetime


class ClientDay(BaseModel):
    """A client's own: their record, next session and the questionnaires asked of them."""

    client_id: uuid.UUID
    display_name: str
    next_session: MeetingPublic | None
    questionnaires_due: list[QuestionnaireDue]


class AdminDay(BaseModel):
    """What an admin looks after in their organisation; counts only, no clinical content."""

    pending_invitations: int = Field(description="sent, neither accepted, revoked nor expired")
    active_accounts: int
    inactive_accounts: int
    teams: int


class Today(BaseModel):
    """Every key is always present; a part that is not for the caller's role is null."""

    role: str
    now: datetime
    meetings: list[MeetingPublic] | None
    unread: list[UnreadConversation]
    alerts: list[AlertPublic] | None
    due_work: list[DueWork] | None
    check_in: CheckInPrompt | None
    talk_requests: list[TalkRequestPublic] | None
    client: ClientDay | None
    admin: AdminDay | None
