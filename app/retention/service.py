"""The retention job: remove what has outlived its retention (``app.retention.rules``) in one
transaction, and audit the run with counts only.

Every query compares a column with a cutoff from ``rules.cutoffs``; where something ends at the
first of several moments (a link is used, revoked or expires), "ended before the cutoff" is "any
of them before the cutoff", which is what the ``or_`` conditions say.

Removing a closed client record removes everything that refers to it, found from the tables'
foreign keys rather than a list kept by hand, so a table added later is covered: rows that point
at the record (or at a row being removed, through a required key) go with it; an optional key
from a row that stays is cleared. The client's own login is kept as an empty, disabled account
(audit events name it), with its sessions, codes and direct conversations removed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, delete, exists, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import app.models  # noqa: F401  (every table, so the foreign keys found are complete)
from app.audit import service as audit_service
from app.audit.service import AuditEntry
from app.clients.models import ClientRecord, ProgrammeStatus
from app.config import Settings
from app.context import Actor, Context
from app.db import metadata
from app.documents import service as documents_service
from app.documents.models import Document, DocumentUpload, DocumentVersion
from app.measures.models import MeasureLink
from app.meetings.models import GuestLink, Meeting, MeetingParticipant
from app.messaging.keyring import MessageKeyring, message_aad
from app.messaging.models import ConversationParticipant, Message, MessageRevision, ReadMarker
from app.notifications.models import (
    NotificationDelivery,
    NotificationPreference,
    NotificationProfile,
    PushSubscription,
)
from app.retention import rules
from app.users.models import User
from auth.models import (
    AuthSession,
    ExternalIdentity,
    Invitation,
    RecoveryCode,
    RefreshToken,
    SsoLoginCode,
)

# The names the report and the audit event use, in the order they are listed.
KINDS = (
    "auth_session",
    "refresh_token",
    "invitation",
    "measure_link",
    "sso_login_code",
    "guest_link",
    "message",
    "client_record",
)
FORMER_CLIENT_NAME = "Former client"


@dataclass
class RetentionReport:
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    # Rows removed with the client records, by table (everything that referred to them).
    with_client_records: dict[str, int] = field(default_factory=dict)
    client_ids: list[uuid.UUID] = field(default_factory=list)

    def summary(self) -> str:
        return " ".join(f"{kind}={self.removed[kind]}" for kind in KINDS)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def _delete(session: AsyncSession, statement: Any) -> int:
    result = await session.exec(statement)
    return int(result.rowcount or 0)


async def run(
    *,
    session: AsyncSession,
    ctx: Context,
    policy: rules.RetentionPolicy,
    keyring: MessageKeyring,
    documents: documents_service.Runtime,
) -> RetentionReport:
    """Remove everything past its retention, then record one ``retention.run`` audit event
    (and one ``client.removed`` per client record removed). The caller commits. ``documents``
    is the documents' store: a removed client's documents leave it with their rows."""
    cut = rules.cutoffs(policy, ctx.now())
    report = RetentionReport()
    report.removed.update(await _remove_ended_sign_ins(session, cut, policy))
    report.removed.update(await _remove_spent_links(session, cut.link_ended_before))
    report.removed["guest_link"] = await _remove_spent_guest_links(
        session, cut.guest_link_ended_before, policy.guest_link_close_after
    )
    if cut.messages_sent_before is not None:
        report.removed["message"] = await _erase_messages(
            session, ctx, keyring, sent_before=cut.messages_sent_before
        )
    if cut.closed_clients_changed_before is not None:
        await _remove_closed_clients(
            session, ctx, report, documents, changed_before=cut.closed_clients_changed_before
        )
    await audit_service.record_many(
        session,
        ctx,
        [AuditEntry(action="retention.run", resource_type="retention", detail=report.summary())],
    )
    return report


async def _remove_ended_sign_ins(
    session: AsyncSession, cut: rules.Cutoffs, policy: rules.RetentionPolicy
) -> dict[str, int]:
    """Sessions that ended before the cutoff: revoked before it, or (never revoked) idle from a
    last use before cutoff - idle. Their refresh tokens go first (they refer to them)."""
    ended = or_(
        col(AuthSession.revoked_at) < cut.auth_ended_before,
        col(AuthSession.revoked_at).is_(None)
        & (col(AuthSession.last_used_at) < cut.auth_ended_before - policy.session_idle),
    )
    ended_ids = select(AuthSession.id).where(ended)
    removed = {
        "refresh_token": await _delete(
            session,
            delete(RefreshToken).where(
                or_(
                    col(RefreshToken.session_id).in_(ended_ids),
                    col(RefreshToken.expires_at) < cut.auth_ended_before,
                )
            ),
        )
    }
    removed["auth_session"] = await _delete(session, delete(AuthSession).where(ended))
    return removed


async def _remove_spent_links(session: AsyncSession, link: datetime) -> dict[str, int]:
    """Invitations, questionnaire links and single sign-on codes expired, used or revoked
    before ``link``."""
    return {
        "invitation": await _delete(
            session,
            delete(Invitation).where(
                or_(
                    col(Invitation.expires_at) < link,
                    col(Invitation.accepted_at) < link,
                    col(Invitation.revoked_at) < link,
                )
            ),
        ),
        "measure_link": await _delete(
            session,
            delete(MeasureLink).where(
                or_(col(MeasureLink.expires_at) < link, col(MeasureLink.used_at) < link)
            ),
        ),
        "sso_login_code": await _delete(
            session,
            delete(SsoLoginCode).where(
                or_(col(SsoLoginCode.expires_at) < link, col(SsoLoginCode.used_at) < link)
            ),
        ),
    }


async def _remove_spent_guest_links(
    session: AsyncSession, before: datetime, close_after: timedelta
) -> int:
    """Guest links that stopped working before ``before`` (``rules.guest_link_ended_at``). The
    guests' seats stay as attendance (kind, name, arrival, admission, leaving); only their
    reference to the link is cleared, so the link's token and code digests go with the row."""
    spent = await session.exec(
        select(GuestLink.id)
        .join(Meeting, col(Meeting.id) == GuestLink.meeting_id)
        .where(
            or_(
                col(GuestLink.used_at) < before,
                col(GuestLink.revoked_at) < before,
                col(Meeting.cancelled_at) < before,
                col(Meeting.ends_at) < before - close_after,
            )
        )
    )
    ids = list(spent.all())
    if not ids:
        return 0
    await session.exec(
        update(MeetingParticipant)
        .where(col(MeetingParticipant.guest_link_id).in_(ids))
        .values(guest_link_id=None)
    )
    return await _delete(session, delete(GuestLink).where(col(GuestLink.id).in_(ids)))


