"""Storing a group commit's messages (app/messaging/writer.py) on the database driver itself.

This is the hottest write in Teamwell: every chat message passes through it. Profiles of the
fan-out benchmark showed about two thirds of a busy server's time spent storing batches, nearly
all of it in SQLAlchemy's statement execution and in trips to SQLite's thread, not in the
database. So this path speaks to the driver directly, with a few statements written per dialect:

- on SQLite the whole batch, from ``BEGIN IMMEDIATE`` to ``COMMIT``, runs in one trip to the
  connection's thread (still queued for the write lock in the event loop first, as every writer
  here is: app/db.py);
- on PostgreSQL (asyncpg) a batch is two round trips: what it needs to know (the conversations'
  counters among it) in one query, then one statement that moves the counters, if nobody moved
  them meanwhile, and writes the messages and read markers; if somebody did, the batch is stored
  again in a transaction with the counters locked (``_PostgresInOneGo``, ``_Postgres``).

The rules are those of ``messaging.store_one``, and where they are more than a statement they
are the same functions (app/messaging/service.py, "what is stored, by whichever path"): the
sender re-read and active, membership read (team and direct conversations, by the membership
policy's statement, ``auth.policies.messaging.MEMBERS_SQL``; it is also who is told) and checked
(``refusal``), a resend answered with the stored message (``opened``), the next gap-free
sequence numbers taken from the conversation's counter (``numbers_taken``), the body sealed with
the conversation and sequence number as associated data (``sealed``), the sender's read marker
moved forward. Messages to a client's case thread are not stored here (``stored_in_a_batch``):
their membership follows the shared care-team and consent policies and each is audited, so the
writer stores them through ``store_one`` (``NeedsFullPath``).
tests/app/messaging/test_message_paths.py holds the two paths to storing the same.

A batch that fails while writing (a resend racing in from another process hits the unique
client message id, say) is rolled back whole; the writer then stores its messages one at a time.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg
import orjson
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from app.dbtypes import new_id
from app.messaging import service as messaging
from app.messaging.keyring import MessageKeyring
from app.messaging.models import Message
from app.messaging.service import Outgoing, SenderInactive, Stored
from auth.policies import messaging as messaging_policies

# (conversation, sender, client message id): what makes a resend the same message.
Key = tuple[uuid.UUID, uuid.UUID, str]
T = TypeVar("T")


class NeedsFullPath(Exception):
    """A case thread's message: stored through ``store_one`` with the policies and the audit."""


Outcome = Stored | Exception


@dataclass
class Facts:
    """What the batch's rules need from the database, read in one query."""

    senders: dict[uuid.UUID, tuple[bool, str]] = field(default_factory=dict)  # active, name
    kinds: dict[uuid.UUID, str] = field(default_factory=dict)  # conversation -> kind
    last_seq: dict[uuid.UUID, int] = field(default_factory=dict)  # conversation -> its counter
    members: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)  # team and direct
    resent: set[Key] = field(default_factory=set)  # stored before (some may be other batches')


# One row per fact: (what, a, b, c), all text so that the branches line up on both databases.
# The members of team and direct conversations are the membership policy's own statement
# (``auth.policies.messaging.MEMBERS_SQL``, held to agree with its Python predicate): a proposed
# team member is told nothing and sends nothing.
_FACTS = (
    """
SELECT 's', CAST(id AS TEXT), CAST(is_active AS TEXT), display_name FROM "user" WHERE id {s}
UNION ALL
SELECT 'c', CAST(id AS TEXT), kind, CAST(last_seq AS TEXT) FROM conversation WHERE id {c}
UNION ALL
SELECT 'm', conversation_id, member_id, NULL FROM ("""
    + messaging_policies.MEMBERS_SQL
    + """) AS members
UNION ALL
SELECT 'r', CAST(conversation_id AS TEXT), CAST(sender_id AS TEXT), client_msg_id
  FROM {stored}
"""
)
_COLUMNS = (
    "id, conversation_id, seq, sender_id, client_msg_id, key_id, body_ciphertext,"
    " created_at, edited_at, deleted_at"
)
# Resends are looked up by their exact keys, not by every conversation, sender and client id of
# the batch: that product was 20 x 20 x 64 index probes for a full batch of the fan-out benchmark
# (a fifth of the writer thread's time) where 64 do.
# ``{stored}``: the stored messages of the batch's keys, as each dialect finds them.
_RESENDS = f"SELECT {_COLUMNS} FROM {{stored}}"
# Only ever forward.
_MARKER_CONFLICT = (
    " ON CONFLICT (conversation_id, user_id) DO UPDATE SET"
    " last_read_seq = excluded.last_read_seq, updated_at = excluded.updated_at"
    " WHERE read_marker.last_read_seq < excluded.last_read_seq"
)


