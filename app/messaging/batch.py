"""Storing a group commit's messages (realtime/message_writer.py) on the database driver itself.

This is the hottest write in Teamwell: every chat message passes through it. Profiles of the
fan-out benchmark showed about two thirds of a busy server's time spent storing batches, nearly
all of it in SQLAlchemy's statement execution and in trips to SQLite's thread, not in the
database. So this path speaks to the driver directly, with statements written once per dialect:

- on SQLite the whole batch, from ``BEGIN IMMEDIATE`` to ``COMMIT``, runs in one trip to the
  connection's thread (still queued for the write lock in the event loop first, as every writer
  here is: app/db.py);
- on PostgreSQL each statement is one asyncpg round trip in one transaction.

The rules are written once (``_store``) and are those of ``messaging.send_once``: the sender
re-read and active, membership read (team and direct conversations; it is also who is told), a
resend answered with the stored message, the next gap-free sequence numbers taken from the
conversation's counter, the body sealed with the conversation and sequence number as associated
data, the sender's read marker moved forward. Messages to a client's case thread are not stored
here: their membership follows the shared care-team and consent policies and each is audited,
so the writer stores them through ``send_once`` (``Batch.needs_full_path``).

A batch that fails while writing (a resend racing in from another process hits the unique
client message id, say) is rolled back whole; the writer then stores its messages one at a time.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.dbtypes import new_id
from app.messaging.keyring import MessageKeyring, message_aad
from app.messaging.models import ConversationKind, Message
from app.messaging.service import (
    ConversationNotFound,
    NotAMember,
    Outgoing,
    SenderInactive,
    Stored,
)

# (conversation, sender, client message id): what makes a resend the same message.
Key = tuple[uuid.UUID, uuid.UUID, str]
T = TypeVar("T")


class NeedsFullPath(Exception):
    """A case thread's message: stored through ``send_once`` with the policies and the audit."""


Outcome = Stored | Exception


class _Driver(Protocol):
    """The few things ``_store`` asks of a database connection inside a transaction."""

    name: str

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]: ...

    async def many(self, sql: str, params: list[Sequence[Any]]) -> None: ...

    def array(self, values: Sequence[uuid.UUID] | Sequence[str]) -> Any:
        """A list of ids or texts as one parameter (what ``in_ids`` compares with)."""

    def uuid_in(self, value: uuid.UUID) -> Any: ...

    def uuid_out(self, value: Any) -> uuid.UUID: ...

    def time_in(self, value: Any) -> Any: ...

    def time_out(self, value: Any) -> Any: ...


# --- the statements, once per dialect ------------------------------------------------------------
# Built at import from constant fragments (so S608, text-built SQL, is waived for this file in
# pyproject.toml); values are always parameters, never in the text.

_MESSAGE_COLUMNS = (
    "id, conversation_id, seq, sender_id, client_msg_id, key_id, body_ciphertext,"
    " created_at, edited_at, deleted_at"
)


