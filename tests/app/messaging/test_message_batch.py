"""The group commit's storage on the database driver (app/messaging/batch.py), in process on
SQLite and PostgreSQL: each message of a batch gets what ``send_once`` would give it, the rows
read back through the models as if SQLAlchemy had written them, a failed batch stores nothing,
and a resend racing in from another process sends the batch down the one-by-one path."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from app.clock import SystemClock
from app.config import Settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.messaging import batch
from app.messaging import service as messaging
from app.messaging.batch import NeedsFullPath, store_batch
from app.messaging.keyring import MessageKeyring, keyring_from_settings, message_aad
from app.messaging.models import Conversation, ConversationKind, Message, ReadMarker
from app.messaging.writer import MessageWriter
from app.migrate import upgrade_async
from app.teams.models import Team
from app.users.models import User
from bench.seed import seed
from tests.conftest import fresh_database


@dataclass
class World:
    engine: AsyncEngine
    keyring: MessageKeyring
    team: list[User]  # ten people of one team
    outsider: User  # of another team
    team_conversation: uuid.UUID
    direct: uuid.UUID  # between team[0] and team[1]
    case: uuid.UUID

    def ctx(self, user: User) -> Context:
        actor = Actor(user_id=user.id, role=user.role, organisation_id=user.organisation_id)
        return Context(actor=actor, clock=SystemClock())

    def item(
        self, user: User, conversation: uuid.UUID, body: str, key: str = ""
    ) -> messaging.Outgoing:
        return messaging.Outgoing(
            ctx=self.ctx(user),
            conversation_id=conversation,
            sender_id=user.id,
            client_msg_id=key or uuid.uuid4().hex,
            body=body,
        )


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    url = fresh_database(request, tmp_path, "batch")
    await upgrade_async(url)
    settings = Settings(data_dir=tmp_path, database_url=url)
    people = await seed(settings, people=20, clients=0)
    engine = create_engine(settings)
    sessions = session_factory(engine)
    async with sessions() as session:
        team = [await session.get(User, uuid.UUID(p.id)) for p in people.teams[0]]
        outsider = await session.get(User, uuid.UUID(people.teams[1][0].id))
        team_row = await session.get(Team, uuid.UUID(people.team_ids[0]))
        assert all(team) and outsider and team_row
        members: list[User] = [u for u in team if u is not None]
        ctx = Context(
            actor=Actor(
                user_id=members[0].id,
                role=members[0].role,
                organisation_id=members[0].organisation_id,
            ),
            clock=SystemClock(),
        )
        conversation = await messaging.open_team(
            session=session, ctx=ctx, user=members[0], team=team_row
        )
        direct = await messaging.open_direct(
            session=session, ctx=ctx, user=members[0], other=members[1]
        )
        now = SystemClock().now()
        case = Conversation(kind=ConversationKind.case, created_at=now, last_activity_at=now)
        session.add(case)
        await session.commit()
        built = World(
            engine=engine,
            keyring=keyring_from_settings(settings),
            team=members,
            outsider=outsider,
            team_conversation=conversation.id,
            direct=direct.id,
            case=case.id,
        )
    yield built
    await engine.dispose()


async def stored_messages(world: World, conversation: uuid.UUID) -> list[Message]:
    async with session_factory(world.engine)() as session:
        rows = await session.exec(
            select(Message)
            .where(Message.conversation_id == conversation)
            .order_by(col(Message.seq))
        )
        return list(rows.all())


async def store(world: World, items: list[messaging.Outgoing]) -> list[object]:
    async with world.engine.connect() as connection:
        return list(await store_batch(connection, world.keyring, items))


async def test_each_message_of_a_batch_is_refused_or_stored_by_its_own_rules(world: World) -> None:
    priya, tom = world.team[0], world.team[1]
    earlier = await store(world, [world.item(priya, world.direct, "Stored before", "k-earlier")])
    assert isinstance(earlier[0], messaging.Stored)

    async with session_factory(world.engine)() as session:
        gone = await session.get(User, world.team[2].id)
        assert gone is not None
        gone.is_active = False
        session.add(gone)
        await session.commit()

    items = [
        world.item(priya, world.team_conversation, "one"),
        world.item(tom, world.direct, "two"),
        world.item(world.outsider, world.team_conversation, "not my team"),
        world.item(world.team[2], world.team_conversation, "deactivated"),
        world.item(priya, uuid.uuid4(), "nowhere"),
        world.item(priya, world.case, "a client's thread"),
        world.item(tom, world.direct, "again, but not this text", "k-earlier"),
        world.item(priya, world.direct, "resent", "k-earlier"),
        world.item(tom, world.team_conversation, "three", "k-twice"),
        world.item(tom, world.team_conversation, "three, sent twice", "k-twice"),
        world.item(priya, world.team_conversation, "four"),
    ]
    outcomes = await store(world, items)

    assert isinstance(outcomes[2], messaging.NotAMember)
    assert isinstance(outcomes[3], messaging.SenderInactive)
    assert isinstance(outcomes[4], messaging.ConversationNotFound)
    assert isinstance(outcomes[5], NeedsFullPath)
    fresh = [outcomes[i] for i in (0, 1, 6, 8, 10)]
    assert all(isinstance(o, messaging.Stored) and o.created for o in fresh), fresh
    resent, repeat = outcomes[7], outcomes[9]
    assert isinstance(resent, messaging.Stored) and not resent.created
    assert isinstance(earlier[0], messaging.Stored)
    assert resent.message.id == earlier[0].message.id and resent.body == "Stored before"
    assert isinstance(repeat, messaging.Stored) and not repeat.created
    assert isinstance(outcomes[8], messaging.Stored)
    assert repeat.message.id == outcomes[8].message.id

    team_rows = await stored_messages(world, world.team_conversation)
    assert [m.seq for m in team_rows] == [1, 2, 3]
    direct_rows = await stored_messages(world, world.direct)
    assert [m.seq for m in direct_rows] == [1, 2, 3]
    for row in team_rows + direct_rows:
        text_ = world.keyring.decrypt(
            row.key_id, row.body_ciphertext, aad=message_aad(row.conversation_id, row.seq)
        )
        assert text_ in {"one", "two", "three", "four", "Stored before", "again, but not this text"}
        assert row.created_at.tzinfo is not None
    by_id = {m.id: m for m in team_rows + direct_rows}
    for outcome in fresh:
        assert isinstance(outcome, messaging.Stored)
        assert by_id[outcome.message.id].model_dump() == outcome.message.model_dump()
    assert fresh[0].members == frozenset(u.id for u in world.team)  # type: ignore[union-attr]

    async with session_factory(world.engine)() as session:
        conversation = await session.get(Conversation, world.team_conversation)
        assert conversation is not None and conversation.last_seq == 3
        markers = {
            (m.conversation_id, m.user_id): m.last_read_seq
            for m in (await session.exec(select(ReadMarker))).all()
        }
    assert markers[(world.team_conversation, priya.id)] == 3
    assert markers[(world.team_conversation, tom.id)] == 2
    assert markers[(world.direct, tom.id)] == 3


async def test_a_failed_batch_stores_nothing(world: World) -> None:
    priya = world.team[0]
    bodies = ["fine", "fine too"]
    broken = messaging.Outgoing(
        ctx=world.ctx(priya),
        conversation_id=world.team_conversation,
        sender_id=priya.id,
        client_msg_id=uuid.uuid4().hex,
        body=None,  # type: ignore[arg-type]  # cannot be sealed: fails after the counters moved
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        await store(
            world, [world.item(priya, world.team_conversation, b) for b in bodies] + [broken]
        )
    assert await stored_messages(world, world.team_conversation) == []
    async with session_factory(world.engine)() as session:
        conversation = await session.get(Conversation, world.team_conversation)
        assert conversation is not None and conversation.last_seq == 0
    # The connection and (on SQLite) the write lock were let go: the next batch is stored.
    after = await store(world, [world.item(priya, world.team_conversation, "after")])
    assert isinstance(after[0], messaging.Stored) and after[0].message.seq == 1


async def test_a_resend_racing_in_from_another_process_is_stored_once(
    world: World,
) -> None:
    """Another process's transaction holds the same client message id, uncommitted, while this
    process's batch writes: the batch waits on it, fails when it commits, and the writer stores
    the batch's messages one at a time, answering the resend with the other's message."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock lets one writer at a time: the race cannot happen")
    priya, tom = world.team[0], world.team[1]
    writer = MessageWriter(session_factory(world.engine), world.keyring)
    try:
        async with world.engine.connect() as other:
            await other.execute(text("BEGIN"))
            theirs = await store_in(
                other,
                world,
                world.item(priya, world.team_conversation, "from the other process", "k-race"),
            )
            racing = asyncio.ensure_future(
                asyncio.gather(
                    writer.send(
                        world.item(priya, world.team_conversation, "resent here", "k-race")
                    ),
                    writer.send(world.item(tom, world.team_conversation, "beside it")),
                )
            )
            await waiting_on_a_lock(world.engine)
            await other.execute(text("COMMIT"))
        resent, beside = await asyncio.wait_for(racing, 30)
    finally:
        await writer.stop()
    assert not resent.created and resent.message.id == theirs
    assert beside.created
    rows = await stored_messages(world, world.team_conversation)
    assert [m.seq for m in rows] == [1, 2]