class _Driver(Protocol):
    """What ``_store`` asks of a database connection inside a transaction."""

    async def facts(
        self, senders: list[uuid.UUID], conversations: list[uuid.UUID], keys: list[Key]
    ) -> Facts:
        """Who the senders are, the conversations' kinds and members, and which of ``keys``
        (conversation, sender, client id) are stored already."""

    async def resends(self, keys: set[Key]) -> list[Message]: ...

    async def take_seqs(self, wanted: dict[uuid.UUID, int], now: Any) -> dict[uuid.UUID, int]:
        """Move each conversation's counter on by its count; the last number given out."""

    async def write(
        self,
        messages: list[Message],
        markers: list[tuple[uuid.UUID, uuid.UUID, int]],
        now: Any,
    ) -> None:
        """Insert the messages; move each (conversation, person)'s read marker forward."""


# --- the rules ---------------------------------------------------------------------------------


# An item that may be stored: its index, the sender's name and the conversation's members.
Accepted = tuple[int, str, frozenset[uuid.UUID]]
Results = list[Outcome | None]


async def _store(
    db: _Driver, keyring: MessageKeyring, items: Sequence[Outgoing], now: Any
) -> list[Outcome]:
    """Store what may be stored of ``items``; an outcome for each. Raises only on a failure to
    write (the caller rolls the transaction back)."""
    results: Results = [None] * len(items)
    facts = await db.facts(
        list({i.sender_id for i in items}),
        list({i.conversation_id for i in items}),
        list({(i.conversation_id, i.sender_id, i.client_msg_id) for i in items}),
    )
    accepted = _admitted(facts, items, results)
    fresh, repeats = await _without_resends(db, keyring, facts, items, accepted, results)
    if fresh:
        await _write_fresh(db, keyring, items, fresh, now, results)
    for index, first in repeats:
        stored = results[first]
        assert isinstance(stored, Stored)
        results[index] = Stored(
            stored.message, False, stored.sender_name, stored.members, stored.body
        )
    return [r if r is not None else RuntimeError("not handled") for r in results]


def _admitted(facts: Facts, items: Sequence[Outgoing], results: Results) -> list[Accepted]:
    """The items whose sender may send to their conversation; the others' refusals go into
    ``results``."""
    accepted: list[Accepted] = []
    for index, item in enumerate(items):
        sender = facts.senders.get(item.sender_id)
        kind = facts.kinds.get(item.conversation_id)
        if sender is None or not sender[0]:
            results[index] = SenderInactive()
        elif kind is not None and not messaging.stored_in_a_batch(kind):
            results[index] = NeedsFullPath()
        else:
            members = frozenset(facts.members.get(item.conversation_id, ()))
            refused = messaging.refusal(kind=kind, sender_id=item.sender_id, members=members)
            if refused is None:
                accepted.append((index, sender[1], members))
            else:
                results[index] = refused
    return accepted


