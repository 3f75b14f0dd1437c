"""Documents on a client's record, in conversations and of meetings (docs/documents.md):
chunked, resumable uploads; lists and history; sharing with the client; deletion with a reason;
download links. Content leaves only through ``GET /files/{token}`` (``files`` below), a path
that reads no cookie and no bearer header: a signed, short-lived token is its only authority."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.audit import service as audit_service
from app.audit.models import Outcome
from app.audit.writer import AuditedRead
from app.config import Settings
from app.context import Actor, Context
from app.db import SessionDep
from app.dbtypes import INT64_MAX
from app.documents import events as document_events
from app.documents import service, tokens
from app.documents.models import Document, DocumentKind, DocumentVersion, Place, ScanStatus
from app.documents.schemas import (
    DocumentDelete,
    DocumentPublic,
    DownloadLink,
    DownloadRequest,
    UploadCreate,
    UploadLimits,
    UploadPublic,
)
from app.errors import Forbidden
from app.jobs import service as jobs_service
from app.notifications import service as notifications_service
from app.notifications.notices import Notice
from app.users import service as users_service
from app.users.models import User
from auth.deps import (
    ChangeableDocument,
    ConversationMember,
    CurrentUser,
    DocumentAccess,
    DocumentChangeDep,
    NewUpload,
    OwnUpload,
    Principal,
    ReadableClient,
    ReadableDocument,
    ReadableVersion,
    VisibleMeeting,
    upload_place,
)
from auth.policies import documents as document_policies

router = APIRouter(tags=["documents"])
files = APIRouter(tags=["documents"])

SCAN_JOB = "documents.scan"  # app/documents/jobs.py
# The content is served under a policy of its own, sandboxed: a file that is really a page runs
# no script, reaches nothing and is of no origin (an image or a PDF still shows).
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def _signing_key(settings: Settings) -> str:
    return settings.secret("document_token_secret")


Offset = Annotated[int, Path(ge=0, le=INT64_MAX)]


def _runtime(request: Request) -> service.Runtime:
    runtime: service.Runtime = request.app.state.documents
    return runtime


async def _present(
    session: AsyncSession, reader: User, found: list[Document]
) -> list[DocumentPublic]:
    versions = await service.versions_of(session=session, document_ids=[d.id for d in found])
    names = await users_service.names(
        session=session, ids={v.uploaded_by for vs in versions.values() for v in vs}
    )
    return [service.document_public(d, versions[d.id], reader, names) for d in found]


async def _readable(
    session: AsyncSession, reader: User, target: document_policies.Target
) -> list[DocumentPublic]:
    """The place's documents this person may read, each with the versions they may see; a
    document with none (its only version is still being scanned, by someone else) is left out."""
    found = [
        d
        for d in await service.in_place(session=session, target=target)
        if await document_policies.can_read_document(session, reader, d, target)
    ]
    return [d for d in await _present(session, reader, found) if d.versions]


# --- lists --------------------------------------------------------------------------------------


@router.get("/clients/{client_id}/documents", response_model=list[DocumentPublic])
async def client_documents(access: ReadableClient, session: SessionDep) -> list[DocumentPublic]:
    """The documents on a client's record, newest first, in their folders (``kind``: cv,
    letters, forms, other). A client sees those shared with them."""
    await access.audit("document.list", resource_type="documents")
    target = document_policies.Target(Place.client_record, client=access.client)
    return await _readable(session, access.principal.user, target)


@router.get("/conversations/{conversation_id}/documents", response_model=list[DocumentPublic])
async def conversation_documents(
    conversation: ConversationMember, principal: CurrentUser, session: SessionDep
) -> list[DocumentPublic]:
    """The files attached in a conversation, newest first, for its members."""
    await principal.audit(
        "document.list",
        resource_type="conversation",
        resource_id=conversation.id,
        client_id=conversation.client_id,
    )
    target = document_policies.Target(Place.conversation, conversation=conversation)
    return await _readable(session, principal.user, target)


@router.get("/meetings/{meeting_id}/documents", response_model=list[DocumentPublic])
async def meeting_documents(
    meeting: VisibleMeeting, principal: CurrentUser, session: SessionDep
) -> list[DocumentPublic]:
    """A meeting's agenda and notes, newest first, for whoever sees the meeting."""
    await principal.audit(
        "document.list",
        resource_type="meeting",
        resource_id=meeting.id,
        client_id=meeting.client_id,
    )
    target = document_policies.Target(Place.meeting, meeting=meeting)
    return await _readable(session, principal.user, target)