async def test_a_counter_moved_after_the_facts_sends_the_batch_down_the_locked_path(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a batch is stored in one go: the facts read the counters, one statement
    moves them only if they still read the same. Another process taking a number in between
    undoes that statement whole, and the batch is stored again with the counters locked."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL stores a batch in one go (SQLite holds its write lock)")
    priya = world.team[0]
    locked_takes: list[dict[uuid.UUID, int]] = []
    take_locked = batch._Postgres.take_seqs

    async def counted(self: batch._Postgres, wanted: dict[uuid.UUID, int], now: object) -> object:
        locked_takes.append(dict(wanted))
        return await take_locked(self, wanted, now)

    monkeypatch.setattr(batch._Postgres, "take_seqs", counted)
    first = await store(world, [world.item(priya, world.team_conversation, "one")])
    assert isinstance(first[0], messaging.Stored) and first[0].message.seq == 1
    assert locked_takes == []  # uncontended: in one go

    read_facts = batch._PostgresInOneGo.facts

    async def someone_else_sends_meanwhile(
        self: batch._PostgresInOneGo, *args: list[object]
    ) -> batch.Facts:
        facts = await read_facts(self, *args)  # type: ignore[arg-type]
        async with world.engine.begin() as other:
            await other.execute(
                text("UPDATE conversation SET last_seq = last_seq + 1 WHERE id = :id"),
                {"id": world.team_conversation},
            )
        return facts

    monkeypatch.setattr(batch._PostgresInOneGo, "facts", someone_else_sends_meanwhile)
    second = await store(
        world,
        [
            world.item(priya, world.team_conversation, "two"),
            world.item(priya, world.direct, "three"),
        ],
    )
    assert [s.message.seq for s in second] == [3, 1]  # type: ignore[attr-defined]
    assert locked_takes == [{world.team_conversation: 1, world.direct: 1}]
    # Nothing of the undone statement stayed: not the direct conversation's counter either.
    assert [m.seq for m in await stored_messages(world, world.team_conversation)] == [1, 3]
    assert [m.seq for m in await stored_messages(world, world.direct)] == [1]
    async with session_factory(world.engine)() as session:
        direct = await session.get(Conversation, world.direct)
        assert direct is not None and direct.last_seq == 1


