"""Documents: a file that lives in exactly one place (a client's record, a conversation or a
meeting), its versions, and the uploads that are still arriving in chunks.

The content of a version is never in the database: it is sealed with a data key of its own
(AES-256-GCM) and kept in the object store under ``object_key``; the row keeps that data key
sealed with the service keyring (``key_id``, ``wrapped_key``), so re-keying the service re-wraps
the small data keys and never rewrites an object (docs/documents.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class Place(StrEnum):
    """Where a document lives: it has exactly one of these."""

    client_record = "client_record"
    conversation = "conversation"
    meeting = "meeting"


class DocumentKind(StrEnum):
    """The folder of a record's document, or what a document of a meeting or a conversation is.
    Retention is set per kind (``TEAMWELL_DOCUMENT_RETENTION_DAYS``)."""

    cv = "cv"
    letters = "letters"
    forms = "forms"
    other = "other"
    attachment = "attachment"  # a file sent in a conversation
    agenda = "agenda"
    notes = "notes"


# Which kinds each place takes.
KINDS_OF_PLACE: dict[Place, frozenset[DocumentKind]] = {
    Place.client_record: frozenset(
        {DocumentKind.cv, DocumentKind.letters, DocumentKind.forms, DocumentKind.other}
    ),
    Place.conversation: frozenset({DocumentKind.attachment}),
    Place.meeting: frozenset({DocumentKind.agenda, DocumentKind.notes}),
}


class ScanStatus(StrEnum):
    pending = "pending"  # the scanner was unreachable: a job scans it when it is back
    clean = "clean"
    infected = "infected"  # quarantined: the object is removed, the row kept
    not_scanned = "not_scanned"  # no scanner is configured


class Document(SQLModel, table=True):
    __tablename__ = "document"

    id: uuid.UUID = id_field()
    place: Place = enum_field(length=16)
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id", index=True)
    conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversation.id", index=True
    )
    meeting_id: uuid.UUID | None = Field(default=None, foreign_key="meeting.id", index=True)
    kind: DocumentKind = enum_field(length=16)
    title: str = Field(max_length=200)
    # Staff decide per document whether the client sees it; a client's own uploads are theirs.
    shared_with_client: bool = False
    created_by: uuid.UUID = Field(foreign_key="user.id")
    created_at: datetime = timestamp_field()
    latest_version: int = 0
    deleted_at: datetime | None = timestamp_field(nullable=True)
    deleted_by: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    delete_reason: str | None = Field(default=None, max_length=500)


class DocumentVersion(SQLModel, table=True):
    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: uuid.UUID = id_field()
    document_id: uuid.UUID = Field(foreign_key="document.id", index=True)
    number: int
    filename: str = Field(max_length=255)  # made safe, its extension from the content
    media_type: str = Field(max_length=100)  # identified from the content
    previewable: bool = False
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)  # of the plaintext
    uploaded_by: uuid.UUID = Field(foreign_key="user.id")
    uploaded_at: datetime = timestamp_field()
    scan_status: ScanStatus = enum_field(length=16)
    scanned_at: datetime | None = timestamp_field(nullable=True)
    # The virus name when infected: for staff and the uploader's own list, never in a notice.
    scan_signature: str | None = Field(default=None, max_length=200)
    # The sealed object; None once it is removed (quarantine, deletion, retention). With
    # ``segment_bytes`` set, the content is in segments of that many bytes (the last shorter),
    # each sealed on its own and stored under ``<object_key>/<index>``; without (versions stored
    # before segments), one object sealed whole under ``object_key``.
    object_key: str | None = Field(default=None, max_length=200)
    segment_bytes: int | None = None
    removed_at: datetime | None = timestamp_field(nullable=True)
    # The data key, sealed with the service keyring (app/messaging/keyring.py).
    key_id: str | None = Field(default=None, max_length=16)
    wrapped_key: bytes | None = Field(default=None, sa_type=LargeBinary)


class DocumentUpload(SQLModel, table=True):
    """An upload under way: where it goes, what was declared, how much has arrived. Its chunks
    are sealed, as they arrive, as the segments of the version it becomes (whose id is the
    upload's), under the upload's data key, which the version takes over on completion."""

    __tablename__ = "document_upload"

    id: uuid.UUID = id_field()
    uploader_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    place: Place = enum_field(length=16)
    client_id: uuid.UUID | None = Field(default=None, foreign_key="client_record.id")
    conversation_id: uuid.UUID | None = Field(default=None, foreign_key="conversation.id")
    meeting_id: uuid.UUID | None = Field(default=None, foreign_key="meeting.id")
    # A new version of this document, or (None) a new document.
    document_id: uuid.UUID | None = Field(default=None, foreign_key="document.id")
    kind: DocumentKind = enum_field(length=16)
    title: str = Field(max_length=200)
    shared_with_client: bool = False
    filename: str = Field(max_length=255)  # as declared; made safe on completion
    size_bytes: int = Field(sa_type=BigInteger)  # declared
    chunk_bytes: int
    received_bytes: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = timestamp_field(index=True)
    expires_at: datetime = timestamp_field()
    completed_at: datetime | None = timestamp_field(nullable=True)
    key_id: str | None = Field(default=None, max_length=16)
    wrapped_key: bytes | None = Field(default=None, sa_type=LargeBinary)
    # Set on every upload started since segments: its chunks are the segments of the version it
    # becomes, stored where they stay. None: an upload started before, its chunks under
    # ``uploads/<id>/<offset>``, which can no longer be completed (only removed).
    segmented: bool | None = None