# --- limits -------------------------------------------------------------------------------------


# Before ``/documents/{document_id}``, which would otherwise take "limits" for an id.
@router.get("/documents/limits", response_model=UploadLimits)
async def upload_limits(principal: CurrentUser, request: Request) -> UploadLimits:
    """How large a file may be, and up to what size it is sent in one request
    (``POST /documents``) rather than in chunks: what the web client reads once."""
    settings = _runtime(request).settings
    return UploadLimits(
        max_bytes=settings.document_max_bytes,
        chunk_bytes=settings.document_chunk_bytes,
        daily_bytes_per_person=settings.document_daily_bytes_per_person,
    )


# --- one document -------------------------------------------------------------------------------


async def _one(session: AsyncSession, access: DocumentAccess) -> DocumentPublic:
    [shown] = await _present(session, access.principal.user, [access.document])
    return shown


@router.get("/documents/{document_id}", response_model=DocumentPublic)
async def get_document(access: ReadableDocument, session: SessionDep) -> DocumentPublic:
    """A document with its versions (who uploaded each, when, its scan status). One whose
    only version is still being scanned is not found but by its uploader."""
    shown = await _one(session, access)
    if not shown.versions and access.document.deleted_at is None:
        raise service.DocumentNotFound()
    await access.audit("document.read")
    return shown


@router.patch("/documents/{document_id}", response_model=DocumentPublic)
async def change_document(request: DocumentChangeDep, session: SessionDep) -> DocumentPublic:
    """Rename a document, or (staff) share it with the client or stop sharing it."""
    access, change = request.access, request.change
    if access.document.deleted_at is not None:
        raise service.DocumentDeleted()
    before = await _audience(session, access)
    changed = service.change(
        access.document, title=change.title, shared_with_client=change.shared_with_client
    )
    if changed:
        session.add(access.document)
        await session.flush()
        await access.audit("document.update", detail=", ".join(changed))
        # Those who lost sight of it (a client, unshared) are told too, to reread their list.
        audience = before | await _audience(session, access)
        events.announce(
            session,
            document_events.document_changed(
                audience=audience,
                document=service.summary(access.document),
                change=changed[-1],
            ),
        )
    return await _one(session, access)


@router.delete("/documents/{document_id}", response_model=DocumentPublic)
async def delete_document(
    body: DocumentDelete, access: ChangeableDocument, session: SessionDep, request: Request
) -> DocumentPublic:
    """Delete a document, with a reason: its content (every version) is removed, its record
    (who, when, why) kept."""
    audience = await _audience(session, access)
    await service.delete(
        session=session,
        runtime=_runtime(request),
        document=access.document,
        by=access.principal.id,
        reason=body.reason,
        now=access.principal.ctx.now(),
    )
    await access.audit("document.delete", detail=body.reason)
    events.announce(
        session,
        document_events.document_changed(
            audience=audience, document=service.summary(access.document), change="deleted"
        ),
    )
    return await _one(session, access)


async def _audience(session: AsyncSession, access: DocumentAccess) -> set[uuid.UUID]:
    return await document_policies.audience(session, access.document, access.target)


# Making a link and using it only read (and audit): their audit events go through the audit
# writer (app/audit/writer.py), so neither takes SQLite's write lock nor pays a commit of its own.
@router.post(
    "/documents/{document_id}/versions/{number}/download",
    response_model=DownloadLink,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AuditedRead],
)
async def download_link(
    body: DownloadRequest, version: ReadableVersion, session: SessionDep, request: Request
) -> DownloadLink:
    """A short-lived link to one version's content (``GET /files/{token}``), for this person:
    ``inline`` for a preview in the browser (PDFs and images only), an attachment otherwise."""
    access = version.access
    if access.document.deleted_at is not None:
        raise service.DocumentDeleted()
    if version.version.object_key is None:
        raise service.VersionUnavailable("Its content was removed (quarantined or deleted).")
    if body.inline and not version.version.previewable:
        raise service.NotPreviewable()
    settings = _runtime(request).settings
    expires = access.principal.ctx.now() + timedelta(
        seconds=settings.document_download_token_seconds
    )
    grant = tokens.DownloadGrant(
        version_id=version.version.id,
        user_id=access.principal.id,
        expires_at=expires.replace(microsecond=0),
        inline=body.inline,
    )
    token = tokens.mint(_signing_key(settings), grant)
    await access.audit("document.download_link", detail=f"version {version.version.number}")
    return DownloadLink(url=f"/files/{token}", expires_at=grant.expires_at, inline=body.inline)


