"""The audit trail: append-only, hash-chained, written in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import metrics
from app.audit.models import AuditEvent, Outcome
from app.clients.models import ClientRecord
from app.context import Context
from app.pagination import paginate

GENESIS_HASH = "0" * 64
# PostgreSQL advisory-lock key that serialises appends to the chain across server processes.
AUDIT_CHAIN_LOCK = 0x7E4A_0D17


def event_digest(event: AuditEvent) -> str:
    """SHA-256 over the event's fields and the previous event's hash."""
    fields = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_role": event.actor_role,
        "organisation_id": str(event.organisation_id) if event.organisation_id else None,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "client_id": str(event.client_id) if event.client_id else None,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "outcome": str(event.outcome),
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Built once: every audited request (or the audit writer's batch) reads the tail. On
# PostgreSQL the chain's lock is taken and the tail read after it in one round trip, by the
# function of migration 0024 (which says why a function); on SQLite the transaction holds
# the database's write lock already.
_LOCKED_TAIL = text("SELECT teamwell_audit_chain_tail(:key)").bindparams(key=AUDIT_CHAIN_LOCK)
_TAIL = select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)


async def _chain_tail(session: AsyncSession) -> str:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        locked = await session.exec(_LOCKED_TAIL)  # type: ignore[call-overload]
        tail: str | None = locked.scalar()
        return tail or GENESIS_HASH
    last = await session.exec(_TAIL)
    return last.first() or GENESIS_HASH


# The key in ``session.info`` under which a reading request's session names the audit writer
# that appends its events (``app/audit/writer.py``); absent, events join the session's own
# transaction.
AUDIT_WRITER = "teamwell_audit_writer"


class AuditAppender(Protocol):
    async def append(self, ctx: Context, entries: Sequence[AuditEntry]) -> list[AuditEvent]: ...


async def record(
    session: AsyncSession,
    ctx: Context,
    *,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | str | int | None = None,
    client_id: uuid.UUID | None = None,
    outcome: Outcome = Outcome.success,
    detail: str | None = None,
) -> AuditEvent:
    return (
        await record_many(
            session,
            ctx,
            [
                AuditEntry(
                    action=action,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    client_id=client_id,
                    outcome=outcome,
                    detail=detail,
                )
            ],
        )
    )[0]


@dataclass(frozen=True)
class AuditEntry:
    action: str
    resource_type: str
    resource_id: uuid.UUID | str | int | None = None
    client_id: uuid.UUID | None = None
    outcome: Outcome = Outcome.success
    detail: str | None = None


async def record_many(
    session: AsyncSession, ctx: Context, entries: Sequence[AuditEntry]
) -> list[AuditEvent]:
    """Append several events (for example one per client in a listing) in one go.

    In the session's own transaction, so they are stored with what the request changed or not at
    all; or, when the session belongs to a reading request, by the audit writer, which has them
    committed before this returns (the request's session writes nothing, see
    ``app/audit/writer.py``)."""
    if not entries:
        return []
    writer: AuditAppender | None = session.info.get(AUDIT_WRITER)
    if writer is not None:
        return await writer.append(ctx, entries)
    # On the driver, as the writer's batch (``append_chained``): the request only adds the rows,
    # and the unit of work's flush of them cost more than the insert.
    return await append_chained(session, [(ctx, entry) for entry in entries])


def chained(prev: str, items: Sequence[tuple[Context, AuditEntry]]) -> list[AuditEvent]:
    """The events for ``items`` in order, each linked to the one before, the first to ``prev``."""
    events = []
    last: Context | None = None
    for ctx, entry in items:
        if ctx is not last:  # the events of one request share its moment
            now, last = ctx.now(), ctx
        event = AuditEvent(
            occurred_at=now,
            actor_id=ctx.actor.user_id,
            actor_role=str(ctx.actor.role) if ctx.actor.role else None,
            organisation_id=ctx.actor.organisation_id,
            action=entry.action,
            resource_type=entry.resource_type,
            # Bounded like the column, so an unusually long path can never lose the event.
            resource_id=str(entry.resource_id)[:255] if entry.resource_id is not None else None,
            client_id=entry.client_id,
            ip=ctx.actor.ip,
            user_agent=(ctx.actor.user_agent or "")[:512] or None,
            outcome=entry.outcome,
            detail=entry.detail[:1000] if entry.detail else None,
            prev_hash=prev,
            hash="",
        )
        event.hash = event_digest(event)
        prev = event.hash
        events.append(event)
    return events


_INSERTED = tuple(c.key for c in AuditEvent.__table__.columns if c.key != "id")  # type: ignore[attr-defined]
_INSERT = insert(AuditEvent).returning(col(AuditEvent.id), sort_by_parameter_order=True)


async def append_chained(
    session: AsyncSession, items: Sequence[tuple[Context, AuditEntry]]
) -> list[AuditEvent]:
    """Append the events of several requests in order (the audit writer's batch), with one read
    of the chain's tail and one insert, in the session's transaction."""
    events = chained(await _chain_tail(session), items)
    # One insert on the driver rather than the unit of work's flush: the batch only ever adds
    # rows, and tracking each event in the session cost more than storing it. The ids come
    # back in the events' order.
    rows = [{column: getattr(event, column) for column in _INSERTED} for event in events]
    connection = await session.connection()
    ids = (await connection.execute(_INSERT, rows)).scalars().all()
    for event, event_id in zip(events, ids, strict=True):
        event.id = event_id
    metrics.audit_events.inc(len(events))
    return events


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    checked: int
    broken_at: int | None = None
    reason: str | None = None
    # How many signed checkpoints the chain was checked against (``app/audit/checkpoints.py``).
    checkpoints: int = 0


@dataclass(frozen=True)
class Checkpoint:
    """The chain as it stood: ``count`` events, the newest ``head_id`` with ``head_hash``."""

    count: int
    head_id: int
    head_hash: str
    at: datetime


@dataclass(frozen=True)
class ChainHead:
    checkpoint: Checkpoint
    # The event ``after`` named was no longer there as it was, so the whole chain was counted.
    recounted: bool


# One statement, so that the newest event, the count and the earlier checkpoint's event are read
# in one snapshot: a committed prefix of the chain (appends commit in chain order, under the
# chain's lock). Counting only what came after the previous checkpoint keeps it cheap.
_CHAIN_HEAD = text(
    """
    SELECT head.id, head.hash,
           (SELECT count(*) FROM audit_event AS added
             WHERE added.id > :after_id AND added.id <= head.id) AS added,
           (SELECT anchor.hash FROM audit_event AS anchor WHERE anchor.id = :after_id) AS anchor
      FROM audit_event AS head
     ORDER BY head.id DESC
     LIMIT 1
    """
)


async def chain_head(
    session: AsyncSession, *, after: Checkpoint | None, at: datetime
) -> ChainHead | None:
    """The chain's length and newest event now, counted on from ``after`` when its event is
    still there unchanged (otherwise from the start); None while the chain is empty."""
    base, after_id = (after.count, after.head_id) if after is not None else (0, 0)
    row = (
        await session.exec(_CHAIN_HEAD.bindparams(after_id=after_id))  # type: ignore[call-overload]
    ).first()
    if row is None:
        return None
    head_id, head_hash, added, anchor = row
    if after is not None and (anchor != after.head_hash or head_id < after.head_id):
        row = (await session.exec(_CHAIN_HEAD.bindparams(after_id=0))).first()  # type: ignore[call-overload]
        if row is None:
            return ChainHead(Checkpoint(0, 0, GENESIS_HASH, at), recounted=True)
        head_id, head_hash, added, _anchor = row
        return ChainHead(Checkpoint(int(added), head_id, head_hash, at), recounted=True)
    return ChainHead(Checkpoint(base + int(added), head_id, head_hash, at), recounted=False)


async def verify_chain(
    session: AsyncSession, *, batch: int = 1000, checkpoints: Sequence[Checkpoint] = ()
) -> ChainVerdict:
    """Walk the chain in id order; report the first event whose hash or link does not hold, or
    that differs from what a checkpoint recorded of it, and then a checkpoint whose event the
    chain no longer reaches (its newest events removed)."""
    by_event: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_event.setdefault(checkpoint.head_id, []).append(checkpoint)
    matched = 0
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.id) > last_id)
                .order_by(col(AuditEvent.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            break
        for event in rows:
            assert event.id is not None
            if event.prev_hash != prev:
                return ChainVerdict(False, checked, event.id, "link to the previous event broken")
            if event_digest(event) != event.hash:
                return ChainVerdict(False, checked, event.id, "event altered after it was written")
            prev = event.hash
            checked += 1
            last_id = event.id
            for checkpoint in by_event.pop(event.id, []):
                if (checkpoint.count, checkpoint.head_hash) != (checked, event.hash):
                    return ChainVerdict(
                        False,
                        checked - 1,
                        event.id,
                        f"event {event.id} is not the one the checkpoint of "
                        f"{checkpoint.at.isoformat()} recorded (event {checkpoint.count} of the "
                        f"chain, hash {checkpoint.head_hash}): events were rewritten after it",
                    )
                matched += 1
    unmatched = [c for waiting in by_event.values() for c in waiting]
    if unmatched:
        furthest = max(unmatched, key=lambda c: c.count)
        if furthest.count > checked:
            reason = (
                f"{furthest.count - checked} events missing after the checkpoint of "
                f"{furthest.at.isoformat()}: it counted {furthest.count} events up to event "
                f"{furthest.head_id}, the chain holds {checked}"
            )
        else:
            reason = (
                f"event {furthest.head_id}, the newest at the checkpoint of "
                f"{furthest.at.isoformat()}, is missing: events were rewritten after it"
            )
        return ChainVerdict(False, checked, None, reason, checkpoints=matched)
    return ChainVerdict(ok=True, checked=checked, checkpoints=matched)


@dataclass(frozen=True)
class AuditFilter:
    organisation_id: uuid.UUID
    client_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession, filters: AuditFilter, *, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    # An organisation sees what its own people did, and what anyone did to its clients' records.
    own_clients = select(ClientRecord.id).where(
        ClientRecord.organisation_id == filters.organisation_id
    )
    query = select(AuditEvent).where(
        or_(
            col(AuditEvent.organisation_id) == filters.organisation_id,
            col(AuditEvent.client_id).in_(own_clients),
        )
    )
    if filters.client_id:
        query = query.where(AuditEvent.client_id == filters.client_id)
    if filters.actor_id:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(col(AuditEvent.occurred_at) >= filters.since)
    if filters.until:
        query = query.where(col(AuditEvent.occurred_at) < filters.until)
    return await paginate(session, query, col(AuditEvent.id).desc(), limit=limit, offset=offset)


async def latest_of(session: AsyncSession, action: str) -> AuditEvent | None:
    """The newest event of one action across the whole trail (the System page's "last verified"
    reads ``audit.verify``): the service's own state, not any organisation's people."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()