async def _without_resends(
    db: _Driver,
    keyring: MessageKeyring,
    facts: Facts,
    items: Sequence[Outgoing],
    accepted: list[Accepted],
    results: Results,
) -> tuple[list[Accepted], list[tuple[int, int]]]:
    """Resends: stored before (answered with what was stored, in ``results``), or earlier in
    this very batch (``repeats``: index, index of the first with the same key). What is left is
    fresh, to be written."""
    keys: set[Key] = {
        (items[i].conversation_id, items[i].sender_id, items[i].client_msg_id)
        for i, _, _ in accepted
    }
    stored_before: dict[Key, Message] = {}
    resent = keys & facts.resent
    if resent:
        for earlier in await db.resends(resent):
            stored_before[(earlier.conversation_id, earlier.sender_id, earlier.client_msg_id)] = (
                earlier
            )
    fresh: list[Accepted] = []
    first_in_batch: dict[Key, int] = {}
    repeats: list[tuple[int, int]] = []
    for entry in accepted:
        index, name, members = entry
        item = items[index]
        key = (item.conversation_id, item.sender_id, item.client_msg_id)
        if key in stored_before:
            earlier = stored_before[key]
            results[index] = Stored(
                earlier, False, name, members, messaging.opened(keyring, earlier)
            )
        elif key in first_in_batch:
            repeats.append((index, first_in_batch[key]))
        else:
            first_in_batch[key] = index
            fresh.append(entry)
    return fresh, repeats


async def _write_fresh(
    db: _Driver,
    keyring: MessageKeyring,
    items: Sequence[Outgoing],
    fresh: list[Accepted],
    now: Any,
    results: Results,
) -> None:
    """Number the fresh messages in their conversations, seal and write them with their
    senders' read markers; each one's outcome goes into ``results``."""
    wanted: dict[uuid.UUID, int] = {}
    for index, _, _ in fresh:
        cid = items[index].conversation_id
        wanted[cid] = wanted.get(cid, 0) + 1
    last = await db.take_seqs(wanted, now)
    numbers = {
        cid: iter(messaging.numbers_taken(last[cid], count)) for cid, count in wanted.items()
    }
    messages: list[Message] = []
    markers: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for index, name, members in fresh:
        item = items[index]
        seq = next(numbers[item.conversation_id])
        message = messaging.sealed(
            keyring,
            conversation_id=item.conversation_id,
            seq=seq,
            sender_id=item.sender_id,
            client_msg_id=item.client_msg_id,
            body=item.body,
            now=now,
        )
        messages.append(message)
        markers[(item.conversation_id, item.sender_id)] = seq
        results[index] = Stored(message, True, name, members, item.body)
    await db.write(
        messages,
        # In one order everywhere, like the counters (see _Postgres.take_seqs).
        sorted(
            ((c, u, seq) for (c, u), seq in markers.items()),
            key=lambda m: (str(m[0]), str(m[1])),
        ),
        now,
    )


# --- the drivers ---------------------------------------------------------------------------------
# The statements are built at import from constant fragments (so S608, text-built SQL, is waived
# for this file in pyproject.toml); values are always parameters, never in the text.

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

        self.uuid_in, self._uuid_out = processors("id")
        self.time_in, self._time_out = processors("created_at")

    def uuid_out(self, value: Any) -> uuid.UUID:
        found = self._uuid_out(value)
        # asyncpg answers with a subclass of its own; keep ids plain everywhere.
        return found if type(found) is uuid.UUID else uuid.UUID(bytes=found.bytes)

    def time_out(self, value: Any) -> Any:
        return None if value is None else self._time_out(value)

    def message(self, row: Sequence[Any]) -> Message:
        id_, cid, seq, sender, client_msg_id, key_id, blob, created, edited, deleted = row
        return Message.model_construct(
            id=self.uuid_out(id_),
            conversation_id=self.uuid_out(cid),
            seq=int(seq),
            sender_id=self.uuid_out(sender),
            client_msg_id=client_msg_id,
            key_id=key_id,
            body_ciphertext=bytes(blob),
            created_at=self.time_out(created),
            edited_at=self.time_out(edited),
            deleted_at=self.time_out(deleted),
        )


def _same(value: Any) -> Any:
    return value


def _facts_from(rows: Sequence[Sequence[Any]]) -> Facts:
    facts = Facts()
    for what, a, b, c in rows:
        if what == "s":
            # PostgreSQL spells a boolean as text "true", SQLite as "1".
            facts.senders[uuid.UUID(a)] = (b in ("true", "1"), c)
        elif what == "c":
            facts.kinds[uuid.UUID(a)] = b
            facts.last_seq[uuid.UUID(a)] = int(c)
        elif what == "m":
            facts.members.setdefault(uuid.UUID(a), set()).add(uuid.UUID(b))
        else:
            facts.resent.add((uuid.UUID(a), uuid.UUID(b), c))
    return facts


