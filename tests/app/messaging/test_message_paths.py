"""A message is stored one of two ways: with the others of a group commit, on the database
driver (app/messaging/batch.py), or one at a time with the session (``messaging.store_one``:
a case thread's message, and every message of a batch that failed). What is stored must not
depend on the way. One script of sends (to a team, another team, a direct conversation and a
case thread; refusals; resends of a client message id within a batch and after it; a sender
deactivated midway), with edits and a deletion between them, runs against two copies of one
database: once through the message writer, a step's sends handed over together, and once one
message at a time. Then every answer and everything stored is compared: the messages with their
sequence numbers, bodies (decrypted: each sealing has its own nonce), timestamps and revisions,
the conversations' counters, the read markers and the audit events. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from app.audit.models import AuditEvent
from app.clients.models import ClientRecord
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.messaging import service as messaging
from app.messaging import writer as message_writer
from app.messaging.keyring import MessageKeyring, keyring_from_settings, message_aad
from app.messaging.models import Conversation, Message, MessageRevision, ReadMarker
from app.messaging.writer import MessageWriter
from app.migrate import upgrade_async
from app.teams.models import Team
from app.users.models import User
from bench.seed import seed
from tests.support.postgres import PostgresServer

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Cast:
    """The seeded people and conversations (the same ids in both copies of the database)."""

    priya: uuid.UUID  # of team one, on the client's care team
    tom: uuid.UUID  # of team one
    sam: uuid.UUID  # of team one, deactivated midway
    outsider: uuid.UUID  # of team two
    team: uuid.UUID
    other_team: uuid.UUID
    direct: uuid.UUID  # between priya and tom
    case: uuid.UUID  # the client's care-team thread
    audited_before: int  # the last audit event written before the script


@dataclass
class Copy:
    engine: AsyncEngine
    keyring: MessageKeyring
    clock: FrozenClock
    roles: dict[uuid.UUID, Any]

    def item(
        self, cast: Cast, sender: uuid.UUID, conversation: uuid.UUID, body: str, key: str
    ) -> messaging.Outgoing:
        user = self.roles[sender]
        actor = Actor(user_id=sender, role=user[0], organisation_id=user[1])
        return messaging.Outgoing(
            ctx=Context(actor=actor, clock=self.clock),
            conversation_id=conversation,
            sender_id=sender,
            client_msg_id=key,
            body=body,
        )


async def _cast(settings: Settings) -> Cast:
    world = await seed(settings, people=20, clients=1)
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:

            async def user(person_id: str) -> User:
                found = await session.get(User, uuid.UUID(person_id))
                assert found is not None
                return found

            one = [await user(p.id) for p in world.teams[0]]
            outsider = await user(world.teams[1][0].id)
            client_id, creator = world.clients[0]
            priya = await user(creator.id)
            tom, sam = [u for u in one if u.id != priya.id][:2]
            clock = FrozenClock(START)
            ctx = Context(
                actor=Actor(
                    user_id=priya.id, role=priya.role, organisation_id=priya.organisation_id
                ),
                clock=clock,
            )
            teams = [await session.get(Team, uuid.UUID(t)) for t in world.team_ids[:2]]
            client = await session.get(ClientRecord, uuid.UUID(client_id))
            assert teams[0] and teams[1] and client
            team = await messaging.open_team(session=session, ctx=ctx, user=priya, team=teams[0])
            other_team = await messaging.open_team(
                session=session, ctx=ctx, user=outsider, team=teams[1]
            )
            direct = await messaging.open_direct(session=session, ctx=ctx, user=priya, other=tom)
            case = await messaging.open_case(
                session=session, ctx=ctx, user=priya, client=client, includes_client=False
            )
            cast = Cast(
                priya=priya.id,
                tom=tom.id,
                sam=sam.id,
                outsider=outsider.id,
                team=team.id,
                other_team=other_team.id,
                direct=direct.id,
                case=case.id,
                audited_before=(
                    await session.exec(select(func.coalesce(func.max(AuditEvent.id), 0)))
                ).one(),
            )
            await session.commit()
        return cast
    finally:
        await engine.dispose()


async def _open(settings: Settings) -> Copy:
    engine = create_engine(settings)
    async with session_factory(engine)() as session:
        users = (await session.exec(select(User))).all()
        roles = {u.id: (u.role, u.organisation_id) for u in users}
    return Copy(engine, keyring_from_settings(settings), FrozenClock(START), roles)


@pytest.fixture(params=["sqlite", "postgres"])
async def copies(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Cast, Copy, Copy]]:
    """One seeded database and an exact copy of it (the same ids, keys and counters)."""
    name = f"paths_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'paths.db'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database(name)
    await upgrade_async(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    cast = await _cast(settings)
    if request.param == "sqlite":
        source, target = (
            sqlite3.connect(tmp_path / "paths.db"),
            sqlite3.connect(tmp_path / "copy.db"),
        )
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        copy_url = f"sqlite:///{tmp_path / 'copy.db'}"
    else:
        pg.run_sql(f'CREATE DATABASE "{name}_copy" TEMPLATE "{name}" OWNER "{pg.user}"')
        copy_url = pg.url_for(f"{name}_copy")
    # The same data directory: the same generated secrets, so the same message keys.
    batched = await _open(settings)
    one_by_one = await _open(Settings(data_dir=tmp_path, database_url=copy_url))
    try:
        yield cast, batched, one_by_one
    finally:
        await batched.engine.dispose()
        await one_by_one.engine.dispose()


# --- the script ----------------------------------------------------------------------------------

Send = tuple[str, str, str, str]  # sender, conversation, body, client message id (cast's names)


def script() -> list[list[Send] | tuple[str, ...]]:
    """Steps: a list of sends handed over together, or an action between them."""
    return [
        [
            ("priya", "team", "Morning all", "k-1"),
            ("tom", "team", "Morning", "k-2"),
            ("tom", "direct", "Can we talk about Alex?", "k-3"),
            ("priya", "case", "Alex started at the garden centre", "k-4"),
            ("outsider", "team", "Not my team", "k-5"),
            ("outsider", "other_team", "Our own team", "k-6"),
            ("priya", "nowhere", "No such conversation", "k-7"),
            ("priya", "team", "Morning all (sent twice)", "k-1"),  # a resend in the same batch
            ("sam", "team", "Running late", "k-8"),
            ("priya", "direct", "Yes, after lunch", "k-9"),
        ],
        ("edit", "priya", "team", "1", "Good morning all"),
        ("deactivate", "sam"),
        [
            ("priya", "team", "Morning all (after a reconnect)", "k-1"),  # stored before
            ("sam", "team", "Still here?", "k-10"),
            ("tom", "team", "Lunch at one", "k-11"),
            ("priya", "case", "Alex started at the garden centre", "k-4"),  # a case resend
            ("priya", "case", "Review booked for Friday", "k-12"),
            ("tom", "direct", "Thanks", "k-13"),
        ],
        ("delete", "tom", "direct", "1"),
        ("edit", "priya", "case", "2", "Review booked for Thursday"),
        [
            ("priya", "team", "Minutes attached", "k-14"),
            ("tom", "team", "Lunch at one", "k-11"),
            ("tom", "team", "Lunch at half past", "k-15"),
        ],
    ]


def _id(cast: Cast, name: str) -> uuid.UUID:
    return getattr(cast, name) if name != "nowhere" else uuid.UUID(int=7)


Store = Callable[[Copy, list[messaging.Outgoing]], Awaitable[list[object]]]


async def _batched(copy: Copy, items: list[messaging.Outgoing]) -> list[object]:
    """Through the message writer, handed over together: one batch."""
    writer = _CountingWriter(session_factory(copy.engine), copy.keyring)
    try:
        waiting = [writer.submit(item) for item in items]
        answers = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 30)
    finally:
        await writer.stop()
    assert writer.batches == [len(items)]
    return list(answers)


async def _one_by_one(copy: Copy, items: list[messaging.Outgoing]) -> list[object]:
    answers: list[object] = []
    for item in items:
        try:
            async with session_factory(copy.engine)() as session:
                stored = await messaging.store_one(session=session, keyring=copy.keyring, item=item)
                await session.commit()
        except Exception as exc:
            answers.append(exc)
        else:
            answers.append(stored)
    return answers


class _CountingWriter(MessageWriter):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.batches: list[int] = []

    async def _write(self, batch: list[message_writer.Pending]) -> None:
        self.batches.append(len(batch))
        await super()._write(batch)


async def run(cast: Cast, copy: Copy, store: Store) -> list[object]:
    """The script against one copy; what each send was answered, as the sender is told."""
    told: list[object] = []
    for step in script():
        copy.clock.advance(minutes=5)
        if isinstance(step, list):
            items = [
                copy.item(cast, _id(cast, who), _id(cast, where), body, key)
                for who, where, body, key in step
            ]
            for answer in await store(copy, items):
                told.append(_as_told(copy, answer))
            continue
        async with session_factory(copy.engine)() as session:
            if step[0] == "deactivate":
                user = await session.get(User, _id(cast, step[1]))
                assert user is not None
                user.is_active = False
                session.add(user)
            else:
                action, who, where, seq, *body = step
                editor = await session.get(User, _id(cast, who))
                assert editor is not None
                message = await messaging.get_message(
                    session=session, conversation_id=_id(cast, where), seq=int(seq)
                )
                actor = Actor(user_id=editor.id, role=editor.role, organisation_id=None)
                await messaging.revise(
                    session=session,
                    ctx=Context(actor=actor, clock=copy.clock),
                    keyring=copy.keyring,
                    message=message,
                    editor=editor,
                    new_body=body[0] if action == "edit" else None,
                )
            await session.commit()
    return told


def _as_told(copy: Copy, answer: object) -> object:
    """The acknowledgement's message (without its id, which each copy makes anew), or what
    refused the send."""
    if isinstance(answer, Exception):
        return type(answer).__name__
    assert isinstance(answer, messaging.Stored)
    public = messaging.to_public(answer.message, copy.keyring, answer.sender_name, body=answer.body)
    return (
        public.model_dump(exclude={"id"}),
        answer.created,
        sorted(answer.members),
    )


async def stored(cast: Cast, copy: Copy) -> dict[str, list[Any]]:
    """Everything the sends and edits wrote, with message ids replaced by (conversation, seq)."""
    async with session_factory(copy.engine)() as session:
        messages = (
            await session.exec(
                select(Message).order_by(col(Message.conversation_id), col(Message.seq))
            )
        ).all()
        where = {m.id: (m.conversation_id, m.seq) for m in messages}
        revisions = (await session.exec(select(MessageRevision))).all()
        conversations = (await session.exec(select(Conversation))).all()
        markers = (await session.exec(select(ReadMarker))).all()
        events = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.id) > cast.audited_before)
                .order_by(col(AuditEvent.id))
            )
        ).all()

    def opened(key_id: str, blob: bytes, conversation_id: uuid.UUID, seq: int) -> str:
        return copy.keyring.decrypt(key_id, blob, aad=message_aad(conversation_id, seq))

    return {
        "messages": [
            (
                m.conversation_id,
                m.seq,
                m.sender_id,
                m.client_msg_id,
                m.key_id,
                opened(m.key_id, m.body_ciphertext, m.conversation_id, m.seq),
                m.created_at,
                m.edited_at,
                m.deleted_at,
            )
            for m in messages
        ],
        "revisions": sorted(
            (
                where[r.message_id],
                r.action,
                opened(r.key_id, r.body_ciphertext, *where[r.message_id]),
                r.revised_at,
                r.revised_by,
            )
            for r in revisions
        ),
        "conversations": sorted((str(c.id), c.last_seq, c.last_activity_at) for c in conversations),
        "markers": sorted(
            (str(m.conversation_id), str(m.user_id), m.last_read_seq, m.updated_at) for m in markers
        ),
        "audit": [
            (
                e.occurred_at,
                e.actor_id,
                e.action,
                e.resource_type,
                where.get(uuid.UUID(e.resource_id), e.resource_id) if e.resource_id else None,
                e.client_id,
                e.outcome,
                e.detail,
            )
            for e in events
        ],
    }


async def test_one_script_stored_in_batches_and_one_by_one_stores_the_same(
    copies: tuple[Cast, Copy, Copy], monkeypatch: pytest.MonkeyPatch
) -> None:
    cast, batched, one_by_one = copies
    alone = await run(cast, one_by_one, _one_by_one)

    # Through the writer, only the case thread's messages leave the batch for ``store_one``.
    store_one = messaging.store_one
    left_the_batch: list[uuid.UUID] = []

    async def counted(**kwargs: Any) -> messaging.Stored:
        left_the_batch.append(kwargs["item"].conversation_id)
        return await store_one(**kwargs)

    monkeypatch.setattr(messaging, "store_one", counted)
    together = await run(cast, batched, _batched)

    assert together == alone
    assert set(left_the_batch) == {cast.case}
    refusals = [answer for answer in alone if isinstance(answer, str)]
    assert refusals == ["NotAMember", "ConversationNotFound", "SenderInactive"]
    duplicates = [a for a in alone if isinstance(a, tuple) and not a[1]]
    assert len(duplicates) == 4  # the resends of k-1 (twice), k-4 and k-11

    mine, theirs = await stored(cast, batched), await stored(cast, one_by_one)
    for table in mine:
        assert mine[table] == theirs[table], table
    # The script did what it says, so the comparison compared something.
    assert [(m[0], m[1]) for m in mine["messages"] if m[0] == cast.team] == [
        (cast.team, n) for n in range(1, 7)
    ]
    assert [m[5] for m in mine["messages"] if m[0] == cast.direct] == [
        "",
        "Yes, after lunch",
        "Thanks",
    ]
    assert [e[2] for e in mine["audit"]] == ["message.send", "message.send"]
    assert [e[4] for e in mine["audit"]] == [(cast.case, 1), (cast.case, 2)]
    assert len(mine["revisions"]) == 3
    # Each sealing has its own nonce: the same body is not the same ciphertext twice.
    async with (
        session_factory(batched.engine)() as left,
        session_factory(one_by_one.engine)() as right,
    ):
        first = select(Message.body_ciphertext).where(
            Message.conversation_id == cast.other_team, Message.seq == 1
        )
        assert (await left.exec(first)).one() != (await right.exec(first)).one()


def test_the_shared_rules_at_their_edges() -> None:
    """The rules both paths call, directly: who may send, and which numbers a send gets."""
    me, other = uuid.uuid4(), uuid.uuid4()
    assert isinstance(
        messaging.refusal(kind=None, sender_id=me, members=frozenset({me})),
        messaging.ConversationNotFound,
    )
    assert isinstance(
        messaging.refusal(kind="team", sender_id=me, members=frozenset({other})),
        messaging.NotAMember,
    )
    assert isinstance(
        messaging.refusal(kind="direct", sender_id=me, members=frozenset()), messaging.NotAMember
    )
    assert messaging.refusal(kind="direct", sender_id=me, members=frozenset({me, other})) is None
    assert [messaging.stored_in_a_batch(k) for k in ("team", "direct", "case")] == [
        True,
        True,
        False,
    ]
    assert list(messaging.numbers_taken(1, 1)) == [1]
    assert list(messaging.numbers_taken(7, 3)) == [5, 6, 7]
    assert list(messaging.numbers_taken(3, 0)) == []
