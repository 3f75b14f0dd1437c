"""The audit trail: written with every client-record access, hash-chained, tamper-evident."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit import checkpoints
from app.audit import service as audit_service
from app.audit.checkpoints import Checkpointer
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.migrate import upgrade_async
from tests.conftest import Live, base_env, fresh_database, teamwell_cli


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
    reads = {"client_id": client["id"], "action": "client.read", "actor_id": therapist.user["id"]}
    supervisor = live.as_role("supervisor")
    before = supervisor.get("/api/v1/audit-events", params=reads).json()["total"]
    assert (
        therapist.get(
            f"/api/v1/clients/{client['id']}", headers={"User-Agent": "ward-laptop/1.0"}
        ).status_code
        == 200
    )
    events = supervisor.get("/api/v1/audit-events", params=reads).json()
    assert events["total"] == before + 1
    newest = events["items"][0]
    assert newest["outcome"] == "success" and newest["ip"] == "127.0.0.1"
    assert newest["user_agent"] == "ward-laptop/1.0"
    assert newest["actor_name"] == "Tom Okafor" and newest["actor_role"] == "therapist"
    chain = live.as_role("admin").get("/api/v1/audit-events/verify").json()
    assert chain["ok"] is True and chain["checked"] > 0


# --- Signed checkpoints: the newest events removed (app/audit/checkpoints.py) -----------------


@dataclass
class Trail:
    """An audit trail on one database, with the settings a server and the CLI would use."""

    engine: AsyncEngine
    settings: Settings
    env: dict[str, str]
    clock: FrozenClock

    def checkpointer(self, interval: float = 3600) -> Checkpointer:
        return Checkpointer(
            session_factory(self.engine),
            path=self.settings.audit_checkpoint_file,
            key=checkpoints.settings_key(self.settings),
            clock=self.clock,
            interval=interval,
        )

    async def verdict(self) -> audit_service.ChainVerdict:
        async with session_factory(self.engine)() as session:
            return await checkpoints.verify(
                session,
                [self.settings.audit_checkpoint_file],
                checkpoints.settings_key(self.settings).public_key(),
            )

    async def plain_verdict(self) -> audit_service.ChainVerdict:
        async with session_factory(self.engine)() as session:
            return await audit_service.verify_chain(session)

    async def sql(self, statement: str) -> None:
        """What someone with access to the database, and nothing else, can do."""
        async with self.engine.begin() as connection:
            await connection.execute(text(statement))


@pytest.fixture(params=["sqlite", "postgres"])
async def trail(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Trail]:
    url = fresh_database(request, tmp_path, "audit")
    await upgrade_async(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = create_engine(settings)
    yield Trail(engine, settings, base_env(tmp_path, url), FrozenClock())
    await engine.dispose()


async def test_signed_checkpoints_find_the_newest_events_removed(trail: Trail) -> None:
    await write_events(trail.engine, 5)
    writer = trail.checkpointer()
    first = await writer.checkpoint()
    assert first is not None and (first.count, first.head_id) == (5, 5)
    # Unchanged, nothing more is written; after more events the count goes on from there.
    assert await writer.checkpoint() is None
    await write_events(trail.engine, 2)
    second = await writer.checkpoint()
    assert second is not None and (second.count, second.head_id) == (7, 7)
    # Events after the last checkpoint are simply not covered yet.
    await write_events(trail.engine, 1)
    intact = await trail.verdict()
    assert intact.ok and intact.checked == 8 and intact.checkpoints == 2
    ok = teamwell_cli(trail.env, "verify-audit")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "8 events verified, 2 signed checkpoints matched" in ok.stdout
    # The command recorded its verification (event 9) and checkpointed the chain with it.
    assert (await trail.verdict()).checkpoints == 3

    await trail.sql("DELETE FROM audit_event WHERE id >= 6")
    # The chain alone cannot tell: what is left is a valid chain.
    assert (await trail.plain_verdict()).ok
    found = await trail.verdict()
    assert not found.ok and found.reason
    assert found.reason.startswith("4 events missing after the checkpoint of")
    broken = teamwell_cli(trail.env, "verify-audit")
    assert broken.returncode == 1
    assert "audit chain BROKEN: 4 events missing after the checkpoint of" in broken.stdout
    # Its verification is recorded (broken), and not checkpointed.
    assert trail.settings.audit_checkpoint_file.read_text().count("\n") == 3

    # The server's checkpointer notices too, and its next checkpoint counts the chain afresh
    # (the signed earlier ones still show what was removed): the five left and the record of
    # the broken verification.
    third = await writer.checkpoint()
    assert third is not None and third.count == 6
    assert not (await trail.verdict()).ok


async def test_newest_events_replaced_by_a_consistent_chain_are_found(trail: Trail) -> None:
    await write_events(trail.engine, 5)
    assert await trail.checkpointer().checkpoint() is not None
    # Someone with the database but not the checkpoint key removes the newest two events and
    # writes two of their own, chained exactly as the service would chain them.
    await trail.sql("DELETE FROM audit_event WHERE id >= 4")
    await write_events(trail.engine, 2)
    assert (await trail.plain_verdict()).ok
    found = await trail.verdict()
    assert not found.ok and found.reason and "rewritten" in found.reason
    broken = teamwell_cli(trail.env, "verify-audit")
    assert broken.returncode == 1 and "events were rewritten" in broken.stdout


async def test_a_checkpoint_line_not_signed_with_the_key_is_refused(trail: Trail) -> None:
    await write_events(trail.engine, 3)
    await trail.checkpointer().checkpoint()
    path = trail.settings.audit_checkpoint_file
    genuine = path.read_text()
    # An edited line (it would hide two removed events) and one signed with another key.
    edited = json.loads(genuine)
    edited["count"] = 1
    edited["head_id"] = 1
    other_key = checkpoints.signing_key("a-different-key-that-is-long-enough-to-be-accepted")
    made_up = checkpoints.encode(
        audit_service.Checkpoint(count=1, head_id=1, head_hash="0" * 64, at=trail.clock.now()),
        other_key,
    )
    for forged in (json.dumps(edited), made_up):
        path.write_text(genuine + forged + "\n")
        found = await trail.verdict()
        assert not found.ok and found.reason
        assert "not signed with the checkpoint key" in found.reason and "line 2" in found.reason
        broken = teamwell_cli(trail.env, "verify-audit")
        assert broken.returncode == 1 and "forged or damaged" in broken.stdout
        # The operator at the command line is told which file.
        assert f"{path} line 2" in broken.stdout
    # A line still being appended (no newline yet) is not read; it is not a refusal either.
    path.write_text(genuine + genuine[:40])
    assert (await trail.verdict()).ok


async def test_the_checkpointer_writes_at_start_while_events_come_and_at_stop(
    trail: Trail,
) -> None:
    await write_events(trail.engine, 2)
    writer = trail.checkpointer(interval=0.01)
    written: asyncio.Queue[audit_service.Checkpoint] = asyncio.Queue()
    writer.on_written(written.put_nowait)
    await writer.start()
    try:
        assert written.get_nowait().count == 2  # before start() returned
        await write_events(trail.engine, 3)
        assert (await asyncio.wait_for(written.get(), timeout=30)).count == 5
        await write_events(trail.engine, 1)
    finally:
        await writer.stop()
    counts = [json.loads(line)["count"] for line in trail.settings.audit_checkpoint_file.open()]
    assert counts[-1] == 6 and counts == sorted(set(counts))
    assert oct(trail.settings.audit_checkpoint_file.stat().st_mode & 0o777) == "0o600"


def test_the_verify_api_names_a_forged_checkpoint_line_but_no_server_path(
    live_sqlite: Live,
) -> None:
    """The command line names the checkpoint file (an operator runs it on the host); the API's
    answer leaves the server, so it says "checkpoint line <n>" and names none of its paths."""
    supervisor = live_sqlite.as_role("supervisor")
    assert supervisor.get("/api/v1/audit-events/verify").json()["ok"] is True
    path = live_sqlite.data_dir / "audit-checkpoints"
    made_up = checkpoints.encode(
        audit_service.Checkpoint(count=1, head_id=1, head_hash="0" * 64, at=FrozenClock().now()),
        checkpoints.signing_key("a-different-key-that-is-long-enough-to-be-accepted"),
    )
    with path.open("a") as file:
        file.write(made_up + "\n")
    try:
        number = path.read_text().split("\n").index(made_up) + 1
        verdict = supervisor.get("/api/v1/audit-events/verify").json()
        assert verdict["ok"] is False
        assert verdict["reason"].endswith(f"(forged or damaged): checkpoint line {number}")
        assert str(live_sqlite.data_dir) not in verdict["reason"]
        assert path.name not in verdict["reason"]
    finally:
        path.write_text(
            "".join(
                line
                for line in path.read_text().splitlines(keepends=True)
                if line != made_up + "\n"
            )
        )
    assert supervisor.get("/api/v1/audit-events/verify").json()["ok"] is True