class _Sqlite(_Codec):
    """Runs on the connection's own thread: nothing here awaits anything (see ``_to_the_end``).
    A list is one parameter, a JSON array: one statement text whatever its length, so SQLite's
    statement cache keeps working."""

    IN = "IN (SELECT value FROM json_each(?{}))"
    # Keys as one array of [conversation, sender, client id] arrays.
    KEYS = (
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]') FROM json_each(?{})"
    )
    STORED = "message WHERE (conversation_id, sender_id, client_msg_id) IN ({})"
    FACTS = _FACTS.format(s=IN.format(1), c=IN.format(2), stored=STORED.format(KEYS.format(3)))
    RESENDS = _RESENDS.format(stored=STORED.format(KEYS.format(1)))
    TAKE = (
        "UPDATE conversation SET last_seq = last_seq + ?, last_activity_at = ?"
        " WHERE id = ? RETURNING last_seq"
    )
    INSERT = f"INSERT INTO message ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    MARKER = (
        "INSERT INTO read_marker (id, conversation_id, user_id, last_read_seq, updated_at)"
        " VALUES (?, ?, ?, ?, ?)" + _MARKER_CONFLICT
    )

    def __init__(self, connection: sqlite3.Connection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.db = connection

    def _array(self, values: Sequence[uuid.UUID] | Sequence[str]) -> str:
        return orjson.dumps([v.hex if isinstance(v, uuid.UUID) else v for v in values]).decode()

    def _keys(self, keys: Iterable[Key]) -> str:
        return orjson.dumps([[c.hex, s.hex, k] for c, s, k in keys]).decode()

    async def facts(
        self, senders: list[uuid.UUID], conversations: list[uuid.UUID], keys: list[Key]
    ) -> Facts:
        params = (self._array(senders), self._array(conversations), self._keys(keys))
        return _facts_from(self.db.execute(self.FACTS, params).fetchall())

    async def resends(self, keys: set[Key]) -> list[Message]:
        return [self.message(row) for row in self.db.execute(self.RESENDS, (self._keys(keys),))]

    async def take_seqs(self, wanted: dict[uuid.UUID, int], now: Any) -> dict[uuid.UUID, int]:
        at = self.time_in(now)
        return {
            cid: self.db.execute(self.TAKE, (count, at, self.uuid_in(cid))).fetchone()[0]
            for cid, count in wanted.items()
        }

    async def write(
        self, messages: list[Message], markers: list[tuple[uuid.UUID, uuid.UUID, int]], now: Any
    ) -> None:
        at = self.time_in(now)
        self.db.executemany(
            self.INSERT,
            [
                (
                    self.uuid_in(m.id),
                    self.uuid_in(m.conversation_id),
                    m.seq,
                    self.uuid_in(m.sender_id),
                    m.client_msg_id,
                    m.key_id,
                    m.body_ciphertext,
                    at,
                    None,
                    None,
                )
                for m in messages
            ],
        )
        self.db.executemany(
            self.MARKER,
            [
                (self.uuid_in(new_id()), self.uuid_in(c), self.uuid_in(u), seq, at)
                for c, u, seq in markers
            ],
        )


# The messages ($1-$8) and the read markers ($9-$13) of a batch, as arrays.
_PG_STORE = (
    "INSERT INTO message (id, conversation_id, seq, sender_id, client_msg_id, key_id,"
    " body_ciphertext, created_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[],"
    " $4::uuid[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[])"
)
_PG_MARK = (
    "INSERT INTO read_marker (id, conversation_id, user_id, last_read_seq, updated_at)"
    " SELECT * FROM unnest($9::uuid[], $10::uuid[], $11::uuid[], $12::int[],"
    " $13::timestamptz[])" + _MARKER_CONFLICT
)


# What the failing cast of ``_PostgresInOneGo.WRITE`` reads (and its error repeats).
_MOVED = "a conversation counter moved meanwhile"


class CountersMoved(Exception):
    """A conversation's counter no longer reads what the batch's facts said (another process
    took sequence numbers meanwhile): the batch is stored again with the counters locked."""


class _Postgres(_Codec):
    """asyncpg, a list as an array parameter; in a transaction, the counters locked."""

    # One probe of the unique index per key, whatever the planner knows of the table. As a
    # join, a plan made while the table was small (and kept: prepared statements' plans are)
    # scanned every message for every batch once it had grown: 25 million rows read in ten
    # seconds of the cluster's fan-out benchmark. A subquery with LIMIT is not flattened
    # into a join, so it stays a lookup for each key.
    STORED = (
        "unnest(${}::uuid[], ${}::uuid[], ${}::text[]) AS k(kc, ks, kid) CROSS JOIN LATERAL"
        " (SELECT * FROM message WHERE conversation_id = k.kc AND sender_id = k.ks"
        " AND client_msg_id = k.kid LIMIT 1) AS message"
    )
    FACTS = _FACTS.format(
        s="= ANY($1::uuid[])", c="= ANY($2::uuid[])", stored=STORED.format(3, 4, 5)
    )
    RESENDS = _RESENDS.format(stored=STORED.format(1, 2, 3))
    # Lock the counters in one order everywhere, so that two processes' batches queue on each
    # other rather than deadlock (SQLite's write lock serialises whole transactions).
    LOCK = "SELECT id FROM conversation WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    TAKE = (
        "UPDATE conversation AS c SET last_seq = c.last_seq + w.n, last_activity_at = $3"
        " FROM unnest($1::uuid[], $2::int[]) AS w(id, n) WHERE c.id = w.id"
        " RETURNING c.id, c.last_seq"
    )
    # The messages and the read markers in one statement (one round trip).
    WRITE = f"WITH stored AS ({_PG_STORE}) {_PG_MARK}"

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.db = connection  # asyncpg's

    async def facts(
        self, senders: list[uuid.UUID], conversations: list[uuid.UUID], keys: list[Key]
    ) -> Facts:
        return _facts_from(await self.db.fetch(self.FACTS, senders, conversations, *_columns(keys)))

    async def resends(self, keys: set[Key]) -> list[Message]:
        return [self.message(row) for row in await self.db.fetch(self.RESENDS, *_columns(keys))]

    async def take_seqs(self, wanted: dict[uuid.UUID, int], now: Any) -> dict[uuid.UUID, int]:
        ids = sorted(wanted, key=str)
        if len(ids) > 1:
            await self.db.execute(self.LOCK, ids)
        rows = await self.db.fetch(self.TAKE, ids, [wanted[i] for i in ids], self.time_in(now))
        return {self.uuid_out(cid): int(last) for cid, last in rows}

    async def write(
        self, messages: list[Message], markers: list[tuple[uuid.UUID, uuid.UUID, int]], now: Any
    ) -> None:
        await self.db.execute(self.WRITE, *self._rows(messages, markers, self.time_in(now)))

    @staticmethod
    def _rows(
        messages: list[Message], markers: list[tuple[uuid.UUID, uuid.UUID, int]], at: Any
    ) -> tuple[list[Any], ...]:
        """Parameters $1-$13: the messages' columns, then the read markers'."""
        return (
            [m.id for m in messages],
            [m.conversation_id for m in messages],
            [m.seq for m in messages],
            [m.sender_id for m in messages],
            [m.client_msg_id for m in messages],
            [m.key_id for m in messages],
            [m.body_ciphertext for m in messages],
            [at] * len(messages),
            [new_id() for _ in markers],
            [c for c, _, _ in markers],
            [u for _, u, _ in markers],
            [seq for _, _, seq in markers],
            [at] * len(markers),
        )


