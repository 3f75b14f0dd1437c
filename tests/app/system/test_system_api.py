"""The admins' System page over HTTP on a real server: what it shows, that it shows no secret,
that every other role is refused (403 problem, refusal audited) and the read is audited; Redis
shown down when a real Redis stops; pending migrations when the database is one behind; the
audit chain's last verification; a key older than the warning setting, at its edge."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.jobs.models import JobStatus
from app.migrate import head_revision
from tests.conftest import (
    PARTNER_ADMIN_EMAIL,
    REPO_ROOT,
    Live,
    live_server,
    problem,
    teamwell_cli,
)
from tests.support.jobs import plant_job
from tests.support.redis import RedisServer, redis_available

SYSTEM = "/api/v1/admin/system"
OTHER_ROLES = ["peer_keyworker", "therapist", "employment_specialist", "supervisor", "client"]
DAY = 86400


def system(live: Live) -> dict[str, Any]:
    reply = live.as_role("admin").get(SYSTEM)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def audit_events(live: Live, action: str, *, partner: bool = False) -> list[dict[str, Any]]:
    """Events of the action in the trust's trail (or, ``partner``, the employment provider's)."""
    admin = live.as_email(PARTNER_ADMIN_EMAIL) if partner else live.as_role("admin")
    reply = admin.get("/api/v1/audit-events", params={"action": action, "limit": 200})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_an_admin_sees_the_state_of_the_service_and_no_secret(live: Live) -> None:
    before = len(audit_events(live, "system.read"))
    body = system(live)
    assert set(body) == {
        "checked_at", "status", "version", "migrations", "database", "redis", "jobs",
        "audit_chain", "backups", "keys",
    }  # fmt: skip
    assert body["version"]["version"] == "0.1.0"
    assert body["migrations"] == {
        "status": "ok", "current": head_revision(), "head": head_revision(), "pending": [],
        "ahead": False,
    }  # fmt: skip
    assert body["database"]["status"] == "ok"
    assert body["database"]["engine"] == ("sqlite" if live.backend == "sqlite" else "postgresql")
    assert body["database"]["round_trip_ms"] >= 0
    assert body["redis"] == {"status": "not_used", "round_trip_ms": None}
    assert set(body["jobs"]) == {"status", "due", "running", "failed", "oldest_due_seconds"}
    message, turn = body["keys"]
    assert message["name"] == "message_keys" and message["source"] == "file"
    # The current key (another test of the session may have rotated the shared server's).
    current = json.loads((live.data_dir / "message-keys.json").read_text())["current"]
    assert message["key_id"] == current and message["status"] == "ok"
    assert message["age_days"] == 0
    assert turn["name"] == "turn_secret" and turn["status"] == "not_used"
    # Ages and ids only: no secret the service holds appears anywhere in the answer.
    text = json.dumps(body)
    secrets = json.loads((live.data_dir / "secrets.json").read_text())
    keys = json.loads((live.data_dir / "message-keys.json").read_text())["keys"]
    for value in [*secrets.values(), *keys.values()]:
        assert value not in text
    # The read is audited, as the admin's.
    reads = audit_events(live, "system.read")
    assert len(reads) == before + 1
    assert reads[0]["outcome"] == "success" and reads[0]["resource_type"] == "system"
    assert reads[0]["actor_id"] == live.as_role("admin").user["id"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_every_other_role_is_refused_and_the_refusal_audited(live: Live, role: str) -> None:
    who = live.as_role(role)
    body = problem(who.get(SYSTEM), 403)
    assert "admin" in body["detail"]
    refusals = [
        e
        # The employment specialist works for the employment provider: its admin's trail.
        for e in audit_events(live, "system.read", partner=role == "employment_specialist")
        if e["outcome"] == "denied" and e["actor_id"] == who.user["id"]
    ]
    assert refusals and refusals[0]["resource_id"] == SYSTEM


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of this module's own (SQLite), whose database and key files the tests change."""
    extra = {"TEAMWELL_KEY_ROTATION_WARN_DAYS": "10"}
    with live_server(tmp_path_factory, "live-system", extra_env=extra) as live:
        yield live


