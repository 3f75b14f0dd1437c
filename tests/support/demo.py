"""The demo data in a database of a test's own: migrated and seeded once per module, then copied
for each test (a copy of a SQLite file costs far less than seeding it again).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.demo import seed_demo
from app.messaging.keyring import keyring_from_settings
from app.migrate import upgrade_async
from tests.conftest import DEMO_PASSWORD

__all__ = ["copy_demo", "demo_database", "demo_engine", "migrate_and_seed", "seed_demo_in"]


async def seed_demo_in(
    session: AsyncSession, settings: Settings, actor: Actor, now: datetime
) -> None:
    """Seed the demo data through ``session`` as of ``now``, and commit."""
    await seed_demo(
        session,
        Context(actor=actor, clock=FrozenClock(now)),
        DEMO_PASSWORD,
        keyring_from_settings(settings),
    )
    await session.commit()


async def migrate_and_seed(settings: Settings, actor: Actor, now: datetime) -> None:
    """Migrate the database of ``settings`` and seed the demo data in it."""
    await upgrade_async(settings.effective_database_url)
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            await seed_demo_in(session, settings, actor, now)
    finally:
        await engine.dispose()


async def demo_database(
    tmp_path_factory: pytest.TempPathFactory, name: str, actor: Actor, now: datetime
) -> Path:
    """A SQLite file with the demo data, in a temp folder named after ``name``."""
    path = tmp_path_factory.mktemp(name) / "demo.db"
    await migrate_and_seed(
        Settings(data_dir=path.parent, database_url=f"sqlite:///{path}"), actor, now
    )
    return path


def copy_demo(demo_file: Path, folder: Path) -> str:
    """A copy of ``demo_file`` in ``folder``, for one test to change; its database URL."""
    path = folder / "teamwell.db"
    shutil.copy(demo_file, path)
    return f"sqlite:///{path}"


@asynccontextmanager
async def demo_engine(demo_file: Path, folder: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a copy of ``demo_file`` in ``folder``, disposed of on leaving."""
    engine = create_engine(Settings(data_dir=folder, database_url=copy_demo(demo_file, folder)))
    try:
        yield engine
    finally:
        await engine.dispose()
