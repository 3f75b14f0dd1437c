from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class ConversationKind(StrEnum):
    direct = "direct"  # two people
    team = "team"  # a team's staff
    case = "case"  # a thread on a client's record: their care team (and the client, if included)


class Conversation(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("direct_key"),
        UniqueConstraint("team_id", "kind"),
        UniqueConstraint("client_id", "includes_client"),
    )

    id: uuid.UUID = id_field()
    kind: ConversationKind = enum_field()
    title: str | None = Field(default=None, max_length=200)
    team_id: uuid.UUID | None = Field(default=None, foreign_key="team.id")
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id", index=True)
    # A case thread either includes the client or is for the staff around them only.
    includes_client: bool | None = None
    # "<smaller user id>:<larger user id>", so two people have one direct conversation.
    direct_key: str | None = Field(default=None, max_length=80)
    # The last sequence number given out; incremented in the sending transaction, so the
    # numbers have no gaps.
    last_seq: int = 0
    created_at: datetime = timestamp_field()
    # When the last message came (or the conversation was opened): lists sort by it.
    last_activity_at: datetime = timestamp_field(index=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")


class ConversationParticipant(SQLModel, table=True):
    """The two people of a direct conversation (team and case membership is derived)."""

    __tablename__ = "conversation_participant"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = Field(foreign_key="conversation.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "sender_id", "client_msg_id"),
    )

    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = Field(foreign_key="conversation.id")
    seq: int
    sender_id: uuid.UUID = Field(foreign_key="user.id")
    client_msg_id: str = Field(max_length=64)
    # The body is only ever stored encrypted (AES-GCM); key_id names the key it was sealed with.
    key_id: str = Field(max_length=16)
    body_ciphertext: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = timestamp_field()
    edited_at: datetime | None = timestamp_field(nullable=True)
    deleted_at: datetime | None = timestamp_field(nullable=True)


class MessageRevision(SQLModel, table=True):
    """What a message said before an edit or deletion, kept (encrypted) for the record."""

    __tablename__ = "message_revision"

    id: uuid.UUID = id_field()
    message_id: uuid.UUID = Field(foreign_key="message.id", index=True)
    action: str = Field(max_length=16)  # edit | delete
    key_id: str = Field(max_length=16)
    body_ciphertext: bytes = Field(sa_type=LargeBinary)
    revised_at: datetime = timestamp_field()
    revised_by: uuid.UUID = Field(foreign_key="user.id")


class ReadMarker(SQLModel, table=True):
    __tablename__ = "read_marker"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = Field(foreign_key="conversation.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    last_read_seq: int = 0
    updated_at: datetime = timestamp_field()