def test_the_audit_chain_shows_when_it_was_last_verified(own: Live) -> None:
    chain = system(own)["audit_chain"]
    if chain["last_verified_at"] is None:
        assert chain["status"] == "warning" and chain["last_verified_intact"] is None
        assert system(own)["status"] in ("warning", "down")
    verified = own.as_role("admin").get("/api/v1/audit-events/verify")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    chain = system(own)["audit_chain"]
    assert chain["status"] == "ok" and chain["last_verified_intact"] is True
    assert chain["last_verified_at"] is not None
    assert audit_events(own, "audit.verify")[0]["detail"] == "intact"
    # Verified on the host (from cron, say): shown too, as the service's own event.
    done = teamwell_cli(own.env, "verify-audit")
    assert done.returncode == 0 and "intact" in done.stdout, done.stdout + done.stderr
    by_host = system(own)["audit_chain"]
    assert by_host["last_verified_at"] > chain["last_verified_at"], (by_host, chain)
    assert by_host["status"] == "ok" and by_host["last_verified_intact"] is True
    with sqlite3.connect(_sqlite_file(own)) as db:
        newest = db.execute(
            "SELECT actor_id, resource_type, detail FROM audit_event"
            " WHERE action = 'audit.verify' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert newest == (None, "audit_chain", "intact")


def test_a_verification_older_than_the_warning_setting_is_a_warning_at_its_edge(own: Live) -> None:
    """The System page's audit chain, judged a second before and a second after
    ``audit_verify_warn_days`` since the last verification (the service's clock injected)."""
    from app.config import Settings
    from app.db import create_engine, session_factory
    from app.system.schemas import Health
    from app.system.service import audit_chain

    verified = own.as_role("admin").get("/api/v1/audit-events/verify")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    at = datetime.fromisoformat(system(own)["audit_chain"]["last_verified_at"])
    settings = Settings(data_dir=own.data_dir, database_url=own.env["TEAMWELL_DATABASE_URL"])
    days = settings.audit_verify_warn_days
    assert days == 7  # the default, as the page shows it

    async def status_at(now: datetime) -> Health:
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as session:
                return (await audit_chain(session, settings, now)).status
        finally:
            await engine.dispose()

    assert asyncio.run(status_at(at + timedelta(days=days, seconds=-1))) == Health.ok
    assert asyncio.run(status_at(at + timedelta(days=days, seconds=1))) == Health.warning


def test_the_last_backup_is_shown_with_how_it_was_encrypted(own: Live, tmp_path: Path) -> None:
    def backup(*args: str, **env: str) -> None:
        done = teamwell_cli({**own.env, **env}, "backup", *args)
        assert done.returncode == 0, done.stdout + done.stderr

    before = system(own)["backups"]
    assert before["warn_after_hours"] == 26
    if before["last_backup_at"] is None:
        assert before["status"] == "warning" and before["encryption"] is None
    # An unencrypted archive holds the keys to the messages: recorded, and a warning.
    backup(str(tmp_path / "plain.tar"), "--unencrypted")
    plain = system(own)["backups"]
    assert (plain["status"], plain["encryption"]) == ("warning", "none")
    assert plain["last_backup_at"] is not None
    # Sealed with the passphrase: ok, and later than the one before.
    backup(str(tmp_path / "sealed.tar"), TEAMWELL_BACKUP_PASSPHRASE="correct horse battery staple")
    sealed = system(own)["backups"]
    assert (sealed["status"], sealed["encryption"]) == ("ok", "passphrase")
    assert sealed["last_backup_at"] >= plain["last_backup_at"]
    # Each is in the trail as the service's own event (no person's, so in no organisation's
    # listing): its encryption, and no archive name or place.
    with sqlite3.connect(_sqlite_file(own)) as db:
        taken = db.execute(
            "SELECT actor_id, resource_type, detail FROM audit_event"
            " WHERE action = 'backup.taken' ORDER BY id DESC LIMIT 2"
        ).fetchall()
    assert taken == [(None, "backup", "passphrase"), (None, "backup", "none")]


def test_a_key_older_than_the_warning_setting_is_a_warning_at_its_edge(own: Live) -> None:
    path = own.data_dir / "message-keys.json"
    original = path.stat()
    try:
        edge = time.time() - 10 * DAY - 60  # ten days old: at the setting, not over it
        os.utime(path, (edge, edge))
        message = system(own)["keys"][0]
        assert (message["age_days"], message["status"]) == (10, "ok")
        assert message["warn_after_days"] == 10
        over = time.time() - 11 * DAY - 60
        os.utime(path, (over, over))
        message = system(own)["keys"][0]
        assert (message["age_days"], message["status"]) == (11, "warning")
    finally:
        os.utime(path, ns=(original.st_atime_ns, original.st_mtime_ns))


def _sqlite_file(live: Live) -> Path:
    return Path(live.env["TEAMWELL_DATABASE_URL"].removeprefix("sqlite:///"))


def plant(live: Live, **fields: Any) -> None:
    asyncio.run(plant_job(live.env["TEAMWELL_DATABASE_URL"], live.data_dir, **fields))


def test_a_due_job_waiting_past_the_overdue_setting_is_a_warning_at_its_edge(own: Live) -> None:
    """The server runs no jobs (tests/conftest.py): what is planted due stays due. What the
    demo data queued is first marked done, as a runner would have left it."""
    with sqlite3.connect(_sqlite_file(own)) as db:
        db.execute("UPDATE scheduled_job SET status = 'done' WHERE status = 'queued'")
    now = datetime.now(UTC)
    queued = {"status": JobStatus.queued, "attempts": 0, "last_error": None, "finished_at": None}
    plant(own, run_at=now - timedelta(minutes=29), **queued)
    jobs = system(own)["jobs"]
    assert jobs["failed"] == 0 and jobs["due"] >= 1
    assert 29 * 60 <= jobs["oldest_due_seconds"] < 30 * 60
    assert jobs["status"] == "ok"
    plant(own, run_at=now - timedelta(minutes=31), **queued)
    jobs = system(own)["jobs"]
    assert jobs["oldest_due_seconds"] >= 31 * 60 and jobs["status"] == "warning"
    plant(own)  # a failed job, out of attempts
    assert system(own)["jobs"]["failed"] == 1


def test_pending_migrations_are_shown_when_the_database_is_one_behind(own: Live) -> None:
    own.as_role("admin")  # signed in before the schema changes under the server
    downgrade = (
        "import sys; from alembic import command; from app.migrate import alembic_config; "
        "command.downgrade(alembic_config(sys.argv[1]), '-1')"
    )
    url = own.env["TEAMWELL_DATABASE_URL"]
    done = subprocess.run(
        [sys.executable, "-c", downgrade, url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(_sqlite_file(own)) as db:
        (behind,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    try:
        body = system(own)
        head = head_revision()
        assert body["migrations"]["pending"] == [head]
        assert body["migrations"]["current"] == behind != head
        assert body["migrations"]["status"] == "warning" and body["migrations"]["ahead"] is False
        assert body["status"] in ("warning", "down")
        # A revision this code does not know: a newer release has migrated the database.
        with sqlite3.connect(_sqlite_file(own)) as db:
            db.execute("UPDATE alembic_version SET version_num = 'from_a_newer_release'")
        migrations = system(own)["migrations"]
        assert migrations["ahead"] is True and migrations["pending"] == []
        assert migrations["status"] == "warning"
    finally:
        with sqlite3.connect(_sqlite_file(own)) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (behind,))
        upgrade = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env={**os.environ, **own.env}, cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stderr


def test_redis_is_shown_down_when_it_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not redis_available():
        if os.environ.get("TEAMWELL_TEST_REDIS") == "required":
            pytest.fail("Redis is required for this run but is not installed")
        pytest.skip("Redis is not installed")
    with RedisServer() as redis:
        extra = {"TEAMWELL_REDIS_URL": redis.url, "TEAMWELL_SYSTEM_PROBE_TIMEOUT_SECONDS": "1"}
        with live_server(tmp_path_factory, "live-system-redis", extra_env=extra) as live:
            up = system(live)["redis"]
            assert up["status"] == "ok" and up["round_trip_ms"] >= 0
            redis.stop()
            body = system(live)
            assert body["redis"] == {"status": "down", "round_trip_ms": None}
            assert body["status"] == "down"