class _PostgresInOneGo(_Postgres):
    """A batch in two round trips and no transaction of its own: the facts, which read each
    conversation's counter, then one statement (its own transaction, all or nothing) that
    moves the counters only if they still read what the facts said and writes the messages and
    read markers. Six round trips (BEGIN, facts, lock, counters, write, COMMIT) were most of a
    cluster process's time with PostgreSQL in the fan-out benchmark; a counter that moved
    meanwhile (``CountersMoved``) sends the batch down the locked path.

    The counters are locked in one order (``ORDER BY`` sorts before ``FOR UPDATE`` locks), as
    on the locked path, so two processes' statements queue on each other rather than deadlock;
    one that waited re-reads the counter it waited for, and finds it moved or not."""

    WRITE = (
        "WITH wanted AS (SELECT * FROM unnest($14::uuid[], $15::int[], $16::int[])"
        " AS w(id, n, last)),"
        " locked AS (SELECT c.id, w.n FROM conversation AS c JOIN wanted AS w ON w.id = c.id"
        " WHERE c.last_seq = w.last ORDER BY c.id FOR UPDATE OF c),"
        " moved AS (UPDATE conversation AS c SET last_seq = c.last_seq + l.n,"
        " last_activity_at = $17 FROM locked AS l WHERE c.id = l.id RETURNING c.id),"
        f" stored AS ({_PG_STORE}), marked AS ({_PG_MARK})"
        # SQL has no RAISE: a cast that fails undoes the whole statement.
        " SELECT CAST(CASE WHEN count(*) = cardinality($14::uuid[]) THEN '0'"
        f" ELSE '{_MOVED}' END AS int) FROM moved"
    )

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        super().__init__(connection, dialect)
        self._last_seq: dict[uuid.UUID, int] = {}
        self._wanted: dict[uuid.UUID, int] = {}

    async def facts(
        self, senders: list[uuid.UUID], conversations: list[uuid.UUID], keys: list[Key]
    ) -> Facts:
        facts = await super().facts(senders, conversations, keys)
        self._last_seq = facts.last_seq
        return facts

    async def take_seqs(self, wanted: dict[uuid.UUID, int], now: Any) -> dict[uuid.UUID, int]:
        """The numbers the counters will give if nobody moves them first (``write`` checks)."""
        self._wanted = wanted
        return {cid: self._last_seq[cid] + count for cid, count in wanted.items()}

    async def write(
        self, messages: list[Message], markers: list[tuple[uuid.UUID, uuid.UUID, int]], now: Any
    ) -> None:
        at = self.time_in(now)
        ids = sorted(self._wanted, key=str)
        try:
            await self.db.execute(
                self.WRITE,
                *self._rows(messages, markers, at),
                ids,
                [self._wanted[i] for i in ids],
                [self._last_seq[i] for i in ids],
                at,
            )
        except asyncpg.InvalidTextRepresentationError as exc:
            if _MOVED in str(exc):
                raise CountersMoved() from exc
            raise