async def test_two_processes_storing_at_once_keep_every_conversation_gap_free(
    world: World,
) -> None:
    """Two writers (each its own connection, as two processes have) store batches to the same
    conversations at once: every message stored once, the numbers of each conversation 1..n."""
    priya, tom = world.team[0], world.team[1]

    async def writer(name: str) -> None:
        for round_ in range(12):
            await store(
                world,
                [
                    world.item(priya, world.team_conversation, f"{name} {round_} a"),
                    world.item(tom, world.team_conversation, f"{name} {round_} b"),
                    world.item(tom, world.direct, f"{name} {round_} c"),
                ],
            )

    await asyncio.wait_for(asyncio.gather(writer("left"), writer("right")), 60)
    team = await stored_messages(world, world.team_conversation)
    direct = await stored_messages(world, world.direct)
    assert [m.seq for m in team] == list(range(1, 49))
    assert [m.seq for m in direct] == list(range(1, 25))
    async with session_factory(world.engine)() as session:
        for conversation_id, count in ((world.team_conversation, 48), (world.direct, 24)):
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None and conversation.last_seq == count


async def test_stored_messages_are_found_by_index_in_the_kept_plan(world: World) -> None:
    """The plan PostgreSQL keeps for the facts query (a prepared statement's generic plan, made
    without the keys' values) finds resends with the unique index; as a join it read the whole
    table once a few hundred messages were in it."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans each statement when it is prepared, with what it is given")
    priya = world.team[0]
    for _ in range(4):
        await store(world, [world.item(priya, world.team_conversation, "x") for _ in range(64)])
    async with world.engine.connect() as connection:
        await connection.execute(text("ANALYZE message"))
        await connection.commit()
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.execute("SET plan_cache_mode = force_generic_plan")  # type: ignore[union-attr]
        await raw.execute(  # type: ignore[union-attr]
            "PREPARE facts (uuid[], uuid[], uuid[], uuid[], text[]) AS " + batch._Postgres.FACTS
        )
        plan = "\n".join(
            row[0]
            for row in await raw.fetch(  # type: ignore[union-attr]
                "EXPLAIN EXECUTE facts ('{}', '{}', '{}', '{}', '{}')"
            )
        )
    assert "uq_message_conversation_id_sender_id_client_msg_id on message" in plan, plan
    assert "Seq Scan on message" not in plan, plan


async def store_in(connection: object, world: World, item: messaging.Outgoing) -> uuid.UUID:
    """A message stored the usual way in an open transaction of another connection."""
    key_id, blob = world.keyring.encrypt(item.body, aad=message_aad(item.conversation_id, 1))
    message_id = uuid.uuid4()
    await connection.execute(  # type: ignore[attr-defined]
        text("UPDATE conversation SET last_seq = last_seq + 1 WHERE id = :id"),
        {"id": item.conversation_id},
    )
    await connection.execute(  # type: ignore[attr-defined]
        Message.__table__.insert().values(  # type: ignore[attr-defined]
            id=message_id,
            conversation_id=item.conversation_id,
            seq=1,
            sender_id=item.sender_id,
            client_msg_id=item.client_msg_id,
            key_id=key_id,
            body_ciphertext=blob,
            created_at=item.ctx.now(),
        )
    )
    return message_id


async def waiting_on_a_lock(engine: AsyncEngine, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    async with engine.connect() as probe:
        while time.monotonic() < deadline:
            waiting = (
                await probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
            ).scalar_one()
            await probe.rollback()
            if waiting:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the batch never waited on the other transaction")