async def _remove_closed_clients(
    session: AsyncSession,
    ctx: Context,
    report: RetentionReport,
    documents: documents_service.Runtime,
    *,
    changed_before: datetime,
) -> None:
    """Closed client records unchanged since ``changed_before``, with everything about them."""
    closed = await session.exec(
        select(ClientRecord).where(
            col(ClientRecord.status) == ProgrammeStatus.closed,
            col(ClientRecord.updated_at) < changed_before,
        )
    )
    for client in list(closed.all()):
        removed = await _remove_client(session, client, documents, ctx.now())
        for table, count in removed.items():
            report.with_client_records[table] = report.with_client_records.get(table, 0) + count
        report.client_ids.append(client.id)
        # Recorded for the client's organisation, so its admins see the record went.
        await audit_service.record(
            session,
            _for_organisation(ctx, client.organisation_id),
            action="client.removed",
            resource_type="client_record",
            resource_id=client.id,
            client_id=client.id,
            detail="closed record past its retention",
        )
    report.removed["client_record"] = len(report.client_ids)


def _for_organisation(ctx: Context, organisation_id: uuid.UUID) -> Context:
    actor = Actor(
        user_id=ctx.actor.user_id,
        role=ctx.actor.role,
        organisation_id=organisation_id,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )
    return Context(actor=actor, clock=ctx.clock)


async def _erase_messages(
    session: AsyncSession, ctx: Context, keyring: MessageKeyring, *, sent_before: Any
) -> int:
    """Erase messages sent before the cutoff: their text and earlier versions go; the numbered
    row stays as a deleted message, so every conversation's numbers stay gap-free for clients
    that resume from them. Messages already erased are left alone."""
    has_revisions = exists().where(col(MessageRevision.message_id) == col(Message.id))
    due = (
        await session.exec(
            select(Message).where(
                col(Message.created_at) < sent_before,
                or_(col(Message.deleted_at).is_(None), has_revisions),
            )
        )
    ).all()
    if not due:
        return 0
    ids = [message.id for message in due]
    await session.exec(delete(MessageRevision).where(col(MessageRevision.message_id).in_(ids)))
    now = ctx.now()
    for message in due:
        aad = message_aad(message.conversation_id, message.seq)
        message.key_id, message.body_ciphertext = keyring.encrypt("", aad=aad)
        message.deleted_at = message.deleted_at or now
        session.add(message)
    await session.flush()
    return len(due)


# --- a closed client record and everything about it ---------------------------------------------


