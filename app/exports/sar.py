"""The subject-access archive: everything Teamwell holds about one client, as one JSON document.

Asked for by the client themselves, or — for a data-protection request made another way — by a
supervisor of their care team (``auth.policies.clients.can_request_subject_access``). Sections:

* ``record`` — the record summary: organisation and team, the client's login account (no
  secrets), the care team with its history, referrals, and every consent decision;
* ``plan`` — the plan as it stands, every saved version, and the comments;
* ``measures`` — every questionnaire with its answers and score; ``alerts`` — risk alerts raised;
  the answers item by item and the risk alerts only for a requester who may see them
  (``auth.policies.clients.can_see_item_answers``: the client's own answers are theirs), otherwise
  ``answers`` is null and ``about.withheld`` counts what was held back;
* ``journey`` — the IPS employment journey (milestones, jobs and their reviews, employer
  contacts), an empty object while none is recorded; ``other_records`` — rows of any other
  table that refers to the client (an invitation to their login, say), found through the
  table metadata so nothing added later is missed;
* ``messages`` — the client's case threads and their direct conversations, decrypted, with the
  earlier text of edited or deleted messages;
* ``meetings`` — meetings about the client with invitees and attendance;
* ``documents`` — the documents on the record, in those threads and of those meetings, with
  their versions (filename, type, size, SHA-256, who and when, scan status) and any deletion:
  a listing, not the files, which are downloaded as any other (docs/documents.md); a client
  gets those shared with them, the rest counted in ``about.withheld``;
* ``audit_events`` — every audit event about the client, including this export's own (it is
  written in the same transaction before the trail is read). Staff network addresses are left
  out; the client's own are kept.

A client exporting their own record gets everything except what the care team keeps among
themselves: the staff-only case thread, and the alerts sent to staff (PHQ-9 item 9 risk, overdue
work). Those go out only through a supervisor, who can check them first (the serious-harm test
for health data, Data Protection Act 2018, Sch. 3); ``about.withheld`` says what was held back
and why.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.main import default_registry

from app.alerts.models import RISK_ALERT_KINDS, Alert
from app.audit.models import AuditEvent
from app.clients import service as clients_service
from app.clients.models import ClientRecord, ProgrammeStatus
from app.clients.schemas import CareTeamMemberPublic, ReferralPublic
from app.consents import service as consents_service
from app.consents.schemas import ConsentPublic
from app.db import metadata
from app.documents import service as documents_service
from app.documents.models import Place
from app.documents.schemas import DocumentPublic
from app.measures import service as measures_service
from app.measures.instruments import REGISTRY
from app.measures.schemas import MeasurePublic
from app.meetings import service as meetings_service
from app.meetings.models import Meeting
from app.meetings.schemas import AttendancePublic, MeetingPublic
from app.messaging import service as messaging_service
from app.messaging.keyring import MessageKeyring, UndecryptableMessage, message_aad
from app.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationParticipant,
    Message,
    MessageRevision,
)
from app.organisations import service as organisations_service
from app.plans import service as plans_service
from app.plans.schemas import CommentPublic, PlanPublic, PlanVersionPublic
from app.teams import service as teams_service
from app.users import service as users_service
from app.users.models import User
from auth.policies import clients as client_policies

ARCHIVE_FORMAT: Final = "teamwell.subject-access.v1"
MESSAGE_BATCH = 500
JOURNEY_MODULE = "app.ips."
SECRET_COLUMN = re.compile(r"hash|secret|token|password|encrypted", re.IGNORECASE)
# Tables this module exports by name; any other table referring to the client goes in "journey".
EXPORTED_TABLES = frozenset(
    {
        "client_record",
        "care_team_member",
        "referral",
        "consent_record",
        "care_plan",
        "measure_response",
        "alert",
        "conversation",
        "meeting",
        "audit_event",
        "document",
        "document_version",
    }
)
REVIEW_REASON = (
    "Kept among the care team; released through a supervisor of the care team, who checks it "
    "first (Data Protection Act 2018, Sch. 3, serious harm)."
)


# --- the archive ---------------------------------------------------------------------------


class Requester(BaseModel):
    user_id: uuid.UUID
    name: str
    role: str


class Withheld(BaseModel):
    section: str
    items: int
    reason: str


class About(BaseModel):
    format: Literal["teamwell.subject-access.v1"] = ARCHIVE_FORMAT
    client_id: uuid.UUID
    generated_at: datetime
    generated_by: Requester
    withheld: list[Withheld]


class Account(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    is_active: bool
    mfa_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


class RecordSection(BaseModel):
    id: uuid.UUID
    display_name: str
    status: ProgrammeStatus
    organisation_id: uuid.UUID
    organisation_name: str
    team_id: uuid.UUID
    team_name: str
    created_at: datetime
    updated_at: datetime
    account: Account | None
    care_team: list[CareTeamMemberPublic]  # past members too (``until`` set)
    referrals: list[ReferralPublic]
    consents: list[ConsentPublic]  # every decision, oldest first


class PlanSection(BaseModel):
    current: PlanPublic | None
    history: list[PlanVersionPublic]
    comments: list[CommentPublic]


class MeasureEntry(MeasurePublic):
    instrument_name: str
    instrument_version: str
    completed_by_name: str | None


class AlertEntry(BaseModel):
    id: uuid.UUID
    kind: str
    urgent: bool
    detail: str
    raised_at: datetime
    recipient_id: uuid.UUID
    recipient_name: str | None
    acknowledged_at: datetime | None
    acknowledgement_note: str | None


class RevisionEntry(BaseModel):
    action: str
    body: str | None  # None: it could not be decrypted
    revised_at: datetime
    revised_by: uuid.UUID
    revised_by_name: str | None


class MessageEntry(BaseModel):
    id: uuid.UUID
    seq: int
    sender_id: uuid.UUID
    sender_name: str | None
    body: str | None  # None: deleted (see revisions), or it could not be decrypted
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    revisions: list[RevisionEntry]


class Thread(BaseModel):
    conversation_id: uuid.UUID
    kind: ConversationKind
    includes_client: bool | None
    created_at: datetime
    messages: list[MessageEntry]


class MeetingEntry(BaseModel):
    meeting: MeetingPublic
    attendance: list[AttendancePublic]


class AuditEntryView(BaseModel):
    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    detail: str | None
    ip: str | None
    user_agent: str | None


class SubjectAccessArchive(BaseModel):
    about: About
    record: RecordSection
    plan: PlanSection
    measures: list[MeasureEntry]
    alerts: list[AlertEntry]
    journey: dict[str, list[dict[str, Any]]]
    other_records: dict[str, list[dict[str, Any]]]
    messages: list[Thread]
    meetings: list[MeetingEntry]
    # The files are listed, not carried: each is downloaded as any other (docs/documents.md).
    documents: list[DocumentPublic]
    audit_events: list[AuditEntryView]


async def archive(
    *,
    session: AsyncSession,
    client: ClientRecord,
    requester: User,
    keyring: MessageKeyring,
    now: datetime,
) -> SubjectAccessArchive:
    """Everything held about the client. Call after auditing the export, in the same
    transaction, so the archive lists its own event."""
    by_client = client.user_id is not None and requester.id == client.user_id
    withheld: list[Withheld] = []
    threads = await _threads(session, client, keyring)
    alerts = await _alerts(session, client)
    journey, other_records = await _kept_elsewhere(session, client)
    measures = await _measures(session, client)
    items = await client_policies.can_see_item_answers(session, requester, client)
    if not items:
        # A supervisor outside the clinical need to know (one at an employment service) exports
        # the scores; the answers and the risk alerts go out through a clinician.
        answered = [m for m in measures if m.answers is not None]
        if answered:
            withheld.append(
                Withheld(section="measures.answers", items=len(answered), reason=items.reason)
            )
        measures = [m.model_copy(update={"answers": None}) for m in measures]
        risk = [a for a in alerts if a.kind in RISK_ALERT_KINDS]
        if risk:
            withheld.append(Withheld(section="alerts", items=len(risk), reason=items.reason))
            alerts = [a for a in alerts if a not in risk]
    if by_client:
        staff_only = [
            t for t in threads if t.kind == ConversationKind.case and not t.includes_client
        ]
        threads = [t for t in threads if t not in staff_only]
        count = sum(len(t.messages) for t in staff_only)
        if count:
            withheld.append(Withheld(section="messages", items=count, reason=REVIEW_REASON))
        if alerts:
            withheld.append(Withheld(section="alerts", items=len(alerts), reason=REVIEW_REASON))
            alerts = []
    meetings = await _meetings(session, client, [t.conversation_id for t in threads])
    documents = await _documents(
        session,
        client,
        requester,
        conversation_ids=[t.conversation_id for t in threads],
        meeting_ids=[m.meeting.id for m in meetings],
    )
    if by_client:
        unshared = [
            d for d in documents if d.place == Place.client_record and not d.shared_with_client
        ]
        if unshared:
            withheld.append(
                Withheld(section="documents", items=len(unshared), reason=REVIEW_REASON)
            )
            documents = [d for d in documents if d not in unshared]
    return SubjectAccessArchive(
        about=About(
            client_id=client.id,
            generated_at=now,
            generated_by=Requester(
                user_id=requester.id, name=requester.display_name, role=str(requester.role)
            ),
            withheld=withheld,
        ),
        record=await _record(session, client),
        plan=await _plan(session, client),
        measures=measures,
        alerts=alerts,
        journey=journey,
        other_records=other_records,
        messages=threads,
        meetings=meetings,
        documents=documents,
        audit_events=await _audit_events(session, client),
    )


async def _record(session: AsyncSession, client: ClientRecord) -> RecordSection:
    organisation = await organisations_service.get(
        session=session, organisation_id=client.organisation_id
    )
    team = await teams_service.get(session=session, team_id=client.team_id)
    login = await session.get(User, client.user_id) if client.user_id else None
    consents = await consents_service.history(session=session, client_id=client.id)
    organisations = await organisations_service.names(
        session=session, ids={c.organisation_id for c in consents}
    )
    people = await users_service.names(
        session=session, ids={c.recorded_by for c in consents if c.recorded_by}
    )
    return RecordSection(
        id=client.id,
        display_name=client.display_name,
        status=client.status,
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        team_id=team.id,
        team_name=team.name,
        created_at=client.created_at,
        updated_at=client.updated_at,
        account=(
            Account(
                user_id=login.id,
                email=login.email,
                display_name=login.display_name,
                is_active=login.is_active,
                mfa_enabled=login.mfa_enabled,
                created_at=login.created_at,
                last_login_at=login.last_login_at,
            )
            if login
            else None
        ),
        care_team=await clients_service.care_team(
            session=session, client_id=client.id, include_past=True
        ),
        referrals=await clients_service.referrals(session=session, client_id=client.id),
        consents=[
            ConsentPublic(
                id=c.id or 0,
                client_id=c.client_id,
                organisation_id=c.organisation_id,
                organisation_name=organisations.get(c.organisation_id),
                purpose=c.purpose,
                state=c.state,
                recorded_at=c.recorded_at,
                recorded_by=c.recorded_by,
                recorded_by_name=people.get(c.recorded_by) if c.recorded_by else None,
                note=c.note,
            )
            for c in consents
        ],
    )


async def _plan(session: AsyncSession, client: ClientRecord) -> PlanSection:
    plan = await plans_service.find(session=session, client_id=client.id)
    if plan is None:
        return PlanSection(current=None, history=[], comments=[])
    versions = await plans_service.history(session=session, plan=plan)
    comments = await plans_service.comments(session=session, plan=plan)
    names = await users_service.names(
        session=session,
        ids={v.changed_by for v in versions}
        | {c.author_id for c in comments}
        | ({plan.updated_by} if plan.updated_by else set()),
    )
    return PlanSection(
        current=PlanPublic(
            client_id=client.id,
            version=plan.version,
            content=plans_service.content_of(plan),
            updated_at=plan.updated_at,
            updated_by=plan.updated_by,
            updated_by_name=names.get(plan.updated_by) if plan.updated_by else None,
        ),
        history=[
            PlanVersionPublic(
                version=v.version,
                changed_at=v.changed_at,
                changed_by=v.changed_by,
                changed_by_name=names.get(v.changed_by),
                sections=v.sections,
                content=v.content,
            )
            for v in versions
        ],
        comments=[
            CommentPublic(
                id=c.id,
                item_id=c.item_id,
                text=c.text,
                author_id=c.author_id,
                author_name=names.get(c.author_id),
                created_at=c.created_at,
            )
            for c in comments
        ],
    )


async def _measures(session: AsyncSession, client: ClientRecord) -> list[MeasureEntry]:
    found = await measures_service.history(session=session, client_id=client.id)
    names = await users_service.names(session=session, ids={m.completed_by for m in found})
    entries = []
    for m in found:
        instrument = REGISTRY.get(m.instrument)
        entries.append(
            MeasureEntry(
                **MeasurePublic.model_validate(m, from_attributes=True).model_dump(),
                instrument_name=instrument.name if instrument else m.instrument,
                instrument_version=m.instrument_version,
                completed_by_name=names.get(m.completed_by),
            )
        )
    return entries


async def _alerts(session: AsyncSession, client: ClientRecord) -> list[AlertEntry]:
    rows = await session.exec(
        select(Alert).where(Alert.client_id == client.id).order_by(col(Alert.raised_at))
    )
    found = list(rows.all())
    names = await users_service.names(session=session, ids={a.recipient_id for a in found})
    return [
        AlertEntry(
            id=a.id,
            kind=a.kind,
            urgent=a.urgent,
            detail=a.detail,
            raised_at=a.raised_at,
            recipient_id=a.recipient_id,
            recipient_name=names.get(a.recipient_id),
            acknowledged_at=a.acknowledged_at,
            acknowledgement_note=a.acknowledgement_note,
        )
        for a in found
    ]


def _table_modules() -> dict[str, str]:
    """Which module defines each table (the models' module)."""
    return {
        mapper.local_table.name: mapper.class_.__module__
        for mapper in default_registry.mappers
        if isinstance(mapper.local_table, sa.Table)
    }


async def _kept_elsewhere(
    session: AsyncSession, client: ClientRecord
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Rows of every other table that refers to the client's record, then of the tables that
    hang off those (a job's support reviews), split into the IPS journey (``app.ips``) and the
    rest. Found through the metadata, so a table added later is exported without a change
    here, and a journey not recorded (or not built) gives an empty object. Binary and secret
    columns (hashes, tokens, encrypted fields) are left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    ids: dict[str, set[Any]] = {}
    connection = await session.connection()

    async def take(table: sa.Table, condition: sa.ColumnElement[bool]) -> None:
        columns = [
            c
            for c in table.c
            if not isinstance(c.type, sa.LargeBinary) and not SECRET_COLUMN.search(c.name)
        ]
        rows = (
            await connection.execute(
                sa.select(*columns).where(condition).order_by(*table.primary_key.columns)
            )
        ).all()
        found[table.name] = [jsonable_encoder(dict(row._mapping)) for row in rows]
        if "id" in table.c:
            ids[table.name] = {row._mapping["id"] for row in rows}

    others = [t for t in metadata.sorted_tables if t.name not in EXPORTED_TABLES]
    for table in others:
        to_client = [
            fk.parent == client.id
            for fk in table.foreign_keys
            if fk.column.table.name == ClientRecord.__tablename__
        ]
        if to_client:
            await take(table, or_(*to_client))
    for table in others:
        if table.name in found:
            continue
        links = [
            fk.parent.in_(ids[fk.column.table.name])
            for fk in table.foreign_keys
            if ids.get(fk.column.table.name)
        ]
        if links:
            await take(table, or_(*links))
    modules = _table_modules()
    journey = {
        name: rows
        for name, rows in found.items()
        if modules.get(name, "").startswith(JOURNEY_MODULE)
    }
    return journey, {name: rows for name, rows in found.items() if name not in journey}


def _open(keyring: MessageKeyring, key_id: str, blob: bytes, aad: bytes) -> str | None:
    try:
        return keyring.decrypt(key_id, blob, aad=aad)
    except UndecryptableMessage:
        return None


async def _threads(
    session: AsyncSession, client: ClientRecord, keyring: MessageKeyring
) -> list[Thread]:
    """The client's case threads and, if they have a login, their direct conversations."""
    where: sa.ColumnElement[bool] = (col(Conversation.kind) == ConversationKind.case) & (
        col(Conversation.client_id) == client.id
    )
    if client.user_id is not None:
        direct = select(ConversationParticipant.conversation_id).where(
            ConversationParticipant.user_id == client.user_id
        )
        where = or_(
            where,
            (col(Conversation.kind) == ConversationKind.direct) & col(Conversation.id).in_(direct),
        )
    conversations = (
        await session.exec(select(Conversation).where(where).order_by(col(Conversation.created_at)))
    ).all()
    threads = []
    for conversation in conversations:
        messages: list[Message] = []
        more = True
        while more:
            batch, more = await messaging_service.page(
                session=session,
                conversation_id=conversation.id,
                after_seq=messages[-1].seq if messages else 0,
                limit=MESSAGE_BATCH,
            )
            messages += batch
        revisions = await _revisions(session, [m.id for m in messages])
        names = await users_service.names(
            session=session,
            ids={m.sender_id for m in messages} | {r.revised_by for r in revisions},
        )
        threads.append(
            Thread(
                conversation_id=conversation.id,
                kind=conversation.kind,
                includes_client=conversation.includes_client,
                created_at=conversation.created_at,
                messages=[_message(m, revisions, names, keyring) for m in messages],
            )
        )
    return threads


async def _revisions(session: AsyncSession, message_ids: list[uuid.UUID]) -> list[MessageRevision]:
    if not message_ids:
        return []
    rows = await session.exec(
        select(MessageRevision)
        .where(col(MessageRevision.message_id).in_(message_ids))
        .order_by(col(MessageRevision.revised_at), col(MessageRevision.id))
    )
    return list(rows.all())


def _message(
    message: Message,
    revisions: list[MessageRevision],
    names: dict[uuid.UUID, str],
    keyring: MessageKeyring,
) -> MessageEntry:
    aad = message_aad(message.conversation_id, message.seq)
    deleted = message.deleted_at is not None
    return MessageEntry(
        id=message.id,
        seq=message.seq,
        sender_id=message.sender_id,
        sender_name=names.get(message.sender_id),
        body=None if deleted else _open(keyring, message.key_id, message.body_ciphertext, aad),
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=deleted,
        revisions=[
            RevisionEntry(
                action=r.action,
                body=_open(keyring, r.key_id, r.body_ciphertext, aad),
                revised_at=r.revised_at,
                revised_by=r.revised_by,
                revised_by_name=names.get(r.revised_by),
            )
            for r in revisions
            if r.message_id == message.id
        ],
    )


async def _meetings(
    session: AsyncSession, client: ClientRecord, conversation_ids: list[uuid.UUID]
) -> list[MeetingEntry]:
    """Meetings about the client, and calls started from their threads."""
    where: sa.ColumnElement[bool] = col(Meeting.client_id) == client.id
    if conversation_ids:
        where = or_(where, col(Meeting.conversation_id).in_(conversation_ids))
    rows = await session.exec(select(Meeting).where(where).order_by(col(Meeting.starts_at)))
    return [
        MeetingEntry(
            meeting=await meetings_service.public(session=session, meeting=m),
            attendance=await meetings_service.attendance(session=session, meeting_id=m.id),
        )
        for m in rows.all()
    ]


async def _documents(
    session: AsyncSession,
    client: ClientRecord,
    requester: User,
    *,
    conversation_ids: list[uuid.UUID],
    meeting_ids: list[uuid.UUID],
) -> list[DocumentPublic]:
    """Documents on the record, in the threads exported and of the meetings exported, with the
    versions the requester may see (a version still being scanned only by its uploader)."""
    found = await documents_service.about_client(
        session=session,
        client_id=client.id,
        conversation_ids=conversation_ids,
        meeting_ids=meeting_ids,
    )
    versions = await documents_service.versions_of(
        session=session, document_ids=[d.id for d in found]
    )
    names = await users_service.names(
        session=session, ids={v.uploaded_by for vs in versions.values() for v in vs}
    )
    return [documents_service.document_public(d, versions[d.id], requester, names) for d in found]


async def _audit_events(session: AsyncSession, client: ClientRecord) -> list[AuditEntryView]:
    """Events about the client's record, and what the client did with their own login."""
    where: sa.ColumnElement[bool] = col(AuditEvent.client_id) == client.id
    if client.user_id is not None:
        where = or_(where, col(AuditEvent.actor_id) == client.user_id)
    rows = await session.exec(select(AuditEvent).where(where).order_by(col(AuditEvent.id)))
    events = list(rows.all())
    names = await users_service.names(
        session=session, ids={e.actor_id for e in events if e.actor_id}
    )
    views = []
    for e in events:
        own = client.user_id is not None and e.actor_id == client.user_id
        views.append(
            AuditEntryView(
                id=e.id or 0,
                occurred_at=e.occurred_at,
                actor_id=e.actor_id,
                actor_name=names.get(e.actor_id) if e.actor_id else None,
                actor_role=e.actor_role,
                action=e.action,
                resource_type=e.resource_type,
                resource_id=e.resource_id,
                outcome=e.outcome,
                detail=e.detail,
                ip=e.ip if own else None,
                user_agent=e.user_agent if own else None,
            )
        )
    return views
