"""Reading the state of the service for the System page. Each part is read on its own and says
how it is (``Health``); nothing here changes anything, and nothing read here is a secret: keys
and secrets are known by their id, where they come from and their age only."""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import get_args

from redis.asyncio import Redis
from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import checkpoints
from app.audit import service as audit_service
from app.backup.service import BACKUP_TAKEN, Encryption
from app.clock import as_utc
from app.config import Settings
from app.jobs.models import JobStatus, ScheduledJob
from app.messaging.keyring import KEY_FILE_NAME, MessageKeyring
from app.migrate import migration_state
from app.system.schemas import (
    AuditChainInfo,
    BackupInfo,
    DatabaseInfo,
    Health,
    JobQueueInfo,
    KeyAge,
    MigrationInfo,
    RedisInfo,
    VersionInfo,
)
from app.users.models import User
from auth.policies import jobs as jobs_policies

SECRETS_FILE_NAME = "secrets.json"
# The order of badness, for the page's overall status.
_RANK = {Health.not_used: 0, Health.ok: 0, Health.warning: 1, Health.down: 2}


def worst(*parts: Health) -> Health:
    """The overall status: the worst of the parts (a part not used counts as ok)."""
    found = max(parts, key=lambda part: _RANK[part], default=Health.ok)
    return Health.ok if found is Health.not_used else found


def version_info(settings: Settings) -> VersionInfo:
    try:
        version = importlib.metadata.version("teamwell")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return VersionInfo(version=version, build_id=settings.build_id)


async def migrations(session: AsyncSession) -> MigrationInfo:
    connection = await session.connection()
    state = await connection.run_sync(migration_state)
    at_head = not state.ahead and not state.pending
    return MigrationInfo(
        status=Health.ok if at_head else Health.warning,
        current=state.current,
        head=state.head,
        pending=list(state.pending),
        ahead=state.ahead,
    )


def _elapsed_ms(started: float) -> float:
    # A measurement, not a time of day: the monotonic counter, not the injected clock.
    return round((time.perf_counter() - started) * 1000, 2)


async def database(session: AsyncSession, settings: Settings) -> DatabaseInfo:
    started = time.perf_counter()
    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return DatabaseInfo(
        status=Health.ok,
        engine="sqlite" if settings.is_sqlite else "postgresql",
        round_trip_ms=_elapsed_ms(started),
    )


