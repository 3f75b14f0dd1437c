"""The audit events of reading requests are group-committed (app/audit/writer.py) and each is
still exactly as if written alone: every request's events stored once, in the order handed
over, the hash chain intact; a request whose events cannot be stored fails alone while the rest
of its batch is stored; and over HTTP, concurrent plan reads each leave their event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.audit.writer import AuditWriter
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.migrate import upgrade_async
from tests.conftest import Live, fresh_database
from tests.support.builders import client_id_of

REQUESTS = 40
# More than either database's connection pool holds (SQLite 15, PostgreSQL 30): the reads wait
# for the audit writer while holding their connections, and the writer must still get one.
CONCURRENT_READS = 40


class BrokenClock:
    """A request whose events cannot be made (standing in for any failure while storing)."""

    def now(self) -> datetime:
        raise RuntimeError("this request's events cannot be stored")


def context(clock: object) -> Context:
    actor = Actor(user_id=uuid.uuid4(), role=None, organisation_id=None)
    return Context(actor=actor, clock=clock)  # type: ignore[arg-type]


def entries(n: int, request: int) -> list[audit_service.AuditEntry]:
    return [
        audit_service.AuditEntry(
            action="plan.read", resource_type="plan", resource_id=f"request-{request}-{i}"
        )
        for i in range(n)
    ]


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = fresh_database(request, tmp_path, "audit")
    await upgrade_async(url)
    running = create_engine(Settings(data_dir=tmp_path, database_url=url))
    yield running
    await running.dispose()


async def stored(engine: AsyncEngine) -> list[AuditEvent]:
    async with session_factory(engine)() as session:
        return list((await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all())


async def chain_holds(engine: AsyncEngine) -> bool:
    async with session_factory(engine)() as session:
        return (await audit_service.verify_chain(session)).ok


async def test_concurrent_requests_are_stored_once_each_in_order(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    opened = 0

    def counted() -> AsyncSession:
        nonlocal opened
        opened += 1
        return sessions()

    writer = AuditWriter(counted)  # type: ignore[arg-type]
    clock = FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    try:
        handed = [(context(clock), entries(1 + n % 3, n)) for n in range(REQUESTS)]
        results = await asyncio.gather(*(writer.append(ctx, batch) for ctx, batch in handed))
    finally:
        await writer.stop()

    # Each request got back its own events, with ids: they were committed before it returned.
    for (_ctx, batch), events in zip(handed, results, strict=True):
        assert [e.resource_id for e in events] == [e.resource_id for e in batch]
        assert all(e.id is not None for e in events)
    # They shared transactions (all arrived together, so one batch here).
    assert opened < REQUESTS
    rows = await stored(engine)
    assert [r.resource_id for r in rows] == [e.resource_id for _c, b in handed for e in b]
    assert await chain_holds(engine)


async def test_a_request_that_cannot_be_stored_fails_alone(engine: AsyncEngine) -> None:
    writer = AuditWriter(session_factory(engine))
    good = FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    try:
        handed = [(context(BrokenClock() if n == 5 else good), entries(2, n)) for n in range(12)]
        results = await asyncio.gather(
            *(writer.append(ctx, batch) for ctx, batch in handed), return_exceptions=True
        )
        # The writer goes on serving requests after a failure.
        after = await writer.append(context(good), entries(1, 99))
    finally:
        await writer.stop()

    failed = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [5]
    assert "cannot be stored" in str(results[5])
    kept = [r.resource_id for r in await stored(engine)]
    expected = [e.resource_id for n, (_c, b) in enumerate(handed) if n != 5 for e in b]
    assert kept == [*expected, after[0].resource_id]
    assert await chain_holds(engine)


async def test_concurrent_plan_reads_each_leave_their_event(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    plan = f"/api/v1/clients/{alex}/plan"
    supervisor = live.as_role("supervisor")

    def reads_so_far() -> int:
        found = supervisor.get(
            "/api/v1/audit-events",
            params={"actor_id": keyworker.user["id"], "action": "plan.read"},
        )
        assert found.status_code == 200, found.text
        total: int = found.json()["total"]
        return total

    before = reads_so_far()
    headers = {"Authorization": f"Bearer {keyworker.tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=60) as http:
        replies = await asyncio.gather(*(http.get(plan) for _ in range(CONCURRENT_READS)))
    assert [r.status_code for r in replies] == [200] * CONCURRENT_READS
    assert reads_so_far() == before + CONCURRENT_READS
    verdict = supervisor.get("/api/v1/audit-events/verify").json()
    assert verdict["ok"], verdict


async def test_writes_of_many_transactions_at_once_keep_one_chain(engine: AsyncEngine) -> None:
    # Each an audited write of its own (a request's own transaction, as a plan save's), all at
    # once, so that on PostgreSQL each waits for the chain's lock while others append: the tail
    # each links to must be read after the lock is taken, or two events name the same one.
    sessions = session_factory(engine)
    clock = FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))

    async def write(n: int) -> None:
        async with sessions() as session:
            await audit_service.record_many(session, context(clock), entries(2, n))
            await session.commit()

    await asyncio.gather(*(write(n) for n in range(REQUESTS)))
    rows = await stored(engine)
    assert len(rows) == 2 * REQUESTS
    assert len({r.prev_hash for r in rows}) == len(rows)  # each linked to its own predecessor
    assert await chain_holds(engine)