# --- uploads ------------------------------------------------------------------------------------


@router.post("/documents/uploads", response_model=UploadPublic, status_code=201)
async def start_upload(place: NewUpload, session: SessionDep, request: Request) -> UploadPublic:
    """Start an upload: where it goes, its filename and size. Answers the upload's id and the
    chunk size to send it in (``PUT .../chunks/{offset}``)."""
    upload = await service.create_upload(
        session=session,
        ctx=place.principal.ctx,
        runtime=_runtime(request),
        uploader=place.principal.user,
        target=place.target,
        document=place.document,
        data=place.data,
    )
    await place.principal.audit(
        "document.upload_start",
        resource_type="document_upload",
        resource_id=upload.id,
        client_id=place.target.client_id,
        detail=f"{upload.size_bytes} bytes",
    )
    return service.upload_public(upload)


def _whole_place(
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    client_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    meeting_id: uuid.UUID | None = None,
    document_id: uuid.UUID | None = None,
    kind: DocumentKind | None = None,
    title: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    # A query string carries text: exactly "true" or "false", nothing taken for either.
    shared_with_client: Literal["true", "false"] = "false",
) -> dict[str, object]:
    return {
        "client_id": client_id,
        "conversation_id": conversation_id,
        "meeting_id": meeting_id,
        "document_id": document_id,
        "kind": kind,
        "title": title,
        "filename": filename,
        "shared_with_client": shared_with_client == "true",
    }


# The OpenAPI description of a body of raw bytes (a whole file, or a chunk of one).
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/documents",
    response_model=DocumentPublic,
    status_code=201,
    openapi_extra=BINARY_BODY,
)
async def upload_whole(
    fields: Annotated[dict[str, object], Depends(_whole_place)],
    session: SessionDep,
    request: Request,
    principal: CurrentUser,
) -> DocumentPublic:
    """A file no larger than one chunk (``chunk_bytes``), in one request: where it goes and
    what it is in the query (as ``POST .../uploads`` says them in its body), the bytes as the
    body. It is identified, scanned, sealed and stored as the chunked upload's completion does,
    and answered the same way: the document (or its new version), ``pending`` when the scanner
    is away, quarantined when it carries malware."""
    runtime = _runtime(request)
    data = await request.body()
    service.check_whole(data, runtime.settings)
    try:
        created = UploadCreate.model_validate({**fields, "size": len(data)})
    except ValidationError as invalid:
        raise RequestValidationError(invalid.errors()) from None
    place = await upload_place(created, session, principal)
    now = principal.ctx.now()
    await service.check_limits(
        session=session, settings=runtime.settings, uploader=principal.user, size=len(data), now=now
    )
    upload = service.new_upload(runtime, principal.user, place.target, place.document, created, now)
    # clamd's scan and storing the sealed file are made outside a transaction (on SQLite every
    # transaction holds the write lock); the rows, the audit and the event then in one.
    await session.commit()
    try:
        prepared = await service.prepare_whole(runtime=runtime, upload=upload, data=data)
    except service.ContentNotAllowed as refused:
        # Kept closed, as a refused chunked upload is: it counts towards the daily limit.
        upload.received_bytes = upload.size_bytes
        upload.completed_at = now
        upload.key_id = upload.wrapped_key = None
        session.add(upload)
        await principal.audit(
            "document.upload_refused",
            resource_type="document_upload",
            resource_id=upload.id,
            client_id=upload.client_id,
            outcome=Outcome.denied,
            detail=str(refused.extra.get("code")),
        )
        await session.commit()
        raise
    done = await service.complete_whole(
        session=session,
        ctx=principal.ctx,
        runtime=runtime,
        upload=upload,
        uploader=principal.user,
        prepared=prepared,
    )
    return await _uploaded(session, runtime, principal, done)


@router.get("/documents/uploads/{upload_id}", response_model=UploadPublic)
async def upload_status(upload: OwnUpload) -> UploadPublic:
    """How much of an upload has arrived (``received_bytes``): where to resume."""
    return service.upload_public(upload)


