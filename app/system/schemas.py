"""What the System page shows (GET /api/v1/admin/system). Ids, counts, times and ages only:
never a secret, a key, a person or a client."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from app.backup.service import Encryption


class Health(StrEnum):
    ok = "ok"
    warning = "warning"  # works, but needs someone's attention (pending migrations, an old key)
    down = "down"  # does not answer, or is broken
    not_used = "not_used"  # this deployment does not use it (Redis on one process, no TURN)


class VersionInfo(BaseModel):
    version: str
    build_id: str | None


class MigrationInfo(BaseModel):
    status: Health
    current: str | None
    head: str | None
    pending: list[str]
    ahead: bool


class DatabaseInfo(BaseModel):
    status: Health
    engine: Literal["sqlite", "postgresql"]
    round_trip_ms: float | None


class RedisInfo(BaseModel):
    status: Health
    round_trip_ms: float | None


class JobQueueInfo(BaseModel):
    status: Health
    due: int
    running: int
    failed: int
    oldest_due_seconds: int | None


class AuditChainInfo(BaseModel):
    status: Health
    last_verified_at: datetime | None
    last_verified_intact: bool | None
    last_checkpoint_at: datetime | None
    last_checkpoint_events: int | None


class BackupInfo(BaseModel):
    status: Health
    last_backup_at: datetime | None
    encryption: Encryption | None
    warn_after_hours: int


class KeyAge(BaseModel):
    name: Literal["message_keys", "turn_secret"]
    status: Health
    source: Literal["file", "environment", "none"]
    key_id: str | None
    age_days: int | None
    warn_after_days: int


class SystemReport(BaseModel):
    checked_at: datetime
    status: Health
    version: VersionInfo
    migrations: MigrationInfo
    database: DatabaseInfo
    redis: RedisInfo
    jobs: JobQueueInfo
    audit_chain: AuditChainInfo
    backups: BackupInfo
    keys: list[KeyAge]