def _statements(p: Callable[[int], str], in_ids: Callable[[int], str]) -> dict[str, str]:
    """The batch's statements with ``p(n)`` as the n-th placeholder and ``in_ids(n)`` as
    ``IN (<the list of ids in parameter n>)``."""
    return {
        "senders": f'SELECT id, is_active, display_name FROM "user" WHERE id {in_ids(1)}',
        "conversations": f"SELECT id, kind, team_id FROM conversation WHERE id {in_ids(1)}",
        "team_members": f"SELECT team_id, user_id FROM team_membership WHERE team_id {in_ids(1)}",
        "participants": (
            "SELECT conversation_id, user_id FROM conversation_participant"
            f" WHERE conversation_id {in_ids(1)}"
        ),
        "resends": (
            f"SELECT {_MESSAGE_COLUMNS} FROM message WHERE conversation_id {in_ids(1)}"
            f" AND sender_id {in_ids(2)} AND client_msg_id {in_ids(3)}"
        ),
        # Lock the counters in one order everywhere, so two processes' batches queue on each
        # other rather than deadlock (only on PostgreSQL: SQLite's write lock serialises).
        "lock": f"SELECT id FROM conversation WHERE id {in_ids(1)} ORDER BY id FOR UPDATE",
        "take_seqs": (
            f"UPDATE conversation SET last_seq = last_seq + {p(1)}, last_activity_at = {p(2)}"
            f" WHERE id = {p(3)} RETURNING last_seq"
        ),
        "insert": (
            f"INSERT INTO message ({_MESSAGE_COLUMNS}) VALUES"
            f" ({', '.join(p(n) for n in range(1, 11))})"
        ),
        "marker": (
            "INSERT INTO read_marker (id, conversation_id, user_id, last_read_seq, updated_at)"
            f" VALUES ({p(1)}, {p(2)}, {p(3)}, {p(4)}, {p(5)})"
            " ON CONFLICT (conversation_id, user_id) DO UPDATE SET"
            " last_read_seq = excluded.last_read_seq, updated_at = excluded.updated_at"
            # Only ever forward.
            " WHERE read_marker.last_read_seq < excluded.last_read_seq"
        ),
    }


# SQLite takes a list as a JSON array (one statement text whatever the length, so its statement
# cache keeps working); PostgreSQL as an array.
_SQLITE = _statements(lambda n: "?", lambda n: "IN (SELECT value FROM json_each(?))")
_SQLITE["lock"] = ""
_POSTGRES = _statements(lambda n: f"${n}", lambda n: f"= ANY(${n})")
_POSTGRES["resends"] = _POSTGRES["resends"].replace("= ANY($3)", "= ANY($3::text[])")


# --- the rules ---------------------------------------------------------------------------------


