"""What a closing socket costs the database: only a socket that asked to join a meeting looks
for a seat to release. (That such a socket's seat waits for a rejoin and is then given up is
tests/realtime/test_realtime_limits.py, through the real gateway.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import SystemClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.migrate import upgrade_async
from app.users.models import Role
from realtime.connection import Connection
from realtime.hub import Hub
from realtime.meeting_handlers import on_disconnect
from realtime.pubsub import create_pubsub


@dataclass
class Statements:
    """Every statement the engine sends to the database, as its SQL."""

    sent: list[str]

    def since(self, mark: int) -> list[str]:
        return self.sent[mark:]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'seats.db'}"
    await upgrade_async(url)
    made = create_engine(Settings(data_dir=tmp_path, database_url=url))
    yield made
    await made.dispose()


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    counted = Statements(sent=[])

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        counted.sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    yield counted
    event.remove(engine.sync_engine, "before_cursor_execute", count)


def socket() -> Connection:
    user_id = uuid.uuid4()
    actor = Actor(user_id=user_id, role=Role.therapist, organisation_id=None)
    return Connection(
        user_id=user_id,
        role=Role.therapist,
        display_name="Tom",
        ctx=Context(actor=actor, clock=SystemClock()),
        token_expires_at=0,
        outbound_limit=8,
    )


async def test_a_socket_that_never_joined_a_meeting_closes_without_a_statement(
    engine: AsyncEngine, statements: Statements
) -> None:
    # What on_disconnect reads of the gateway's container: real settings, sessions and hub.
    rt: Any = SimpleNamespace(
        settings=Settings(),
        sessions=session_factory(engine),
        hub=Hub(create_pubsub(None)),
        background=set(),
    )
    plain = socket()
    mark = len(statements.sent)
    await on_disconnect(rt, plain)
    assert statements.since(mark) == []
    # The counter does see the seat work of a socket that asked to join a meeting: it looks
    # for the seats held under its id (none here, as when its join was refused).
    joined = socket()
    joined.joined_meeting = True
    mark = len(statements.sent)
    await on_disconnect(rt, joined)
    assert any("meeting_participant" in sql for sql in statements.since(mark))
