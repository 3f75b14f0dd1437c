"""Database engine and the one-session-per-request boundary.

A request gets one session; it is committed once when the route returns and rolled back when it
raises, so a client-record read and its audit event are stored together or not at all. What the
request announced (``app.events.announce``) is published after that commit, and dropped with a
rollback.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

import aiosqlite
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events, tracing
from app.config import Settings
from app.errors import NotFound

# One naming convention so alembic's constraint names are stable on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
T = TypeVar("T")
metadata: MetaData = SQLModel.metadata


async def found(
    session: AsyncSession, model: type[T], row_id: object, *, missing: type[NotFound]
) -> T:
    """The row of ``model`` with this id, or the ``missing`` problem (404) when there is none."""
    row = await session.get(model, row_id)
    if row is None:
        raise missing()
    return row


def create_engine(settings: Settings, *, connections: int | None = None) -> AsyncEngine:
    """The database engine; ``connections`` caps its pool (for a single-minded user such as
    the audit writer), otherwise the pool serves the requests."""
    url = settings.effective_database_url
    pool: dict[str, Any] = (
        {"pool_size": connections, "max_overflow": 0} if connections is not None else {}
    )
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = make_url(url).database or ":memory:"

        async def connect() -> aiosqlite.Connection:
            return await _sqlite_connection(database)

        engine = create_async_engine(url, async_creator=connect, hide_parameters=True, **pool)
        _serialise_sqlite_writes(engine)
        tracing.trace_engine(engine)
        return engine
    # hide_parameters: a database error's text, logged with its traceback, leaves out the values
    # bound to the statement (a note, an answer, a token's hash).
    engine = create_async_engine(
        url,
        **(pool or {"pool_size": 10, "max_overflow": 20}),
        pool_pre_ping=True,
        hide_parameters=True,
    )
    tracing.trace_engine(engine)  # its statements are spans when traces are on
    return engine


# --- SQLite: one trip to the connection's thread per statement ------------------------------
#
# aiosqlite runs each SQLite connection in a thread of its own, and SQLAlchemy's adapter asks that
# thread four times per statement (make a cursor, execute, fetch, close). Every trip hands the
# interpreter lock back and forth between the threads, and on a busy process those trips cost
# more than the statements. The cursor below makes one trip: the thread executes the statement,
# fetches every row and closes its cursor in one go. The same thread runs the same calls in the
# same order, so the behaviour (locking, timeouts, errors) is SQLite's as before.


BEGIN_WRITING = "BEGIN IMMEDIATE"
# A reading session's transactions begin deferred: they take no write lock (see read_only).
BEGIN_READING = "BEGIN"
READ_ONLY = "teamwell_read_only"


class _OneTripCursor:
    """What SQLAlchemy's aiosqlite adapter uses of an aiosqlite cursor, with the rows fetched
    in the same trip as the statement."""

    def __init__(self, connection: _OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    def _done(self, cursor: sqlite3.Cursor) -> tuple[Any, int, int | None, list[Any]]:
        try:
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> _OneTripCursor:
        def run() -> tuple[Any, int, int | None, list[Any]]:
            return self._done(self._connection._conn.execute(sql, parameters))

        beginning = sql == BEGIN_WRITING
        if beginning:
            await self._connection.queue_for_writing()
        try:
            (
                self.description,
                self.rowcount,
                self.lastrowid,
                self._rows,
            ) = await self._connection._execute(run)
        except BaseException:
            if beginning:
                self._connection.done_writing()
            raise
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _OneTripCursor:
        def run() -> tuple[Any, int, int | None, list[Any]]:
            return self._done(self._connection._conn.executemany(sql, parameters))

        (
            self.description,
            self.rowcount,
            self.lastrowid,
            self._rows,
        ) = await self._connection._execute(run)
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size or self.arraysize
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


# --- SQLite: writers queue in the event loop ---------------------------------------------------
#
# Every transaction begins with SQLite's write lock (BEGIN IMMEDIATE, below). A transaction that
# finds it taken waits in SQLite's busy handler, which sleeps and polls with growing naps (up to a
# tenth of a second), so under load the lock sits idle while the next writer naps. This process's
# transactions therefore first queue for the lock in the event loop, and each is woken the moment
# the one before it commits or rolls back. Other processes (the command line, say) still meet
# SQLite's busy timeout as before; so does a transaction that queued for longer than it.
WRITE_QUEUE_SECONDS = 30.0
_write_locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def _write_lock(database: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    found = _write_locks.get(database)
    if found is None or found[0] is not loop:
        found = (loop, asyncio.Lock())
        _write_locks[database] = found
    return found[1]


class _OneTripConnection(aiosqlite.Connection):
    database = ""
    _holding: asyncio.Lock | None = None

    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)

    async def queue_for_writing(self) -> None:
        if self._holding is not None:
            return
        lock = _write_lock(self.database)
        try:
            async with asyncio.timeout(WRITE_QUEUE_SECONDS):
                await lock.acquire()
        except TimeoutError:
            return  # SQLite's busy timeout decides, as for any other process
        self._holding = lock

    def done_writing(self) -> None:
        lock, self._holding = self._holding, None
        if lock is not None:
            lock.release()

    async def write_in_one_trip(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A whole writing transaction in one trip to the connection's thread: ``work`` runs
        there between ``BEGIN IMMEDIATE`` and ``COMMIT`` (rolled back if it raises). For the
        hottest writes (app/messaging/batch.py), where each statement's trip cost more than the
        statement. It queues for the write lock like every other writer here."""

        def run() -> T:
            connection = self._conn
            connection.execute(BEGIN_WRITING)
            try:
                result = work(connection)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            return result

        await self.queue_for_writing()
        try:
            return await self._execute(run)
        finally:
            self.done_writing()

    async def commit(self) -> None:
        try:
            await super().commit()
        finally:
            self.done_writing()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            self.done_writing()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.done_writing()

    def stop(self) -> asyncio.Future[Any] | None:
        self.done_writing()
        return super().stop()


async def _sqlite_connection(database: str) -> aiosqlite.Connection:
    connection = _OneTripConnection(
        # As SQLAlchemy's own aiosqlite connect: the adapter reads a few attributes (such as the
        # isolation level) from the event loop's thread.
        lambda: sqlite3.connect(database, timeout=30, check_same_thread=False),
        iter_chunk_size=64,
    )
    connection.database = database
    # As SQLAlchemy does for aiosqlite: an unclosed connection must not keep the process alive.
    connection._thread.daemon = True
    return await connection


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    """Begin every SQLite transaction with the write lock.

    The audit chain reads the last event's hash and appends to it; with SQLite's default deferred
    transactions two writers could read the same tail. ``BEGIN IMMEDIATE`` makes them queue.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql(BEGIN_READING if reading else BEGIN_WRITING)


def read_only(session: AsyncSession) -> None:
    """Mark a session that will only read: on SQLite its transactions then begin deferred, so
    they neither take nor wait for the write lock (WAL lets them read beside a writer). It must
    be marked before its first statement, and must write nothing: a deferred transaction that
    read and then writes can fail when another writer committed in between."""
    sync = session.sync_session
    if sync.in_transaction():
        raise RuntimeError("mark a session read-only before its first statement")
    sync.execution_options = sync.execution_options.union({READ_ONLY: True})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
    # Told once stored: the events go out after the commit, with the connection handed back.
    await events.publish_committed(session, request.app.state.events)


# "function" scope: the commit runs before the response is sent, so a commit that fails (the
# database went away) is answered as a failure; by default FastAPI would run it after sending.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
