from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.messaging.models import ConversationKind


class ConversationOpen(BaseModel):
    """Open (or find) a conversation: with a person, for a team, or on a client's record."""

    kind: ConversationKind
    user_id: uuid.UUID | None = Field(default=None, description="direct: the other person")
    team_id: uuid.UUID | None = Field(default=None, description="team: the team")
    client_id: uuid.UUID | None = Field(default=None, description="case: the client")
    includes_client: bool = Field(
        default=False, description="case: whether the client takes part in the thread"
    )


class ConversationPublic(BaseModel):
    id: uuid.UUID
    kind: ConversationKind
    title: str
    team_id: uuid.UUID | None
    client_id: uuid.UUID | None
    includes_client: bool | None
    last_seq: int
    last_read_seq: int
    unread: int
    created_at: datetime


class MessagePublic(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID
    sender_name: str | None = None
    client_msg_id: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted: bool


class MessagePage(BaseModel):
    conversation_id: uuid.UUID
    messages: list[MessagePublic]
    has_more: bool
    last_seq: int


class UnreadCount(BaseModel):
    conversation_id: uuid.UUID
    unread: int
    last_seq: int
    last_read_seq: int


class SearchHit(BaseModel):
    kind: Literal["message"] = "message"
    message: MessagePublic