def _columns(keys: Iterable[Key]) -> tuple[list[uuid.UUID], list[uuid.UUID], list[str]]:
    """Keys as three arrays, for ``unnest``."""
    listed = list(keys)
    return [k[0] for k in listed], [k[1] for k in listed], [k[2] for k in listed]


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
    connection: AsyncConnection, keyring: MessageKeyring, items: Sequence[Outgoing]
) -> list[Outcome]:
    """Store ``items`` in one transaction on ``connection`` (held by the writer, with no
    transaction open); an outcome for each (``Stored``, or what refused it, or
    ``NeedsFullPath``). Raises if the transaction failed: then nothing was stored."""
    now = items[0].ctx.now()
    dialect = connection.dialect
    raw = (await connection.get_raw_connection()).driver_connection
    if dialect.name == "sqlite":

        def work(sqlite: sqlite3.Connection) -> list[Outcome]:
            return _to_the_end(_store(_Sqlite(sqlite, dialect), keyring, items, now))

        return await raw.write_in_one_trip(work)  # type: ignore[union-attr]
    try:
        return await _store(_PostgresInOneGo(raw, dialect), keyring, items, now)
    except CountersMoved:
        pass  # another process's batch went first: take the counters in turn
    async with raw.transaction():  # type: ignore[union-attr]
        return await _store(_Postgres(raw, dialect), keyring, items, now)
