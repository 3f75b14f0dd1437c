"""Documents: uploads in chunks, completion (identify, scan, seal, store), reading, versions,
deletion with a reason, the scan retried by a job, and retention. The only place their SQL is
written. What is sealed and how: ``app.documents.sealing``; where: ``app.documents.storage``."""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clock import as_utc
from app.config import Settings
from app.context import Context
from app.documents import content, sealing
from app.documents.models import (
    KINDS_OF_PLACE,
    Document,
    DocumentKind,
    DocumentUpload,
    DocumentVersion,
    Place,
    ScanStatus,
)
from app.documents.scanning import Scanner, ScanOutcome, scanner_from_settings
from app.documents.schemas import (
    DocumentPublic,
    DocumentSummary,
    UploadCreate,
    UploadPublic,
    VersionPublic,
)
from app.documents.storage import ObjectStore, StoredObjectMissing, store_from_settings
from app.errors import (
    Conflict,
    Gone,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unprocessable,
)
from app.messaging.keyring import MessageKeyring, keyring_from_settings
from app.schemas import no_control_characters
from app.users.models import Role, User
from auth.policies.documents import Target, can_see_version

DAY = timedelta(hours=24)
UNTITLED = "Untitled document"
MALWARE_FOUND = "malware found"
# How many of an upload's chunks are read from (or removed from) the store at once: their round
# trips overlap, well within the S3 client's pool of connections (app/documents/s3.py).
STORE_CONCURRENCY = 8

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Runtime:
    """What the documents service works with, made once per process (``app.state.documents``)
    or per job run from the settings."""

    settings: Settings
    store: ObjectStore
    scanner: Scanner | None
    keyring: MessageKeyring


def runtime_from_settings(settings: Settings, keyring: MessageKeyring | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        store=store_from_settings(settings),
        scanner=scanner_from_settings(settings),
        keyring=keyring or keyring_from_settings(settings),
    )


# --- problems ------------------------------------------------------------------------------------


class DocumentNotFound(NotFound):
    slug, title = "document-not-found", "No such document"


class UploadNotFound(NotFound):
    slug, title = "upload-not-found", "No such upload"


class VersionNotFound(NotFound):
    slug, title = "document-version-not-found", "No such version of the document"


class PlaceRequired(Unprocessable):
    slug, title = "document-place", "Say where the document goes"


class KindNotAllowed(Unprocessable):
    slug, title = "document-kind", "That kind of document does not go there"


class DocumentTooLarge(PayloadTooLarge):
    slug, title = "document-too-large", "The file is larger than allowed"


class DailyLimitReached(TooManyRequests):
    slug, title = "document-daily-limit", "Upload limit for today reached"


class ChunkOffsetWrong(Conflict):
    slug, title = "upload-offset", "That part of the file is not the one expected"


class ChunkSizeWrong(Unprocessable):
    slug, title = "upload-chunk-size", "That part of the file has the wrong size"


class UploadIncomplete(Conflict):
    slug, title = "upload-incomplete", "The file has not all arrived yet"


class UploadClosed(Gone):
    slug, title = "upload-closed", "This upload is finished or has expired"


class ContentNotAllowed(Unprocessable):
    slug, title = "document-content-refused", "This file cannot be shared here"


class DocumentDeleted(Gone):
    slug, title = "document-deleted", "The document was deleted"


class VersionUnavailable(Gone):
    slug, title = "document-version-unavailable", "This version cannot be opened"


class NotPreviewable(Unprocessable):
    slug, title = "document-not-previewable", "Only PDFs and images open inline"


# --- places --------------------------------------------------------------------------------------


def place_of(data: UploadCreate) -> Place:
    """The one place an upload names (a new version names its document instead)."""
    named = [
        place
        for place, given in (
            (Place.client_record, data.client_id),
            (Place.conversation, data.conversation_id),
            (Place.meeting, data.meeting_id),
        )
        if given is not None
    ]
    if len(named) != 1:
        raise PlaceRequired(
            "Name exactly one of client_id, conversation_id or meeting_id "
            "(or document_id alone, for a new version)."
        )
    return named[0]


def default_kind(place: Place) -> DocumentKind:
    return {
        Place.client_record: DocumentKind.other,
        Place.conversation: DocumentKind.attachment,
        Place.meeting: DocumentKind.agenda,
    }[place]


def default_title(filename: str) -> str:
    """A document's title when none is given: its filename, if that is one line of text."""
    try:
        return no_control_characters(filename.strip())[:200] or UNTITLED
    except ValueError:
        return UNTITLED


def check_kind(place: Place, kind: DocumentKind) -> None:
    if kind not in KINDS_OF_PLACE[place]:
        allowed = ", ".join(sorted(KINDS_OF_PLACE[place]))
        raise KindNotAllowed(f"A document here is one of: {allowed}.")


async def get(*, session: AsyncSession, document_id: uuid.UUID) -> Document:
    document = await session.get(Document, document_id)
    if document is None:
        raise DocumentNotFound()
    return document


# --- uploads -------------------------------------------------------------------------------------


