"""Column types shared by every table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The largest numbers the database's integer columns hold: PostgreSQL's integer (what an `int`
# field becomes) and bigint (offsets). A number from outside is bounded by these before it can
# reach SQL, where a larger one fails the statement instead of matching nothing.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def id_field() -> Any:
    return Field(default_factory=new_id, primary_key=True)


def timestamp_field(*, nullable: bool = False, index: bool = False, **kwargs: Any) -> Any:
    if nullable:
        kwargs.setdefault("default", None)
    return Field(sa_type=UtcDateTime(), nullable=nullable, index=index, **kwargs)


def enum_field(default: Any = ..., *, length: int = 32, index: bool = False) -> Any:
    """Enums are stored as short strings: adding a member needs no database migration."""
    return Field(default=default, sa_type=String(length), index=index)