@router.put(
    "/documents/uploads/{upload_id}/chunks/{offset}",
    response_model=UploadPublic,
    openapi_extra=BINARY_BODY,
)
async def put_chunk(
    offset: Offset, upload: OwnUpload, session: SessionDep, request: Request, principal: CurrentUser
) -> UploadPublic:
    """One part of the file, at its byte offset (a multiple of ``chunk_bytes``). Sending a part
    again is harmless; a part beyond what has arrived is refused with where to resume."""
    data = await request.body()
    service.check_chunk(upload, offset, data, principal.ctx.now())
    if offset < upload.received_bytes:  # a re-send of a part already stored: kept as it was
        return service.upload_public(upload)
    claimed = await service.claim_chunk(
        session=session, upload=upload, offset=offset, length=len(data)
    )
    # The store's round trip is made outside a transaction: on SQLite every transaction holds
    # the write lock, which no one else's request should wait on while a chunk travels.
    await session.commit()
    if not claimed:  # another request is storing this part
        return service.upload_public(upload)
    try:
        await service.store_chunk(_runtime(request), upload, offset, data)
    except BaseException:
        await service.release_chunk(session=session, upload=upload, offset=offset, length=len(data))
        await session.commit()
        raise
    return service.upload_public(upload)


@router.post(
    "/documents/uploads/{upload_id}/complete", response_model=DocumentPublic, status_code=201
)
async def complete_upload(
    upload: OwnUpload, session: SessionDep, request: Request, principal: CurrentUser
) -> DocumentPublic:
    """Once every part has arrived: the file is identified by its content, scanned, sealed and
    stored as a new document (or version). Until it is found clean it is its uploader's alone;
    a file carrying malware is quarantined (``scan_status`` infected)."""
    runtime = _runtime(request)
    upload_id, upload_client = upload.id, upload.client_id
    # Reading the chunks back, clamd's scan and storing the sealed file take a while: done
    # outside a transaction (on SQLite, every transaction holds the write lock), the rows then
    # written in one of their own.
    await session.commit()
    try:
        prepared = await service.prepare(runtime=runtime, upload=upload, now=principal.ctx.now())
        done = await service.complete(
            session=session,
            ctx=principal.ctx,
            runtime=runtime,
            upload=upload,
            uploader=principal.user,
            prepared=prepared,
        )
    except service.ContentNotAllowed as refused:
        # Refused for good: the upload is closed (its parts are gone) and the refusal kept.
        await session.rollback()
        await service.close_upload(session=session, upload_id=upload_id, now=principal.ctx.now())
        await principal.audit(
            "document.upload_refused",
            resource_type="document_upload",
            resource_id=upload_id,
            client_id=upload_client,
            outcome=Outcome.denied,
            detail=str(refused.extra.get("code")),
        )
        await session.commit()
        raise
    return await _uploaded(session, runtime, principal, done)


async def _uploaded(
    session: AsyncSession, runtime: service.Runtime, principal: Principal, done: service.Completed
) -> DocumentPublic:
    """A file kept (or quarantined): audited, told, its scan scheduled when clamd was away."""
    document, version = done.document, done.version
    target = await document_policies.target_of(session, document)
    access = DocumentAccess(document=document, target=target, principal=principal)
    await access.audit(
        "document.upload",
        detail=f"version {version.number}, {version.media_type}, scan {version.scan_status}",
    )
    await _after_scan(session, runtime, access, version, new_document=done.new_document)
    return await _one(session, access)


async def _after_scan(
    session: AsyncSession,
    runtime: service.Runtime,
    access: DocumentAccess,
    version: DocumentVersion,
    *,
    new_document: bool,
) -> None:
    """Tell whoever may see it; schedule the scan when the scanner was away; quarantine."""
    now = access.principal.ctx.now()
    if version.scan_status in document_policies.VISIBLE_TO_ALL:
        audience = await _audience(session, access) | {version.uploaded_by}
    else:
        audience = {version.uploaded_by}
    summary = service.summary(access.document, version.number)
    events.announce(
        session,
        document_events.document_added(audience=audience, document=summary)
        if new_document
        else document_events.document_changed(
            audience=audience, document=summary, change="version"
        ),
    )
    if version.scan_status == ScanStatus.pending:
        await jobs_service.schedule(
            session,
            SCAN_JOB,
            run_at=now,
            payload={"version_id": str(version.id)},
            key=f"{SCAN_JOB}:{version.id}",
            now=now,
            settings=runtime.settings,
        )
    elif version.scan_status == ScanStatus.infected:
        await access.audit("document.quarantined", outcome=Outcome.denied, detail="malware found")
        await notifications_service.tell(
            session,
            person_ids=[version.uploaded_by],
            notice=Notice.document_quarantined,
            link=service.place_link(access.document),
            now=now,
            settings=runtime.settings,
        )


