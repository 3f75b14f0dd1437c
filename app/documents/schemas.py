"""What the documents API accepts and returns. Secrets (wrapped keys, object keys) never appear
here; nor does content, which leaves only through a download token (``GET /files/{token}``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from app.documents.models import DocumentKind, Place, ScanStatus
from app.schemas import Name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UploadCreate(Strict):
    """Start an upload: where it goes (exactly one of ``client_id``, ``conversation_id``,
    ``meeting_id``, or ``document_id`` for a new version of that document), what it is, and
    how large it will be."""

    client_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    kind: DocumentKind | None = Field(
        default=None, description="Its folder on a record; attachment, agenda or notes elsewhere"
    )
    title: Name | None = Field(
        default=None, min_length=1, max_length=200, description="Unset: the filename"
    )
    filename: str = Field(min_length=1, max_length=255)
    size: StrictInt = Field(ge=1, description="The file's size in bytes")
    shared_with_client: StrictBool = False


class UploadLimits(BaseModel):
    max_bytes: int  # a file's largest size
    chunk_bytes: int  # a chunk's size; a file no larger goes whole in one request
    daily_bytes_per_person: int


class UploadPublic(BaseModel):
    id: uuid.UUID
    size: int
    chunk_bytes: int
    received_bytes: int
    expires_at: datetime
    completed: bool
    document_id: uuid.UUID | None


class VersionPublic(BaseModel):
    number: int
    filename: str
    media_type: str
    previewable: bool
    size: int
    sha256: str
    uploaded_by: uuid.UUID
    uploaded_by_name: str | None
    uploaded_at: datetime
    scan_status: ScanStatus
    # "malware found" for an infected version, with the signature's name for its uploader.
    scan_detail: str | None
    available: bool  # whether its content can be downloaded (not removed)


class DocumentPublic(BaseModel):
    id: uuid.UUID
    place: Place
    client_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    kind: DocumentKind
    title: str
    shared_with_client: bool
    created_by: uuid.UUID
    created_at: datetime
    deleted_at: datetime | None
    delete_reason: str | None
    current: VersionPublic | None  # the newest version this reader may see
    versions: list[VersionPublic]  # every version this reader may see, oldest first


class DocumentChange(Strict):
    title: Name | None = Field(default=None, min_length=1, max_length=200)
    shared_with_client: StrictBool | None = None


class DocumentDelete(Strict):
    reason: str = Field(min_length=3, max_length=500)


class DownloadRequest(Strict):
    inline: StrictBool = Field(
        default=False, description="Preview in the browser (PDFs and images only)"
    )


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime
    inline: bool


class DocumentSummary(BaseModel):
    """What a live frame says of a document: which, where, and which version is current."""

    document_id: uuid.UUID
    place: Place
    client_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    kind: DocumentKind
    title: str
    version: int
    deleted: bool
