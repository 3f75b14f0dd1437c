"""Documents: who adds one to a place, who reads it, who changes or deletes it, and who sees a
version that is not yet known to be safe.

A document's permissions are its place's, through the same policies as the place itself:

* on a client's record: whoever may read the record (``clients.can_read_client``: the care
  team, their supervisors, staff of another organisation only under the client's current
  consent, so a withdrawal takes their access to the documents at once, and the client), except
  that the client sees only the documents shared with them. Staff who may change the record
  share, unshare and delete; a client deletes only what they uploaded themselves.
* in a conversation: its members (``messaging.is_member``; a case thread's are the record's
  readers, the staff-only thread without the client). Deleting is for whoever sent the file and
  for staff who may change the client's record of a case thread.
* of a meeting: whoever sees the meeting (``meetings.require_visible``) reads; the staff who run
  it (``meetings.runs_meeting``) add, and they or the uploader delete.

A version whose scan is ``pending`` or ``infected`` is seen by its uploader alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.documents.models import Document, DocumentUpload, DocumentVersion, Place, ScanStatus
from app.errors import Forbidden
from app.meetings import service as meetings_service
from app.meetings.models import Meeting
from app.messaging import service as messaging_service
from app.messaging.models import Conversation
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies import meetings as meeting_policies
from auth.policies import messaging as messaging_policies
from auth.policies.decision import ALLOW, Decision

# Until scanned clean (or with no scanner configured), a version is its uploader's alone.
VISIBLE_TO_ALL = frozenset({ScanStatus.clean, ScanStatus.not_scanned})


@dataclass(frozen=True)
class Target:
    """The place a document lives in, loaded: exactly one of the three is set."""

    place: Place
    client: ClientRecord | None = None
    conversation: Conversation | None = None
    meeting: Meeting | None = None

    @property
    def client_id(self) -> uuid.UUID | None:
        """The client the place is about, if any (audit events name them)."""
        if self.client is not None:
            return self.client.id
        if self.conversation is not None:
            return self.conversation.client_id
        return self.meeting.client_id if self.meeting is not None else None


async def target_of(session: AsyncSession, document: Document) -> Target:
    if document.place == Place.client_record:
        assert document.client_id is not None
        client = await clients_service.get(session=session, client_id=document.client_id)
        return Target(Place.client_record, client=client)
    if document.place == Place.conversation:
        assert document.conversation_id is not None
        conversation = await messaging_service.get(
            session=session, conversation_id=document.conversation_id
        )
        return Target(Place.conversation, conversation=conversation)
    assert document.meeting_id is not None
    meeting = await meetings_service.get(session=session, meeting_id=document.meeting_id)
    return Target(Place.meeting, meeting=meeting)


async def _sees_meeting(session: AsyncSession, user: User, meeting: Meeting) -> Decision:
    try:
        await meeting_policies.require_visible(session, user, meeting)
    except Forbidden as refused:
        return Decision(False, refused.detail)
    return ALLOW


async def can_use_place(session: AsyncSession, user: User, target: Target) -> Decision:
    """Whether this person reads the place itself (the record, the conversation, the meeting)."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if target.client is not None:
        return await client_policies.can_read_client(session, user, target.client)
    if target.conversation is not None:
        if await messaging_policies.is_member(session, user, target.conversation):
            return ALLOW
        return Decision(False, "not in this conversation")
    assert target.meeting is not None
    return await _sees_meeting(session, user, target.meeting)


async def can_add_document(session: AsyncSession, user: User, target: Target) -> Decision:
    """A record's readers add to it (a client to their own record); a conversation's members
    attach to it; the staff who run a meeting add its agenda and notes."""
    decision = await can_use_place(session, user, target)
    if not decision or target.meeting is None:
        return decision
    if target.meeting.host_id == user.id or await meeting_policies.runs_meeting(
        session, user, target.meeting
    ):
        return ALLOW
    return Decision(False, "a meeting's papers are added by the staff who run it")


def _own_record(user: User, target: Target) -> bool:
    return target.client is not None and target.client.user_id == user.id


async def can_read_document(
    session: AsyncSession, user: User, document: Document, target: Target
) -> Decision:
    """The place's readers; on a record, the client only for documents shared with them. A
    deleted document is read (its metadata, never its content) by the same people."""
    decision = await can_use_place(session, user, target)
    if not decision:
        return decision
    if (
        user.role == Role.client
        and target.place == Place.client_record
        and not (_own_record(user, target) and document.shared_with_client)
    ):
        return Decision(False, "this document is not shared with the client")
    return ALLOW


async def can_change_document(
    session: AsyncSession, user: User, document: Document, target: Target
) -> Decision:
    """Who shares, unshares, deletes or adds a version: on a record, staff who may change it
    (and a client, their own uploads); elsewhere the uploader, and staff who run the meeting or
    may change the case thread's record."""
    readable = await can_read_document(session, user, document, target)
    if not readable:
        return readable
    if document.created_by == user.id:
        return ALLOW
    if user.role == Role.client:
        return Decision(False, "a client changes only the documents they uploaded")
    client = target.client
    if client is None and target.place == Place.conversation and target.client_id is not None:
        client = await clients_service.get(session=session, client_id=target.client_id)
    if client is not None:
        return await client_policies.can_change_client(session, user, client)
    if target.meeting is not None and await meeting_policies.runs_meeting(
        session, user, target.meeting
    ):
        return ALLOW
    return Decision(False, "only whoever added it changes or deletes this document")


def can_share_with_client(user: User) -> Decision:
    """Staff decide whether a client sees a record's document."""
    if user.role == Role.client:
        return Decision(False, "staff decide which documents the client sees")
    return ALLOW


def can_use_upload(user: User, upload: DocumentUpload) -> Decision:
    """An upload under way is its uploader's alone: only they send its parts and complete it."""
    if upload.uploader_id == user.id and user.is_active:
        return ALLOW
    return Decision(False, "an upload is continued only by whoever started it")


def can_see_version(user: User, version: DocumentVersion) -> Decision:
    if version.scan_status in VISIBLE_TO_ALL or version.uploaded_by == user.id:
        return ALLOW
    return Decision(False, "this version has not been found safe yet")


async def audience(session: AsyncSession, document: Document, target: Target) -> set[uuid.UUID]:
    """Who may read the document now: told live of its changes (``document.added``...)."""
    if target.client is not None:
        people = await client_policies.record_audience(session, target.client)
        if target.client.user_id is not None and not document.shared_with_client:
            people.discard(target.client.user_id)
        return people
    if target.conversation is not None:
        return await messaging_service.member_ids(session=session, conversation=target.conversation)
    assert target.meeting is not None
    meeting = target.meeting
    people = {meeting.host_id} | await meetings_service.invitee_ids(
        session=session, meeting_id=meeting.id
    )
    if meeting.client_id is not None:
        client = await clients_service.get(session=session, client_id=meeting.client_id)
        people |= await client_policies.record_audience(session, client)
        if client.user_id is not None:
            people.discard(client.user_id)
            if client.user_id in await meetings_service.invitee_ids(
                session=session, meeting_id=meeting.id
            ):
                people.add(client.user_id)
    return people