async def uploaded_since(*, session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """Bytes this person declared in uploads started since then (the daily limit counts what
    was asked for, so an upload cannot be split to pass it)."""
    total = await session.exec(
        select(func.coalesce(func.sum(DocumentUpload.size_bytes), 0)).where(
            DocumentUpload.uploader_id == user_id, col(DocumentUpload.created_at) > since
        )
    )
    return int(total.one())


async def _retry_after(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    """Seconds until the oldest upload of the last 24 hours stops counting."""
    oldest = await session.exec(
        select(func.min(DocumentUpload.created_at)).where(
            DocumentUpload.uploader_id == user_id, col(DocumentUpload.created_at) > now - DAY
        )
    )
    first = oldest.one()
    if first is None:
        return 1
    return max(1, math.ceil((as_utc(first) + DAY - now).total_seconds()))


def check_size(size: int, settings: Settings) -> None:
    if size > settings.document_max_bytes:
        raise DocumentTooLarge(
            f"A file may be at most {settings.document_max_bytes} bytes.",
            extra={"max_bytes": settings.document_max_bytes},
        )


async def check_limits(
    *, session: AsyncSession, settings: Settings, uploader: User, size: int, now: datetime
) -> None:
    """The per-file limit, and the per-person daily one with this file counted."""
    check_size(size, settings)
    used = await uploaded_since(session=session, user_id=uploader.id, since=now - DAY)
    if used + size > settings.document_daily_bytes_per_person:
        wait = await _retry_after(session=session, user_id=uploader.id, now=now)
        raise DailyLimitReached(
            f"You may upload {settings.document_daily_bytes_per_person} bytes in 24 hours; "
            f"{used} are used. Try again later.",
            headers={"Retry-After": str(wait)},
        )


async def create_upload(
    *,
    session: AsyncSession,
    ctx: Context,
    runtime: Runtime,
    uploader: User,
    target: Target,
    document: Document | None,
    data: UploadCreate,
) -> DocumentUpload:
    """Start an upload, within the per-file and per-person daily limits."""
    now = ctx.now()
    await check_limits(
        session=session, settings=runtime.settings, uploader=uploader, size=data.size, now=now
    )
    upload = new_upload(runtime, uploader, target, document, data, now)
    session.add(upload)
    await session.flush()
    return upload


def new_upload(
    runtime: Runtime,
    uploader: User,
    target: Target,
    document: Document | None,
    data: UploadCreate,
    now: datetime,
) -> DocumentUpload:
    """An upload's row, not yet added: where it goes, what it is, its data key."""
    settings = runtime.settings
    kind = document.kind if document else (data.kind or default_kind(target.place))
    check_kind(target.place, kind)
    # A client's own uploads are theirs to see; staff choose for each document.
    shared = True if uploader.role == Role.client else data.shared_with_client
    upload = DocumentUpload(
        uploader_id=uploader.id,
        place=target.place,
        client_id=target.client.id if target.client else None,
        conversation_id=target.conversation.id if target.conversation else None,
        meeting_id=target.meeting.id if target.meeting else None,
        document_id=document.id if document else None,
        kind=kind,
        title=document.title if document else (data.title or default_title(data.filename)),
        shared_with_client=document.shared_with_client if document else shared,
        filename=data.filename,
        size_bytes=data.size,
        chunk_bytes=settings.document_chunk_bytes,
        segmented=True,
        created_at=now,
        expires_at=now + timedelta(hours=settings.document_upload_hours),
    )
    upload.key_id, upload.wrapped_key = sealing.wrap(
        runtime.keyring, sealing.new_data_key(), row_id=upload.id
    )
    return upload


async def get_upload(*, session: AsyncSession, upload_id: uuid.UUID) -> DocumentUpload:
    upload = await session.get(DocumentUpload, upload_id)
    if upload is None:
        raise UploadNotFound()
    return upload


def upload_public(upload: DocumentUpload) -> UploadPublic:
    return UploadPublic(
        id=upload.id,
        size=upload.size_bytes,
        chunk_bytes=upload.chunk_bytes,
        received_bytes=upload.received_bytes,
        expires_at=upload.expires_at,
        completed=upload.completed_at is not None,
        document_id=upload.document_id,
    )


async def close_upload(*, session: AsyncSession, upload_id: uuid.UUID, now: datetime) -> None:
    """Close an upload that was refused for good (its parts are removed already)."""
    upload = await get_upload(session=session, upload_id=upload_id)
    upload.completed_at = now
    upload.key_id = upload.wrapped_key = None
    session.add(upload)
    await session.flush()


def _chunk_key(upload_id: uuid.UUID, offset: int) -> str:
    """Where an upload started before segments kept a chunk (only ever removed now)."""
    return f"uploads/{upload_id}/{offset}"


def _object_key(document_id: uuid.UUID, version_id: uuid.UUID) -> str:
    return f"documents/{document_id}/{version_id}"


def _segment_key(object_key: str, index: int) -> str:
    return f"{object_key}/{index}"


def _segment_count(size: int, segment_bytes: int) -> int:
    return max(1, math.ceil(size / segment_bytes))


def segment_place(upload: DocumentUpload) -> tuple[uuid.UUID, uuid.UUID]:
    """The document and version an upload's segments belong to. The upload's id is the id of
    the version it becomes, and of the document when it starts one: so each chunk is sealed
    and stored, as it arrives, where it stays, and completing moves no bytes."""
    return upload.document_id or upload.id, upload.id


def _upload_object_key(upload: DocumentUpload) -> str:
    return _object_key(*segment_place(upload))


def _segment_aad(upload: DocumentUpload, index: int) -> bytes:
    document_id, version_id = segment_place(upload)
    last = index == _segment_count(upload.size_bytes, upload.chunk_bytes) - 1
    return sealing.segment_aad(document_id, version_id, index, last=last)


def _check_open(upload: DocumentUpload, now: datetime) -> None:
    # An upload from before segments cannot be completed: its chunks are not a version's.
    if upload.completed_at is not None or now >= upload.expires_at or not upload.segmented:
        raise UploadClosed("Start a new upload.")


def check_chunk(upload: DocumentUpload, offset: int, data: bytes, now: datetime) -> None:
    """Whether this chunk may be stored. Chunks start at multiples of ``chunk_bytes`` and each
    but the last is exactly that long. The next expected offset (``received_bytes``) moves the
    upload on; an offset already received is a re-send (a reply lost on a poor link) and is
    answered without storing it again; a later offset is refused with where to resume."""
    _check_open(upload, now)
    chunk = upload.chunk_bytes
    if offset < 0 or offset % chunk or offset >= upload.size_bytes:
        raise ChunkOffsetWrong(
            f"Send parts at multiples of {chunk} bytes below {upload.size_bytes}.",
            extra={"received_bytes": upload.received_bytes},
        )
    expected = min(chunk, upload.size_bytes - offset)
    if len(data) != expected:
        raise ChunkSizeWrong(f"The part at {offset} must be {expected} bytes, not {len(data)}.")
    if offset > upload.received_bytes:
        raise ChunkOffsetWrong(
            f"Resume at {upload.received_bytes}.", extra={"received_bytes": upload.received_bytes}
        )


async def store_chunk(runtime: Runtime, upload: DocumentUpload, offset: int, data: bytes) -> None:
    """Seal a checked chunk as a segment of the version the upload becomes and put it in the
    store. No database work: the caller need not hold a transaction (on SQLite, the write lock)
    across the store's round trip."""
    assert upload.key_id is not None and upload.wrapped_key is not None
    key = sealing.unwrap(runtime.keyring, upload.key_id, upload.wrapped_key, row_id=upload.id)
    index = offset // upload.chunk_bytes
    sealed = await asyncio.to_thread(sealing.seal, data, key, aad=_segment_aad(upload, index))
    await runtime.store.put(_segment_key(_upload_object_key(upload), index), sealed)


async def claim_chunk(
    *, session: AsyncSession, upload: DocumentUpload, offset: int, length: int
) -> bool:
    """Move the upload past a chunk before it is stored, if it is the next one expected: of
    two requests sending the same part, one claims it and stores it, and no segment is ever
    written twice, so the bytes completion reads and scans are the bytes that stay.
    ``release_chunk`` gives the claim back when the store failed."""
    moved = await session.exec(
        update(DocumentUpload)
        .where(col(DocumentUpload.id) == upload.id, col(DocumentUpload.received_bytes) == offset)
        .values(received_bytes=offset + length)
    )
    await session.refresh(upload)
    return bool(moved.rowcount)


async def release_chunk(
    *, session: AsyncSession, upload: DocumentUpload, offset: int, length: int
) -> None:
    await session.exec(
        update(DocumentUpload)
        .where(
            col(DocumentUpload.id) == upload.id,
            col(DocumentUpload.received_bytes) == offset + length,
            col(DocumentUpload.completed_at).is_(None),
        )
        .values(received_bytes=offset)
    )
    await session.refresh(upload)


async def _each(items: Iterable[T], work: Callable[[T], Awaitable[R]]) -> list[R]:
    """``work`` on every item, at most ``STORE_CONCURRENCY`` at a time, results in order: the
    store's round trips overlap instead of following one another."""
    gate = asyncio.Semaphore(STORE_CONCURRENCY)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def _chunk_keys(upload: DocumentUpload) -> list[str]:
    if not upload.segmented:
        offsets = range(0, upload.size_bytes, upload.chunk_bytes)
        return [_chunk_key(upload.id, offset) for offset in offsets]
    base = _upload_object_key(upload)
    count = _segment_count(upload.size_bytes, upload.chunk_bytes)
    return [_segment_key(base, index) for index in range(count)]


async def _opened_segments(
    runtime: Runtime,
    key: bytes,
    base: str,
    count: int,
    aad: Callable[[int], bytes],
    missing: Callable[[int], Exception],
) -> AsyncIterator[bytes]:
    """Segments ``base/0`` to ``base/<count - 1>`` opened, in order, the next one fetched and
    opened while this one is used (a download, a scan): the file is never held whole for it."""

    async def one(index: int) -> bytes:
        try:
            blob = await runtime.store.get(_segment_key(base, index))
        except StoredObjectMissing:
            raise missing(index) from None
        return await asyncio.to_thread(sealing.open_sealed, blob, key, aad=aad(index))

    following = asyncio.ensure_future(one(0))
    try:
        for index in range(count):
            this = await following
            if index + 1 < count:
                following = asyncio.ensure_future(one(index + 1))
            yield this
    finally:
        following.cancel()


def _upload_segments(runtime: Runtime, upload: DocumentUpload) -> AsyncIterator[bytes]:
    """The upload's plaintext, segment by segment. A segment that is not there (its request
    claimed it and failed without giving it back) means the upload cannot complete:
    ``UploadIncomplete``."""
    assert upload.key_id is not None and upload.wrapped_key is not None
    key = sealing.unwrap(runtime.keyring, upload.key_id, upload.wrapped_key, row_id=upload.id)

    def missing(index: int) -> Exception:
        return UploadIncomplete(
            f"The part at {index * upload.chunk_bytes} is missing: start a new upload.",
            extra={"received_bytes": upload.received_bytes},
        )

    count = _segment_count(upload.size_bytes, upload.chunk_bytes)
    return _opened_segments(
        runtime,
        key,
        _upload_object_key(upload),
        count,
        lambda index: _segment_aad(upload, index),
        missing,
    )


async def _discard_chunks(runtime: Runtime, upload: DocumentUpload) -> None:
    await _each(_chunk_keys(upload), runtime.store.delete)


@dataclass(frozen=True)
class Completed:
    document: Document
    version: DocumentVersion
    new_document: bool


@dataclass(frozen=True)
class Sealed:
    """A version's content as stored: where, in segments of how many bytes, and its data key
    wrapped by the keyring."""

    object_key: str
    segment_bytes: int
    key_id: str
    wrapped_key: bytes


@dataclass(frozen=True)
class Prepared:
    """An upload's content checked and scanned, its segments (unless infected) kept as the
    version's, under the ids of the document and version rows that ``complete`` then writes."""

    upload_id: uuid.UUID
    document_id: uuid.UUID
    version_id: uuid.UUID
    identified: content.IdentifiedContent
    size_bytes: int
    sha256: str
    scan_status: ScanStatus
    scan_signature: str | None
    sealed: Sealed | None


def _inspect(data: bytes, settings: Settings) -> tuple[content.IdentifiedContent, str]:
    """What the content is, and its digest: CPU work on every byte, run in a thread while
    clamd scans."""
    identified = content.identify(
        data,
        max_expansion_ratio=settings.document_max_expansion_ratio,
        max_expanded_bytes=settings.document_max_expanded_bytes,
    )
    return identified, hashlib.sha256(data).hexdigest()


async def _scan(scanner: Scanner, parts: AsyncIterator[bytes]) -> tuple[ScanStatus, str | None]:
    result = await scanner.scan_parts(parts)
    status = {
        ScanOutcome.CLEAN: ScanStatus.clean,
        ScanOutcome.INFECTED: ScanStatus.infected,
        ScanOutcome.UNAVAILABLE: ScanStatus.pending,
    }[result.outcome]
    signature = (result.signature or "unknown")[:200] if status == ScanStatus.infected else None
    return status, signature


async def prepare(*, runtime: Runtime, upload: DocumentUpload, now: datetime) -> Prepared:
    """Once every byte has arrived: identify the content (by its bytes, never its name) and
    scan it. Its segments were sealed and stored as they arrived, where the version keeps them,
    so nothing is sealed or stored again; an infected file's segments are removed (quarantined:
    never kept). No database work, so the caller holds no transaction (on SQLite, the write
    lock) while the segments are read back and clamd reads the file; ``complete`` then writes
    the rows. Each segment goes to clamd as it is opened; the content is identified and hashed
    in a thread while clamd finishes. Content that is refused discards the segments (refused
    for good: nothing to complete again) and raises ``ContentNotAllowed``."""
    _check_open(upload, now)
    if upload.received_bytes < upload.size_bytes:
        raise UploadIncomplete(
            f"{upload.received_bytes} of {upload.size_bytes} bytes have arrived.",
            extra={"received_bytes": upload.received_bytes},
        )
    assert upload.key_id is not None and upload.wrapped_key is not None
    document_id, version_id = segment_place(upload)
    parts: list[bytes] = []
    failed: list[Exception] = []
    inspecting: list[asyncio.Task[tuple[content.IdentifiedContent, str]]] = []

    def inspect() -> None:
        # Identified and hashed in a thread as soon as every byte is read, while clamd (which
        # scans once the stream ends) is still at work.
        data = b"".join(parts)
        inspecting.append(asyncio.create_task(asyncio.to_thread(_inspect, data, runtime.settings)))

    # Each segment goes to clamd as soon as it is opened, while the next is fetched: the scan
    # runs alongside the reading instead of after it. The reading's own errors are kept apart,
    # so that a store that fails is never taken for a scanner that is away.
    async def read() -> AsyncIterator[bytes]:
        try:
            async for part in _upload_segments(runtime, upload):
                parts.append(part)
                yield part
            inspect()
        except Exception as exc:
            failed.append(exc)

    reading = read()
    scanned: tuple[ScanStatus, str | None] = ScanStatus.not_scanned, None
    try:
        if runtime.scanner is not None:
            scanned = await _scan(runtime.scanner, reading)
        async for _ in reading:  # what the scanner left unread (away, or failing on the way)
            pass
        if failed:
            raise failed[0]
        if not inspecting:  # the reading was cut off with the scan (its timeout): read it again
            parts[:] = [part async for part in _upload_segments(runtime, upload)]
            inspect()
        identified, digest = await inspecting[0]
    except content.ContentRefused as refused:
        await _discard_chunks(runtime, upload)
        raise ContentNotAllowed(refused.detail, extra={"code": refused.code}) from None
    finally:
        for task in inspecting:
            task.cancel()
    size = sum(len(part) for part in parts)
    del parts[:]
    return await _prepared(
        runtime, upload, document_id, version_id, identified, size, digest, scanned
    )


async def _prepared(
    runtime: Runtime,
    upload: DocumentUpload,
    document_id: uuid.UUID,
    version_id: uuid.UUID,
    identified: content.IdentifiedContent,
    size: int,
    digest: str,
    scanned: tuple[ScanStatus, str | None],
) -> Prepared:
    """A stored upload, identified and scanned, as its completion will keep it: what was found
    infected is removed from the store (quarantined: never kept)."""
    status, signature = scanned
    sealed = None
    if status == ScanStatus.infected:
        await _discard_chunks(runtime, upload)
    else:
        # The upload's data key becomes the version's: wrapped for the same row id (the
        # version's id is the upload's), so it is kept as it is.
        assert upload.key_id is not None and upload.wrapped_key is not None  # sealed as it came
        sealed = Sealed(
            object_key=_upload_object_key(upload),
            segment_bytes=upload.chunk_bytes,
            key_id=upload.key_id,
            wrapped_key=upload.wrapped_key,
        )
    return Prepared(
        upload_id=upload.id,
        document_id=document_id,
        version_id=version_id,
        identified=identified,
        size_bytes=size,
        sha256=digest,
        scan_status=status,
        scan_signature=signature,
        sealed=sealed,
    )


async def complete(
    *,
    session: AsyncSession,
    ctx: Context,
    runtime: Runtime,
    upload: DocumentUpload,
    uploader: User,
    prepared: Prepared,
) -> Completed:
    """Write what ``prepare`` made as a new document or a new version. An infected file is not
    kept (quarantined: the row says so, the uploader is told by the caller); with the scanner
    away it waits ``pending`` and the caller schedules the scan. The upload is read again, locked:
    of two completions of the same upload, the second finds it closed. When the rows are not
    written, the segments stay the upload's (completed again, or removed once it expires)."""
    now = ctx.now()
    await session.refresh(upload, with_for_update=True)
    _check_open(upload, now)
    return await _write_rows(session, upload, uploader, prepared, now)


def check_whole(data: bytes, settings: Settings) -> None:
    """A file sent in one request: not empty, and within the per-file limit (its body is held
    to ``document_chunk_bytes`` before it is read)."""
    if not data:
        raise ContentNotAllowed("The file is empty.", extra={"code": content.EMPTY_FILE})
    check_size(len(data), settings)


async def prepare_whole(*, runtime: Runtime, upload: DocumentUpload, data: bytes) -> Prepared:
    """A file of one chunk, sent whole (``POST /documents``): its plaintext is in hand, so
    clamd reads it while it is sealed and stored as the version's one segment, and it is
    identified and hashed in a thread meanwhile, instead of one after the other. No database
    work (the caller holds no transaction). Content refused, or found infected, leaves nothing
    in the store: ``ContentNotAllowed`` for the first."""
    assert upload.key_id is not None and upload.wrapped_key is not None
    assert len(data) <= upload.chunk_bytes
    document_id, version_id = segment_place(upload)
    scanner = runtime.scanner
    storing = asyncio.ensure_future(store_chunk(runtime, upload, 0, data))
    inspecting = asyncio.ensure_future(asyncio.to_thread(_inspect, data, runtime.settings))
    try:
        scanned: tuple[ScanStatus, str | None] = ScanStatus.not_scanned, None
        if scanner is not None:
            scanned = await _scan(scanner, _one_part(data))
        try:
            identified, digest = await inspecting
        finally:
            # Stored whatever was found: what is refused or infected is then removed.
            await storing
    except content.ContentRefused as refused:
        await _discard_chunks(runtime, upload)
        raise ContentNotAllowed(refused.detail, extra={"code": refused.code}) from None
    except BaseException:
        inspecting.cancel()
        storing.cancel()
        raise
    return await _prepared(
        runtime, upload, document_id, version_id, identified, len(data), digest, scanned
    )


async def _one_part(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def complete_whole(
    *,
    session: AsyncSession,
    ctx: Context,
    runtime: Runtime,
    upload: DocumentUpload,
    uploader: User,
    prepared: Prepared,
) -> Completed:
    """Write a file sent whole: its upload's row (kept, completed, so the daily limit counts
    it), the document (or version). The daily limit is checked again in this transaction: two
    uploads sent at once cannot both pass it. When refused here, its stored segment goes."""
    now = ctx.now()
    try:
        await check_limits(
            session=session,
            settings=runtime.settings,
            uploader=uploader,
            size=upload.size_bytes,
            now=now,
        )
        upload.received_bytes = upload.size_bytes
        session.add(upload)
        await session.flush()
        return await _write_rows(session, upload, uploader, prepared, now)
    except (DailyLimitReached, DocumentDeleted):
        if prepared.sealed is not None:
            await _discard_chunks(runtime, upload)
        raise


async def _write_rows(
    session: AsyncSession,
    upload: DocumentUpload,
    uploader: User,
    prepared: Prepared,
    now: datetime,
) -> Completed:
    upload.completed_at = now
    # The data key is the version's now: deleting the version must leave no copy that opens.
    upload.key_id = upload.wrapped_key = None
    new_document = upload.document_id is None
    if new_document:
        document = Document(
            id=prepared.document_id,
            place=upload.place,
            client_id=upload.client_id,
            conversation_id=upload.conversation_id,
            meeting_id=upload.meeting_id,
            kind=upload.kind,
            title=upload.title,
            shared_with_client=upload.shared_with_client,
            created_by=uploader.id,
            created_at=now,
        )
        session.add(document)
        await session.flush()
        upload.document_id = document.id
    else:
        assert upload.document_id is not None
        document = await get(session=session, document_id=upload.document_id)
        if document.deleted_at is not None:
            raise DocumentDeleted()
    document.latest_version += 1
    status, sealed = prepared.scan_status, prepared.sealed
    version = DocumentVersion(
        id=prepared.version_id,
        document_id=document.id,
        number=document.latest_version,
        filename=content.safe_filename(upload.filename, prepared.identified.extension),
        media_type=prepared.identified.media_type,
        previewable=prepared.identified.previewable,
        size_bytes=prepared.size_bytes,
        sha256=prepared.sha256,
        uploaded_by=uploader.id,
        uploaded_at=now,
        scan_status=status,
        scanned_at=now if status in (ScanStatus.clean, ScanStatus.infected) else None,
        scan_signature=prepared.scan_signature,
        object_key=sealed.object_key if sealed else None,
        segment_bytes=sealed.segment_bytes if sealed else None,
        key_id=sealed.key_id if sealed else None,
        wrapped_key=sealed.wrapped_key if sealed else None,
        removed_at=None if sealed else now,  # quarantined: never stored
    )
    session.add_all([document, version, upload])
    await session.flush()
    return Completed(document=document, version=version, new_document=new_document)


def _version_key(runtime: Runtime, version: DocumentVersion) -> bytes:
    if version.object_key is None or version.key_id is None or version.wrapped_key is None:
        raise VersionUnavailable("Its content was removed (deleted, quarantined or expired).")
    return sealing.unwrap(runtime.keyring, version.key_id, version.wrapped_key, row_id=version.id)


async def _get(runtime: Runtime, key: str) -> bytes:
    try:
        return await runtime.store.get(key)
    except StoredObjectMissing:
        raise VersionUnavailable("Its content is missing from the store.") from None


async def segments(runtime: Runtime, version: DocumentVersion) -> AsyncIterator[bytes]:
    """A stored version's plaintext, in order, a segment at a time (the whole of it, for a
    version stored before segments), the next one fetched while this one is used: a download
    streams without holding the file. ``VersionUnavailable`` once removed or missing;
    ``UndecryptableDocument`` for a segment altered, moved, or a file cut short."""
    key = _version_key(runtime, version)
    assert version.object_key is not None
    base = version.object_key
    if version.segment_bytes is None:  # the whole-object format, sealed in one piece
        aad = sealing.object_aad(version.document_id, version.id)
        yield await asyncio.to_thread(sealing.open_sealed, await _get(runtime, base), key, aad=aad)
        return
    count = _segment_count(version.size_bytes, version.segment_bytes)
    document_id, version_id = version.document_id, version.id
    parts = _opened_segments(
        runtime,
        key,
        base,
        count,
        lambda i: sealing.segment_aad(document_id, version_id, i, last=i == count - 1),
        lambda _: VersionUnavailable("Its content is missing from the store."),
    )
    async for part in parts:
        yield part


async def open_version(runtime: Runtime, version: DocumentVersion) -> bytes:
    """The plaintext of a stored version (``VersionUnavailable`` once removed)."""
    return b"".join([part async for part in segments(runtime, version)])


async def _remove_object(runtime: Runtime, version: DocumentVersion, now: datetime) -> None:
    """Remove a version's content: the object (or its segments), and its data key with it, so a
    copy of the object kept anywhere (a backup) no longer opens. The row stays."""
    if version.object_key is not None:
        if version.segment_bytes is None:
            await runtime.store.delete(version.object_key)
        else:
            count = _segment_count(version.size_bytes, version.segment_bytes)
            base = version.object_key
            await _each(range(count), lambda i: runtime.store.delete(_segment_key(base, i)))
    version.object_key = None
    version.key_id = None
    version.wrapped_key = None
    version.removed_at = version.removed_at or now


def place_link(document: Document) -> str:
    """Where in the web client the uploader finds the document (ids only: a notice's link)."""
    if document.client_id is not None:
        return f"#/clients/{document.client_id}"
    if document.meeting_id is not None:
        return f"#/meetings/{document.meeting_id}"
    return "#/messages"


# --- reading -------------------------------------------------------------------------------------


async def versions_of(
    *, session: AsyncSession, document_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[DocumentVersion]]:
    ids = list(document_ids)
    found: dict[uuid.UUID, list[DocumentVersion]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = await session.exec(
        select(DocumentVersion)
        .where(col(DocumentVersion.document_id).in_(ids))
        .order_by(col(DocumentVersion.number))
    )
    for version in rows.all():
        found[version.document_id].append(version)
    return found


async def get_version(*, session: AsyncSession, document: Document, number: int) -> DocumentVersion:
    rows = await session.exec(
        select(DocumentVersion).where(
            DocumentVersion.document_id == document.id, DocumentVersion.number == number
        )
    )
    version = rows.first()
    if version is None:
        raise VersionNotFound()
    return version


async def get_version_by_id(*, session: AsyncSession, version_id: uuid.UUID) -> DocumentVersion:
    version = await session.get(DocumentVersion, version_id)
    if version is None:
        raise VersionNotFound()
    return version


async def in_place(*, session: AsyncSession, target: Target) -> list[Document]:
    """The documents of a place that are not deleted, newest first."""
    column = {
        Place.client_record: col(Document.client_id),
        Place.conversation: col(Document.conversation_id),
        Place.meeting: col(Document.meeting_id),
    }[target.place]
    place_id = {
        Place.client_record: target.client,
        Place.conversation: target.conversation,
        Place.meeting: target.meeting,
    }[target.place]
    assert place_id is not None
    rows = await session.exec(
        select(Document)
        .where(column == place_id.id, col(Document.deleted_at).is_(None))
        .order_by(col(Document.created_at).desc())
    )
    return list(rows.all())


async def about_client(
    *,
    session: AsyncSession,
    client_id: uuid.UUID,
    conversation_ids: Iterable[uuid.UUID],
    meeting_ids: Iterable[uuid.UUID],
) -> list[Document]:
    """Every document about a client, deleted ones too (a subject-access export): on their
    record, in the given conversations (their case threads) and of the given meetings."""
    where = [col(Document.client_id) == client_id]
    if conversations := list(conversation_ids):
        where.append(col(Document.conversation_id).in_(conversations))
    if meetings := list(meeting_ids):
        where.append(col(Document.meeting_id).in_(meetings))
    rows = await session.exec(
        select(Document).where(or_(*where)).order_by(col(Document.created_at))
    )
    return list(rows.all())


def version_public(
    version: DocumentVersion, reader: User, names: dict[uuid.UUID, str]
) -> VersionPublic:
    detail = None
    if version.scan_status == ScanStatus.infected:
        # The signature's name for staff and the uploader; "malware found" is enough for others.
        own = version.uploaded_by == reader.id or reader.role != Role.client
        detail = f"{MALWARE_FOUND}: {version.scan_signature}" if own else MALWARE_FOUND
    return VersionPublic(
        number=version.number,
        filename=version.filename,
        media_type=version.media_type,
        previewable=version.previewable,
        size=version.size_bytes,
        sha256=version.sha256,
        uploaded_by=version.uploaded_by,
        uploaded_by_name=names.get(version.uploaded_by),
        uploaded_at=version.uploaded_at,
        scan_status=version.scan_status,
        scan_detail=detail,
        available=version.object_key is not None,
    )


def visible_versions(reader: User, versions: Sequence[DocumentVersion]) -> list[DocumentVersion]:
    return [v for v in versions if can_see_version(reader, v)]


def document_public(
    document: Document,
    versions: Sequence[DocumentVersion],
    reader: User,
    names: dict[uuid.UUID, str],
) -> DocumentPublic:
    shown = [version_public(v, reader, names) for v in visible_versions(reader, versions)]
    return DocumentPublic(
        id=document.id,
        place=document.place,
        client_id=document.client_id,
        conversation_id=document.conversation_id,
        meeting_id=document.meeting_id,
        kind=document.kind,
        title=document.title,
        shared_with_client=document.shared_with_client,
        created_by=document.created_by,
        created_at=document.created_at,
        deleted_at=document.deleted_at,
        delete_reason=document.delete_reason,
        current=shown[-1] if shown else None,
        versions=shown,
    )


def summary(document: Document, version: int | None = None) -> DocumentSummary:
    return DocumentSummary(
        document_id=document.id,
        place=document.place,
        client_id=document.client_id,
        conversation_id=document.conversation_id,
        meeting_id=document.meeting_id,
        kind=document.kind,
        title=document.title,
        version=document.latest_version if version is None else version,
        deleted=document.deleted_at is not None,
    )


# --- changes -------------------------------------------------------------------------------------


def change(document: Document, *, title: str | None, shared_with_client: bool | None) -> list[str]:
    """Apply a change; the names of the fields that changed."""
    changed = []
    if title is not None and title != document.title:
        document.title = title
        changed.append("title")
    if shared_with_client is not None and shared_with_client != document.shared_with_client:
        document.shared_with_client = shared_with_client
        changed.append("shared_with_client")
    return changed


async def delete(
    *,
    session: AsyncSession,
    runtime: Runtime,
    document: Document,
    by: uuid.UUID | None,
    reason: str,
    now: datetime,
) -> None:
    """Soft deletion: the row and its versions' rows stay (who, when, why), every version's
    content and data key go."""
    if document.deleted_at is not None:
        raise DocumentDeleted()
    document.deleted_at, document.deleted_by, document.delete_reason = now, by, reason
    for version in (await versions_of(session=session, document_ids=[document.id]))[document.id]:
        await _remove_object(runtime, version, now)
        session.add(version)
    session.add(document)
    await session.flush()


# --- scanning later, and retention ---------------------------------------------------------------


async def scan_pending(
    *, session: AsyncSession, runtime: Runtime, version: DocumentVersion, now: datetime
) -> ScanStatus:
    """Scan a version that waited for the scanner: clean, infected (quarantined), or still
    pending when the scanner is away again (the caller retries later)."""
    if version.scan_status != ScanStatus.pending or version.object_key is None:
        return version.scan_status
    if runtime.scanner is None:
        return version.scan_status  # scanning was switched off meanwhile: it stays pending
    result = await runtime.scanner.scan(await open_version(runtime, version))
    if result.outcome == ScanOutcome.UNAVAILABLE:
        return version.scan_status
    version.scanned_at = now
    if result.outcome == ScanOutcome.CLEAN:
        version.scan_status = ScanStatus.clean
    else:
        version.scan_status = ScanStatus.infected
        version.scan_signature = (result.signature or "unknown")[:200]
        await _remove_object(runtime, version, now)
    session.add(version)
    await session.flush()
    return version.scan_status


@dataclass
class RetentionDone:
    documents: list[Document]
    abandoned_uploads: int


async def apply_retention(
    *, session: AsyncSession, runtime: Runtime, now: datetime
) -> RetentionDone:
    """Delete (as above, with the reason "retention") the documents of each kind given a period
    in ``document_retention_days`` whose newest version was uploaded before ``now - period``,
    and remove uploads abandoned past their expiry with their chunks."""
    removed: list[Document] = []
    for kind, days in runtime.settings.document_retention_days.items():
        cutoff = now - timedelta(days=days)
        newest = (
            select(
                DocumentVersion.document_id,
                func.max(DocumentVersion.uploaded_at).label("last"),
            )
            .group_by(col(DocumentVersion.document_id))
            .subquery()
        )
        rows = await session.exec(
            select(Document)
            .join(newest, newest.c.document_id == Document.id)
            .where(
                Document.kind == kind,
                col(Document.deleted_at).is_(None),
                newest.c.last < cutoff,
            )
        )
        for document in rows.all():
            await delete(
                session=session,
                runtime=runtime,
                document=document,
                by=None,
                reason=f"retention: {kind} documents are kept {days} days",
                now=now,
            )
            removed.append(document)
    abandoned = await session.exec(
        select(DocumentUpload).where(
            col(DocumentUpload.completed_at).is_(None), col(DocumentUpload.expires_at) <= now
        )
    )
    count = 0
    for upload in abandoned.all():
        await _discard_chunks(runtime, upload)
        upload.completed_at = now
        upload.key_id = upload.wrapped_key = None
        session.add(upload)
        count += 1
    await session.flush()
    return RetentionDone(documents=removed, abandoned_uploads=count)


async def remove_content(
    *,
    session: AsyncSession,
    runtime: Runtime,
    version_ids: Iterable[uuid.UUID],
    upload_ids: Iterable[uuid.UUID],
    now: datetime,
) -> int:
    """Remove from the store the content of versions and the chunks of unfinished uploads whose
    rows are about to go with a closed client record (app/retention/service.py), so no object
    is left that no row names and no key opens. Returns the objects of versions removed."""
    removed = 0
    versions = list(version_ids)
    if versions:
        rows = await session.exec(
            select(DocumentVersion).where(col(DocumentVersion.id).in_(versions))
        )
        for version in rows.all():
            removed += version.object_key is not None
            await _remove_object(runtime, version, now)
    uploads = list(upload_ids)
    if uploads:
        pending = await session.exec(
            select(DocumentUpload).where(
                col(DocumentUpload.id).in_(uploads), col(DocumentUpload.completed_at).is_(None)
            )
        )
        for upload in pending.all():
            await _discard_chunks(runtime, upload)
    return removed