async def _store(
    db: _Driver, keyring: MessageKeyring, items: Sequence[Outgoing], now: Any
) -> list[Outcome]:
    """Store what may be stored of ``items``; an outcome for each. Raises only on a failure to
    write (the caller rolls the transaction back)."""
    sql = _SQLITE if db.name == "sqlite" else _POSTGRES
    results: list[Outcome | None] = [None] * len(items)
    senders = {
        db.uuid_out(id_): (bool(active), name)
        for id_, active, name in await db.rows(
            sql["senders"], [db.array(list({i.sender_id for i in items}))]
        )
    }
    conversations = {
        db.uuid_out(id_): (kind, None if team is None else db.uuid_out(team))
        for id_, kind, team in await db.rows(
            sql["conversations"], [db.array(list({i.conversation_id for i in items}))]
        )
    }
    teams: dict[uuid.UUID, set[uuid.UUID]] = {
        team: set()
        for kind, team in conversations.values()
        if kind == ConversationKind.team and team is not None
    }
    if teams:
        for team, user in await db.rows(sql["team_members"], [db.array(list(teams))]):
            teams[db.uuid_out(team)].add(db.uuid_out(user))
    directs: dict[uuid.UUID, set[uuid.UUID]] = {
        cid: set() for cid, (kind, _) in conversations.items() if kind == ConversationKind.direct
    }
    if directs:
        for cid, user in await db.rows(sql["participants"], [db.array(list(directs))]):
            directs[db.uuid_out(cid)].add(db.uuid_out(user))

    accepted: list[tuple[int, str, frozenset[uuid.UUID]]] = []  # (index, sender's name, members)
    for index, item in enumerate(items):
        sender = senders.get(item.sender_id)
        found = conversations.get(item.conversation_id)
        if sender is None or not sender[0]:
            results[index] = SenderInactive()
        elif found is None:
            results[index] = ConversationNotFound()
        elif found[0] == ConversationKind.case:
            results[index] = NeedsFullPath()
        else:
            kind, team = found
            members = frozenset(
                teams[team]
                if kind == ConversationKind.team and team
                else directs[item.conversation_id]
            )
            if item.sender_id in members:
                accepted.append((index, sender[1], members))
            else:
                results[index] = NotAMember()

    # Resends: stored before, or earlier in this very batch.
    keys: set[Key] = {
        (items[i].conversation_id, items[i].sender_id, items[i].client_msg_id)
        for i, _, _ in accepted
    }
    stored_before: dict[Key, Message] = {}
    if keys:
        for row in await db.rows(
            sql["resends"],
            [
                db.array(list({k[0] for k in keys})),
                db.array(list({k[1] for k in keys})),
                db.array(list({k[2] for k in keys})),
            ],
        ):
            earlier = _message_from_row(db, row)
            key = (earlier.conversation_id, earlier.sender_id, earlier.client_msg_id)
            if key in keys:
                stored_before[key] = earlier
    fresh: list[tuple[int, str, frozenset[uuid.UUID]]] = []
    first_in_batch: dict[Key, int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the first with the same key)
    for entry in accepted:
        index, name, members = entry
        item = items[index]
        key = (item.conversation_id, item.sender_id, item.client_msg_id)
        if key in stored_before:
            earlier = stored_before[key]
            body = keyring.decrypt(
                earlier.key_id,
                earlier.body_ciphertext,
                aad=message_aad(earlier.conversation_id, earlier.seq),
            )
            results[index] = Stored(earlier, False, name, members, body)
        elif key in first_in_batch:
            repeats.append((index, first_in_batch[key]))
        else:
            first_in_batch[key] = index
            fresh.append(entry)

    if fresh:
        wanted: dict[uuid.UUID, int] = {}
        for index, _, _ in fresh:
            cid = items[index].conversation_id
            wanted[cid] = wanted.get(cid, 0) + 1
        # In one order everywhere (see "lock").
        order = sorted(wanted, key=str)
        if sql["lock"] and len(order) > 1:
            await db.rows(sql["lock"], [db.array(order)])
        next_seq: dict[uuid.UUID, int] = {}
        for cid in order:
            ((last,),) = await db.rows(
                sql["take_seqs"], [wanted[cid], db.time_in(now), db.uuid_in(cid)]
            )
            next_seq[cid] = int(last) - wanted[cid] + 1
        inserts: list[Sequence[Any]] = []
        markers: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
        for index, name, members in fresh:
            item = items[index]
            seq = next_seq[item.conversation_id]
            next_seq[item.conversation_id] = seq + 1
            key_id, blob = keyring.encrypt(item.body, aad=message_aad(item.conversation_id, seq))
            message = Message.model_construct(
                id=new_id(),
                conversation_id=item.conversation_id,
                seq=seq,
                sender_id=item.sender_id,
                client_msg_id=item.client_msg_id,
                key_id=key_id,
                body_ciphertext=blob,
                created_at=now,
                edited_at=None,
                deleted_at=None,
            )
            inserts.append(
                (
                    db.uuid_in(message.id),
                    db.uuid_in(item.conversation_id),
                    seq,
                    db.uuid_in(item.sender_id),
                    item.client_msg_id,
                    key_id,
                    blob,
                    db.time_in(now),
                    None,
                    None,
                )
            )
            markers[(item.conversation_id, item.sender_id)] = seq
            results[index] = Stored(message, True, name, members, item.body)
        await db.many(sql["insert"], inserts)
        await db.many(
            sql["marker"],
            [
                (db.uuid_in(new_id()), db.uuid_in(cid), db.uuid_in(uid), seq, db.time_in(now))
                # In one order everywhere, like the counters.
                for (cid, uid), seq in sorted(
                    markers.items(), key=lambda m: (str(m[0][0]), str(m[0][1]))
                )
            ],
        )
    for index, first in repeats:
        stored = results[first]
        assert isinstance(stored, Stored)
        results[index] = Stored(
            stored.message, False, stored.sender_name, stored.members, stored.body
        )
    return [r if r is not None else RuntimeError("not handled") for r in results]