# --- the content, by token ----------------------------------------------------------------------

INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})


def _disposition(filename: str, *, inline: bool) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@files.get(
    "/files/{token}",
    dependencies=[AuditedRead],
    response_class=Response,
    responses={
        200: {"description": "The file's content", "content": {"application/octet-stream": {}}}
    },
)
async def download(token: str, request: Request, session: SessionDep) -> Response:
    """A version's content, for a download token (``POST .../download``). Cookies and
    Authorization headers are ignored: the token alone is the authority, checked again against
    the document's permissions when used. Each use, and each refusal, is audited."""
    runtime = _runtime(request)
    clock = request.app.state.clock
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    try:
        grant = tokens.read(_signing_key(runtime.settings), token, now=clock.now())
    except tokens.TokenRefused as refused:
        user = await session.get(User, refused.grant.user_id) if refused.grant else None
        ctx = _context(user, ip, agent, clock)
        await _refuse(
            session, ctx, refused.grant.version_id if refused.grant else None, refused.reason
        )
        raise DownloadRefused(f"This download link does not work: {refused.reason}.") from None
    user = await session.get(User, grant.user_id)
    ctx = _context(user, ip, agent, clock)
    version = await session.get(DocumentVersion, grant.version_id)
    if user is None or version is None:
        await _refuse(session, ctx, grant.version_id, "no such person or version")
        raise DownloadRefused("This download link does not work.")
    document = await service.get(session=session, document_id=version.document_id)
    target = await document_policies.target_of(session, document)
    decision = await document_policies.can_read_document(session, user, document, target)
    if decision:
        decision = document_policies.can_see_version(user, version)
    if not decision or document.deleted_at is not None:
        reason = decision.reason if not decision else "the document was deleted"
        await _refuse(session, ctx, grant.version_id, reason, document=document, target=target)
        raise DownloadRefused(f"This download link does not work: {reason}.")
    # The first segment opened before answering, so a missing or altered object is a problem
    # answer; a later one that fails to open cuts the answer short of its Content-Length.
    parts = service.segments(runtime, version)
    first = await anext(parts)
    inline = grant.inline and version.previewable and version.media_type in INLINE_TYPES
    await audit_service.record(
        session,
        ctx,
        action="document.download",
        resource_type="document",
        resource_id=document.id,
        client_id=target.client_id,
        detail=f"version {version.number}" + (" inline" if inline else ""),
    )
    await session.commit()
    headers = {
        "Content-Disposition": _disposition(version.filename, inline=inline),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    if inline:
        # A preview is shown in a sandboxed frame of the web client's own pages; no other site
        # may frame it (the service's default for every other answer is DENY).
        headers["X-Frame-Options"] = "SAMEORIGIN"
        headers["Content-Security-Policy"] = f"{FILE_CSP}; frame-ancestors 'self'"
    headers["Content-Length"] = str(version.size_bytes)

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for part in parts:
            yield part

    return StreamingResponse(body(), media_type=version.media_type, headers=headers)


class DownloadRefused(Forbidden):
    slug, title = "download-refused", "This download link does not work"


def _context(user: User | None, ip: str | None, agent: str | None, clock: object) -> Context:
    actor = Actor(
        user_id=user.id if user else None,
        role=user.role if user else None,
        organisation_id=user.organisation_id if user else None,
        ip=ip,
        user_agent=agent,
    )
    return Context(actor=actor, clock=clock)  # type: ignore[arg-type]


async def _refuse(
    session: AsyncSession,
    ctx: Context,
    version_id: uuid.UUID | None,
    reason: str,
    *,
    document: Document | None = None,
    target: document_policies.Target | None = None,
) -> None:
    """Audit a refused download and commit it before the refusal is answered (which rolls the
    request's session back)."""
    # Read before the rollback, which expires what the session loaded.
    resource_id = document.id if document else version_id
    client_id = target.client_id if target else None
    await session.rollback()
    await audit_service.record(
        session,
        ctx,
        action="document.download",
        resource_type="document" if document else "document_version",
        resource_id=resource_id,
        client_id=client_id,
        outcome=Outcome.denied,
        detail=reason,
    )
    await session.commit()