def _key(table: Table) -> Column[Any]:
    return next(iter(table.primary_key.columns))


async def _ids(session: AsyncSession, statement: Any) -> set[Any]:
    return set((await session.exec(statement)).all())


async def _remove_client(
    session: AsyncSession, client: ClientRecord, documents: documents_service.Runtime, now: datetime
) -> dict[str, int]:
    """Remove a client record and every row that refers to it; returns rows removed by table."""
    clients = _table(ClientRecord)
    roots: dict[Table, set[Any]] = defaultdict(set)
    roots[clients].add(client.id)
    login = await session.get(User, client.user_id) if client.user_id else None
    if login is not None:
        # The client's own sign-in records, notification settings, devices and notices, and
        # direct conversations are theirs too.
        for model in (
            AuthSession,
            RecoveryCode,
            ExternalIdentity,
            SsoLoginCode,
            ReadMarker,
            NotificationPreference,
            NotificationProfile,
            PushSubscription,
            NotificationDelivery,
        ):
            table = _table(model)
            roots[table] |= await _ids(
                session, select(_key(table)).where(table.c.user_id == login.id)
            )
        direct = await _ids(
            session,
            select(ConversationParticipant.conversation_id).where(
                col(ConversationParticipant.user_id) == login.id
            ),
        )
        roots[metadata.tables["conversation"]] |= direct
        # Files sent in those conversations go with them (their key to the conversation is
        # optional, so the closure would only clear it and leave them nowhere).
        if direct:
            roots[_table(Document)] |= await _ids(
                session, select(Document.id).where(col(Document.conversation_id).in_(direct))
            )
    doomed, detach = await _closure(session, roots, owner=clients)
    # The documents' content is in the object store, not in a row: removed from it first, or
    # it would stay there with nothing naming it. Before the commit, so a run that fails after
    # leaves rows whose content reads as removed, and the next run removes those rows.
    await documents_service.remove_content(
        session=session,
        runtime=documents,
        version_ids=doomed.get(_table(DocumentVersion), set()),
        upload_ids=doomed.get(_table(DocumentUpload), set()),
        now=now,
    )
    for table, column, parents in detach:
        await session.exec(update(table).where(column.in_(parents)).values({column.name: None}))
    counts: dict[str, int] = {}
    # Children before parents: reverse dependency order.
    for table in reversed(metadata.sorted_tables):
        ids = doomed.get(table)
        if ids:
            counts[table.name] = await _delete(
                session, delete(table).where(_key(table).in_(list(ids)))
            )
    if login is not None:
        login.display_name = FORMER_CLIENT_NAME
        login.email = f"removed-{login.id}@teamwell.invalid"
        login.is_active = False
        login.password_hash = None
        login.mfa_secret_encrypted = None
        login.mfa_enabled = False
        session.add(login)
        await session.flush()
    return counts


async def _closure(
    session: AsyncSession, roots: dict[Table, set[Any]], *, owner: Table
) -> tuple[dict[Table, set[Any]], list[tuple[Table, Column[Any], set[Any]]]]:
    """Every row that must go with ``roots``: rows referring to the owner (the client record)
    by any key, or to a removed row by a required key; and the optional keys to clear."""
    doomed: dict[Table, set[Any]] = {table: set(ids) for table, ids in roots.items() if ids}
    frontier = dict(doomed)
    detach: list[tuple[Table, Column[Any], set[Any]]] = []
    while frontier:
        found: dict[Table, set[Any]] = defaultdict(set)
        for parent, parent_ids in frontier.items():
            for table, column in _references_to(parent):
                rows = await _ids(session, select(_key(table)).where(column.in_(list(parent_ids))))
                if not rows:
                    continue
                if column.nullable and parent is not owner:
                    detach.append((table, column, set(parent_ids)))
                    continue
                new = rows - doomed.get(table, set())
                if new:
                    doomed.setdefault(table, set()).update(new)
                    found[table] |= new
        frontier = found
    return doomed, detach


def _references_to(parent: Table) -> Iterable[tuple[Table, Column[Any]]]:
    for table in metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table is parent:
                yield table, key.parent


def policy_from_settings(settings: Settings) -> rules.RetentionPolicy:
    return rules.RetentionPolicy(
        auth_days=settings.retention_auth_days,
        link_days=settings.retention_link_days,
        guest_link_days=settings.retention_guest_link_days,
        guest_link_close_after=timedelta(minutes=settings.guest_link_close_minutes_after),
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        message_days=settings.retention_message_days,
        closed_client_years=settings.retention_closed_client_years,
    )