def _message_from_row(db: _Driver, row: Sequence[Any]) -> Message:
    id_, cid, seq, sender, client_msg_id, key_id, blob, created, edited, deleted = row
    return Message.model_construct(
        id=db.uuid_out(id_),
        conversation_id=db.uuid_out(cid),
        seq=int(seq),
        sender_id=db.uuid_out(sender),
        client_msg_id=client_msg_id,
        key_id=key_id,
        body_ciphertext=bytes(blob),
        created_at=db.time_out(created),
        edited_at=db.time_out(edited),
        deleted_at=db.time_out(deleted),
    )


# --- the drivers ---------------------------------------------------------------------------------

_MESSAGES = Message.__table__  # type: ignore[attr-defined]


class _Codec:
    """Ids and timestamps encoded exactly as SQLAlchemy stores them in this dialect (its own
    processors for the columns' types), so rows written here read back through the models."""

    def __init__(self, dialect: Dialect) -> None:
        def processors(column: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
            kind = _MESSAGES.c[column].type.dialect_impl(dialect)
            bind = kind.bind_processor(dialect)
            result = kind.result_processor(dialect, None)
            return (bind or _same), (result or _same)

        self._uuid_in, self._uuid_out = processors("id")
        self.time_in, self._time_out = processors("created_at")

    def uuid_in(self, value: uuid.UUID) -> Any:
        return self._uuid_in(value)

    def uuid_out(self, value: Any) -> uuid.UUID:
        found = self._uuid_out(value)
        # asyncpg answers with a subclass of its own; keep ids plain everywhere.
        return found if type(found) is uuid.UUID else uuid.UUID(bytes=found.bytes)

    def time_out(self, value: Any) -> Any:
        return None if value is None else self._time_out(value)


def _same(value: Any) -> Any:
    return value


class _Sqlite(_Codec):
    """Runs on the connection's own thread: nothing here awaits anything (see ``_to_the_end``)."""

    name = "sqlite"

    def __init__(self, connection: sqlite3.Connection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.connection = connection

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return self.connection.execute(sql, params).fetchall()

    async def many(self, sql: str, params: list[Sequence[Any]]) -> None:
        self.connection.executemany(sql, params)

    def array(self, values: Sequence[uuid.UUID] | Sequence[str]) -> Any:
        return orjson.dumps([v.hex if isinstance(v, uuid.UUID) else v for v in values]).decode()


class _Postgres(_Codec):
    name = "postgresql"

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.connection = connection  # asyncpg's

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await self.connection.fetch(sql, *params))

    async def many(self, sql: str, params: list[Sequence[Any]]) -> None:
        await self.connection.executemany(sql, params)

    def array(self, values: Sequence[uuid.UUID] | Sequence[str]) -> Any:
        return list(values)


def _to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (``_store`` on ``_Sqlite``) to its end, here and now.

    ``_store`` is written once as a coroutine because on PostgreSQL each statement is awaited;
    on SQLite the same rules run inside the connection's thread, where there is no event loop
    and every statement returns at once."""
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("storing a batch on SQLite waited for something")


async def store_batch(
    engine: AsyncEngine, keyring: MessageKeyring, items: Sequence[Outgoing]
) -> list[Outcome]:
    """Store ``items`` in one transaction; an outcome for each (``Stored``, or what refused it,
    or ``NeedsFullPath``). Raises if the transaction failed: then nothing was stored."""
    now = items[0].ctx.now()
    dialect = engine.dialect
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        if dialect.name == "sqlite":

            def work(sqlite: sqlite3.Connection) -> list[Outcome]:
                return _to_the_end(_store(_Sqlite(sqlite, dialect), keyring, items, now))

            return await raw.write_in_one_trip(work)  # type: ignore[union-attr]
        async with raw.transaction():  # type: ignore[union-attr]
            return await _store(_Postgres(raw, dialect), keyring, items, now)
