"""The audit trail: written with every client-record access, hash-chained, tamper-evident."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit import service as audit_service
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.migrate import upgrade_async
from tests.conftest import Live, base_env, teamwell_cli


@pytest.fixture
async def audit_db(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    path = tmp_path / "audit.db"
    await upgrade_async(f"sqlite:///{path}")
    engine = create_engine(Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}"))
    yield engine, path
    await engine.dispose()


async def write_events(engine: AsyncEngine, count: int) -> None:
    ctx = Context(
        actor=Actor(user_id=None, role=None, organisation_id=None, ip="127.0.0.1"),
        clock=FrozenClock(),
    )
    async with session_factory(engine)() as session:
        for n in range(count):
            await audit_service.record(
                session, ctx, action="client.read", resource_type="client", resource_id=f"c{n}"
            )
        await session.commit()


async def verdict(engine: AsyncEngine) -> audit_service.ChainVerdict:
    async with session_factory(engine)() as session:
        return await audit_service.verify_chain(session, batch=2)


async def test_chain_verifies_and_finds_an_altered_event(
    audit_db: tuple[AsyncEngine, Path],
) -> None:
    engine, path = audit_db
    await write_events(engine, 5)
    good = await verdict(engine)
    assert good.ok and good.checked == 5
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_event SET detail = 'nothing to see' WHERE id = 3")
    bad = await verdict(engine)
    assert not bad.ok and bad.broken_at == 3 and bad.reason and "altered" in bad.reason
    assert bad.checked == 2


async def test_chain_finds_a_removed_event(audit_db: tuple[AsyncEngine, Path]) -> None:
    engine, path = audit_db
    await write_events(engine, 4)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM audit_event WHERE id = 2")
    bad = await verdict(engine)
    assert not bad.ok and bad.broken_at == 3 and bad.reason and "link" in bad.reason


async def test_verify_audit_command_says_where_the_chain_breaks(
    audit_db: tuple[AsyncEngine, Path], tmp_path: Path
) -> None:
    engine, path = audit_db
    await write_events(engine, 3)
    env = base_env(tmp_path, f"sqlite:///{path}")
    ok = teamwell_cli(env, "verify-audit")
    assert ok.returncode == 0 and "3 events verified" in ok.stdout
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_event SET actor_role = 'admin' WHERE id = 2")
    broken = teamwell_cli(env, "verify-audit")
    assert broken.returncode == 1
    assert "BROKEN at event 2" in broken.stdout


def test_reading_a_record_is_audited_with_who_and_where(live: Live) -> None:
    therapist = live.as_role("therapist")
    client = therapist.get("/api/v1/clients").json()["items"][0]
    before = (
        live.as_role("supervisor")
        .get(
            "/api/v1/audit-events",
            params={
                "client_id": client["id"],
                "action": "client.read",
                "actor_id": therapist.user["id"],
            },
        )
        .json()["total"]
    )
    assert (
        therapist.get(
            f"/api/v1/clients/{client['id']}", headers={"User-Agent": "ward-laptop/1.0"}
        ).status_code
        == 200
    )
    events = (
        live.as_role("supervisor")
        .get(
            "/api/v1/audit-events",
            params={
                "client_id": client["id"],
                "action": "client.read",
                "actor_id": therapist.user["id"],
            },
        )
        .json()
    )
    assert events["total"] == before + 1
    newest = events["items"][0]
    assert newest["outcome"] == "success" and newest["ip"] == "127.0.0.1"
    assert newest["user_agent"] == "ward-laptop/1.0"
    assert newest["actor_name"] == "Tom Okafor" and newest["actor_role"] == "therapist"
    chain = live.as_role("admin").get("/api/v1/audit-events/verify").json()
    assert chain["ok"] is True and chain["checked"] > 0
