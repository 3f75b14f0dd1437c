"""The notification tests' databases: the demo data made once per module, and a copy of it for
each test to change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.context import Actor
from tests.support.demo import demo_database, demo_engine

# The time the demo data is made at (test_notifications.NOON): a Monday at noon in London.
MADE_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MADE_BY = Actor(user_id=None, role=None, organisation_id=None, user_agent="notifications-test")


@pytest.fixture(scope="module")
async def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await demo_database(tmp_path_factory, "notifications", MADE_BY, MADE_AT)


@pytest.fixture
async def engine(demo_file: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with demo_engine(demo_file, tmp_path) as running:
        yield running