async def redis(settings: Settings) -> RedisInfo:
    """PING on a connection of its own, given ``system_probe_timeout_seconds``: the page must
    answer when Redis does not."""
    if not settings.redis_url:
        return RedisInfo(status=Health.not_used, round_trip_ms=None)
    timeout = settings.system_probe_timeout_seconds
    client = Redis.from_url(
        settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        started = time.perf_counter()
        await asyncio.wait_for(client.ping(), timeout)
        return RedisInfo(status=Health.ok, round_trip_ms=_elapsed_ms(started))
    except Exception:  # refused, timed out, refused our password: for the page, all "down"
        return RedisInfo(status=Health.down, round_trip_ms=None)
    finally:
        await client.aclose()


async def job_queue(
    session: AsyncSession, *, viewer: User, settings: Settings, now: datetime
) -> JobQueueInfo:
    """The jobs the admin sees on the Jobs page (their organisation's and the service's)."""
    visible = jobs_policies.visible_to(viewer)
    counts = dict(
        (
            await session.exec(
                select(ScheduledJob.status, func.count())
                .where(visible)
                .group_by(col(ScheduledJob.status))
            )
        ).all()
    )
    due_row = (
        await session.exec(
            select(func.count(), func.min(ScheduledJob.run_at)).where(
                visible,
                ScheduledJob.status == JobStatus.queued,
                col(ScheduledJob.run_at) <= now,
            )
        )
    ).one()
    due, oldest = int(due_row[0]), due_row[1]
    oldest_seconds = None if oldest is None else max(0, int((now - as_utc(oldest)).total_seconds()))
    failed = int(counts.get(JobStatus.failed, 0))
    overdue = timedelta(minutes=settings.system_job_overdue_minutes).total_seconds()
    late = oldest_seconds is not None and oldest_seconds > overdue
    return JobQueueInfo(
        status=Health.warning if failed or late else Health.ok,
        due=due,
        running=int(counts.get(JobStatus.running, 0)),
        failed=failed,
        oldest_due_seconds=oldest_seconds,
    )


async def audit_chain(session: AsyncSession, settings: Settings, now: datetime) -> AuditChainInfo:
    """When the chain was last verified (``GET /audit-events/verify`` records each run as
    ``audit.verify``) and its newest signed checkpoint. Never verified, or not for
    ``audit_verify_warn_days``, is a warning; a chain last found broken is down."""
    verified = await audit_service.latest_of(session, "audit.verify")
    key = checkpoints.settings_key(settings).public_key()
    loaded = await asyncio.to_thread(checkpoints.load, [settings.audit_checkpoint_file], key)
    newest = max(loaded.checkpoints, key=lambda c: c.at, default=None)
    if verified is None:
        status = Health.warning
    elif verified.detail != "intact":
        status = Health.down
    elif now - as_utc(verified.occurred_at) > timedelta(days=settings.audit_verify_warn_days):
        status = Health.warning
    else:
        status = Health.ok
    return AuditChainInfo(
        status=status,
        last_verified_at=None if verified is None else as_utc(verified.occurred_at),
        last_verified_intact=None if verified is None else verified.detail == "intact",
        last_checkpoint_at=None if newest is None else as_utc(newest.at),
        last_checkpoint_events=None if newest is None else newest.count,
    )


ENCRYPTIONS: dict[str | None, Encryption] = {e: e for e in get_args(Encryption)}


async def backups(session: AsyncSession, settings: Settings, now: datetime) -> BackupInfo:
    """The last backup `teamwell backup` recorded. None, or none for `backup_warn_hours`, is a
    warning, as is an unencrypted one (the archive holds the keys to the messages)."""
    taken = await audit_service.latest_of(session, BACKUP_TAKEN)
    encryption = None if taken is None else ENCRYPTIONS.get(taken.detail)
    late = taken is not None and now - as_utc(taken.occurred_at) > timedelta(
        hours=settings.backup_warn_hours
    )
    status = Health.warning if taken is None or encryption == "none" or late else Health.ok
    return BackupInfo(
        status=status,
        last_backup_at=None if taken is None else as_utc(taken.occurred_at),
        encryption=encryption,
        warn_after_hours=settings.backup_warn_hours,
    )


def _age_days(path: Path, now: datetime) -> int | None:
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0, int((now.timestamp() - modified) // 86400))


def _file_key(
    name: str, path: Path, key_id: str | None, settings: Settings, now: datetime
) -> KeyAge:
    age = _age_days(path, now)
    warn = settings.key_rotation_warn_days
    status = Health.warning if age is not None and age > warn else Health.ok
    return KeyAge.model_validate(
        {
            "name": name,
            "status": status,
            "source": "file",
            "key_id": key_id,
            "age_days": age,
            "warn_after_days": warn,
        }
    )


def _unaged_key(
    name: str, status: Health, source: str, key_id: str | None, settings: Settings
) -> KeyAge:
    return KeyAge.model_validate(
        {
            "name": name,
            "status": status,
            "source": source,
            "key_id": key_id,
            "age_days": None,
            "warn_after_days": settings.key_rotation_warn_days,
        }
    )


def key_ages(settings: Settings, keyring: MessageKeyring, now: datetime) -> list[KeyAge]:
    """How old the message and document keys (one keyring) and the TURN secret are.

    A key file is rewritten whenever a key is added (``teamwell rotate-message-key``), so its
    modification time is when the current key was made. The TURN secret is generated into the
    secrets file once: that file's modification time is when it was last written, so the
    secret is at least that old. Given in the environment, neither's age can be known here."""
    current = keyring.current_key_id
    if settings.message_keys is not None:
        message = _unaged_key("message_keys", Health.ok, "environment", current, settings)
    else:
        path = settings.data_dir / KEY_FILE_NAME
        message = _file_key("message_keys", path, current, settings, now)
    if not settings.turn_urls:
        turn = _unaged_key("turn_secret", Health.not_used, "none", None, settings)
    elif settings.turn_secret is not None:
        turn = _unaged_key("turn_secret", Health.ok, "environment", None, settings)
    else:
        turn = _file_key("turn_secret", settings.data_dir / SECRETS_FILE_NAME, None, settings, now)
    return [message, turn]
