"""Conversations and messages: membership, gap-free sequence numbers, exactly-once sends,
encryption at rest, read markers and unread counts. Callers check the policies
(``auth.policies.messaging``); this runs the SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.context import Context
from app.db import found
from app.dbtypes import new_id
from app.errors import Conflict, Forbidden, NotFound, Problem, Unprocessable
from app.messaging.keyring import MessageKeyring, message_aad
from app.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationParticipant,
    Message,
    MessageRevision,
    ReadMarker,
)
from app.messaging.schemas import ConversationPublic, MessagePublic, UnreadCount
from app.teams import service as teams_service
from app.teams.models import Team
from app.users.models import User
from auth.policies import clients as client_policies
from auth.policies import messaging as messaging_policies


class ConversationNotFound(NotFound):
    title = "Conversation not found"


class MessageNotFound(NotFound):
    title = "Message not found"


class NotAMember(Forbidden):
    slug, title = "not-a-member", "You are not in this conversation"


class InvalidConversation(Unprocessable):
    slug, title = "invalid-conversation", "That conversation cannot be opened"


async def get(*, session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    return await found(session, Conversation, conversation_id, missing=ConversationNotFound)


# --- membership --------------------------------------------------------------------------------


async def member_ids(*, session: AsyncSession, conversation: Conversation) -> set[uuid.UUID]:
    """Who is in a conversation now. Team and case membership follow the team and the care team
    (and the permission policies) rather than being copied, so they cannot drift."""
    if conversation.kind == ConversationKind.direct:
        rows = await session.exec(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == conversation.id
            )
        )
        return set(rows.all())
    if conversation.kind == ConversationKind.team:
        assert conversation.team_id is not None
        return await teams_service.member_ids(session=session, team_id=conversation.team_id)
    assert conversation.client_id is not None
    client = await clients_service.get(session=session, client_id=conversation.client_id)
    audience = await client_policies.record_audience(session, client)
    if not conversation.includes_client and client.user_id is not None:
        audience.discard(client.user_id)
    return audience


async def is_participant(
    *, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Whether the person is one of a direct conversation's participants."""
    found = await session.exec(
        select(ConversationParticipant.id).where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == user_id,
        )
    )
    return found.first() is not None


# --- opening conversations ---------------------------------------------------------------------


def direct_key(a: uuid.UUID, b: uuid.UUID) -> str:
    first, second = sorted((str(a), str(b)))
    return f"{first}:{second}"


async def _found_or_opened(
    session: AsyncSession, ctx: Context, user: User, *where: Any, **fields: Any
) -> tuple[Conversation, bool]:
    """The one conversation that ``where`` picks out, or else a new one with ``fields`` opened by
    ``user``; and whether it is new. There is one direct, team or case conversation of a kind."""
    found = (await session.exec(select(Conversation).where(*where))).first()
    if found is not None:
        return found, False
    conversation = Conversation(
        **fields, created_at=ctx.now(), last_activity_at=ctx.now(), created_by=user.id
    )
    session.add(conversation)
    await session.flush()
    return conversation, True


async def open_direct(
    *, session: AsyncSession, ctx: Context, user: User, other: User
) -> Conversation:
    if other.id == user.id or not other.is_active:
        raise InvalidConversation("Choose someone else to talk to.")
    if other.id not in await messaging_policies.contacts(session, user):
        raise Forbidden("You can message the people you work with, and a client's care team.")
    key = direct_key(user.id, other.id)
    conversation, new = await _found_or_opened(
        session,
        ctx,
        user,
        Conversation.direct_key == key,
        kind=ConversationKind.direct,
        direct_key=key,
    )
    if not new:
        return conversation
    session.add_all(
        ConversationParticipant(conversation_id=conversation.id, user_id=uid)
        for uid in (user.id, other.id)
    )
    await session.flush()
    return conversation


async def open_team(*, session: AsyncSession, ctx: Context, user: User, team: Team) -> Conversation:
    decision = await messaging_policies.can_open_team_conversation(session, user, team.id)
    if not decision:
        raise Forbidden(f"{decision.reason}.")
    conversation, _new = await _found_or_opened(
        session,
        ctx,
        user,
        Conversation.team_id == team.id,
        Conversation.kind == ConversationKind.team,
        kind=ConversationKind.team,
        team_id=team.id,
        title=team.name,
    )
    return conversation


async def open_case(
    *, session: AsyncSession, ctx: Context, user: User, client: ClientRecord, includes_client: bool
) -> Conversation:
    decision = await messaging_policies.can_open_case_thread(
        session, user, client, includes_client=includes_client
    )
    if not decision:
        raise Forbidden(f"{decision.reason}.")
    conversation, _new = await _found_or_opened(
        session,
        ctx,
        user,
        Conversation.client_id == client.id,
        Conversation.includes_client == includes_client,
        kind=ConversationKind.case,
        client_id=client.id,
        includes_client=includes_client,
    )
    return conversation


# --- listing -------------------------------------------------------------------------------------


async def conversations_of(*, session: AsyncSession, user: User) -> list[Conversation]:
    """Every conversation the person is in now, most recently active first."""
    direct = select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.user_id == user.id
    )
    teams = teams_service.teams_in_force_of(user.id)
    rows = await session.exec(
        select(Conversation).where(
            or_(
                col(Conversation.id).in_(direct),
                and_(
                    col(Conversation.kind) == ConversationKind.team,
                    col(Conversation.team_id).in_(teams),
                ),
            )
        )
    )
    found = list(rows.all())
    if client_policies.sees_clinical_content(user):
        related = await clients_service.related_clients(
            session=session, user_id=user.id, query=clients_service.ClientQuery()
        )
        readable = {c.id for c in await client_policies.readable_clients(session, user, related)}
        if readable:
            case = select(Conversation).where(
                Conversation.kind == ConversationKind.case,
                col(Conversation.client_id).in_(readable),
            )
            if not messaging_policies.sees_staff_threads(user):
                case = case.where(col(Conversation.includes_client).is_(True))
            found.extend((await session.exec(case)).all())
    return sorted(found, key=lambda c: (c.last_activity_at, str(c.id)), reverse=True)


async def titles(
    *, session: AsyncSession, user: User, conversations: list[Conversation]
) -> dict[uuid.UUID, str]:
    """A human title per conversation, as this person sees it."""
    result: dict[uuid.UUID, str] = {}
    for conversation in conversations:
        if conversation.kind == ConversationKind.direct:
            others = await member_ids(session=session, conversation=conversation) - {user.id}
            other = await session.get(User, next(iter(others))) if others else None
            result[conversation.id] = other.display_name if other else "Conversation"
        elif conversation.kind == ConversationKind.case:
            assert conversation.client_id is not None
            client = await session.get(ClientRecord, conversation.client_id)
            name = client.display_name if client else "Client"
            result[conversation.id] = (
                f"{name} (with {name.split()[0]})"
                if conversation.includes_client
                else f"{name} (care team)"
            )
        else:
            result[conversation.id] = conversation.title or "Team"
    return result


async def read_markers(
    *, session: AsyncSession, user_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not conversation_ids:
        return {}
    rows = await session.exec(
        select(ReadMarker.conversation_id, ReadMarker.last_read_seq).where(
            ReadMarker.user_id == user_id, col(ReadMarker.conversation_id).in_(conversation_ids)
        )
    )
    return dict(rows.all())


async def unread_older_than(*, session: AsyncSession, user: User, before: datetime) -> int:
    """Messages from others the person has not read (after their read marker) in the
    conversations they are in now, stored before ``before``: what a message notice is about."""
    ids = [c.id for c in await conversations_of(session=session, user=user)]
    if not ids:
        return 0
    marker_of = (
        select(ReadMarker.last_read_seq)
        .where(ReadMarker.user_id == user.id, ReadMarker.conversation_id == Message.conversation_id)
        .scalar_subquery()
    )
    rows = await session.exec(
        select(func.count()).where(
            col(Message.conversation_id).in_(ids),
            Message.sender_id != user.id,
            col(Message.deleted_at).is_(None),
            col(Message.created_at) <= before,
            col(Message.seq) > func.coalesce(marker_of, 0),
        )
    )
    return int(rows.one())


async def unread_counts(
    *, session: AsyncSession, user_id: uuid.UUID, conversations: list[Conversation]
) -> list[UnreadCount]:
    """Messages from others after the person's read marker, per conversation (one query)."""
    ids = [c.id for c in conversations]
    markers = await read_markers(session=session, user_id=user_id, conversation_ids=ids)
    counts: dict[uuid.UUID, int] = {}
    if ids:
        marker_of = (
            select(ReadMarker.last_read_seq)
            .where(
                ReadMarker.user_id == user_id, ReadMarker.conversation_id == Message.conversation_id
            )
            .scalar_subquery()
        )
        rows = await session.exec(
            select(Message.conversation_id, func.count())
            .where(
                col(Message.conversation_id).in_(ids),
                Message.sender_id != user_id,
                col(Message.deleted_at).is_(None),
                col(Message.seq) > func.coalesce(marker_of, 0),
            )
            .group_by(col(Message.conversation_id))
        )
        counts = dict(rows.all())
    return [
        UnreadCount(
            conversation_id=c.id,
            unread=counts.get(c.id, 0),
            last_seq=c.last_seq,
            last_read_seq=markers.get(c.id, 0),
        )
        for c in conversations
    ]


async def public_conversations(
    *, session: AsyncSession, user: User, conversations: list[Conversation]
) -> list[ConversationPublic]:
    names = await titles(session=session, user=user, conversations=conversations)
    unread = {
        u.conversation_id: u
        for u in await unread_counts(session=session, user_id=user.id, conversations=conversations)
    }
    return [
        ConversationPublic(
            id=c.id,
            kind=c.kind,
            title=names[c.id],
            team_id=c.team_id,
            client_id=c.client_id,
            includes_client=c.includes_client,
            last_seq=c.last_seq,
            last_read_seq=unread[c.id].last_read_seq,
            unread=unread[c.id].unread,
            created_at=c.created_at,
        )
        for c in conversations
    ]


# --- messages ------------------------------------------------------------------------------------


def to_public(
    message: Message,
    keyring: MessageKeyring,
    sender_name: str | None = None,
    *,
    body: str | None = None,
) -> MessagePublic:
    """``body``: the text when the caller has it already (it just sealed it)."""
    deleted = message.deleted_at is not None
    body = "" if deleted else body if body is not None else opened(keyring, message)
    return MessagePublic(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_id=message.sender_id,
        sender_name=sender_name,
        client_msg_id=message.client_msg_id,
        body=body,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=deleted,
    )


@dataclass(frozen=True)
class Sent:
    message: Message
    created: bool  # False when the client message id was seen before: nothing new stored
    # Who is in the conversation, when the membership check already read it (team and direct
    # conversations), so the caller need not read it again.
    members: frozenset[uuid.UUID] | None = None


async def _existing(
    session: AsyncSession, conversation_id: uuid.UUID, sender_id: uuid.UUID, client_msg_id: str
) -> Message | None:
    rows = await session.exec(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.sender_id == sender_id,
            Message.client_msg_id == client_msg_id,
        )
    )
    return rows.first()


async def send(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    conversation: Conversation,
    sender: User,
    client_msg_id: str,
    body: str,
) -> Sent:
    """Store a message with the conversation's next sequence number.

    Exactly once: a resend with the same client message id returns the stored message. The
    sequence number is taken by incrementing the conversation's counter in this transaction, so
    concurrent senders queue on the row and a rolled-back send leaves no gap.
    """
    found = await _existing(session, conversation.id, sender.id, client_msg_id)
    if found is not None:
        return Sent(found, created=False)
    last: int = (
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation.id)
            .values(last_seq=col(Conversation.last_seq) + 1, last_activity_at=ctx.now())
            .returning(col(Conversation.last_seq))
        )
    ).scalar_one()
    (seq,) = numbers_taken(last, 1)
    message = sealed(
        keyring,
        conversation_id=conversation.id,
        seq=seq,
        sender_id=sender.id,
        client_msg_id=client_msg_id,
        body=body,
        now=ctx.now(),
    )
    # One INSERT statement rather than the unit of work's flush: this is the hottest write.
    fields = message.model_dump(include=set(Message.model_fields))
    try:
        await session.execute(insert(Message).values(**fields))
    except IntegrityError:
        # The same client message id raced in from another connection and won.
        raise DuplicateSend() from None
    await mark_read(
        session=session, ctx=ctx, conversation_id=conversation.id, user_id=sender.id, seq=seq
    )
    return Sent(message, created=True)


class DuplicateSend(Conflict):
    slug, title = "duplicate-send", "That message was sent already"


async def send_once(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    conversation_id: uuid.UUID,
    sender: User,
    client_msg_id: str,
    body: str,
) -> Sent:
    """``send`` that resolves a lost race on the client message id to the stored message."""
    members: frozenset[uuid.UUID] | None = None
    conversation = await get(session=session, conversation_id=conversation_id)
    if stored_in_a_batch(conversation.kind):
        # The members are what the membership check reads: read them once, for the check and
        # for the caller who announces the message to them.
        members = frozenset(await member_ids(session=session, conversation=conversation))
        refused = refusal(kind=conversation.kind, sender_id=sender.id, members=members)
        if refused is not None:
            raise refused
        if not sender.is_active:
            raise NotAMember()
    elif not await messaging_policies.is_member(session, sender, conversation):
        raise NotAMember()
    try:
        sent = await send(
            session=session,
            ctx=ctx,
            keyring=keyring,
            conversation=conversation,
            sender=sender,
            client_msg_id=client_msg_id,
            body=body,
        )
        return Sent(sent.message, sent.created, members)
    except DuplicateSend:
        await session.rollback()
        found = await _existing(session, conversation_id, sender.id, client_msg_id)
        if found is None:
            raise
        return Sent(found, created=False)


# --- group commit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One message to store, as a socket sent it."""

    ctx: Context  # who sends it, from where (audit) and the clock
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    client_msg_id: str
    body: str


@dataclass(frozen=True)
class Stored:
    message: Message
    created: bool  # False for a resend of a stored message: nothing new was stored
    sender_name: str
    members: frozenset[uuid.UUID]
    # The text, when known without decrypting the stored body (it was just sealed from it).
    body: str | None = None


class SenderInactive(Exception):
    """The sender's account is gone or deactivated."""


# --- what is stored, by whichever path --------------------------------------------------------
# A message is stored either one at a time with the session (``store_one``) or with the others
# of a group commit on the database driver (app/messaging/batch.py). The rules both follow are
# written once, here: who may send (``refusal``), which conversations a batch may store
# (``stored_in_a_batch``), how sequence numbers are given out (``numbers_taken``), how a body is
# sealed (``sealed``) and opened (``opened``), and what is audited (``record_sent``).
# tests/app/messaging/test_message_paths.py runs one script through both and compares what was
# stored.


def stored_in_a_batch(kind: str) -> bool:
    """Team and direct conversations: their membership is a list (the team's members in force,
    the participants), read for the whole batch at once. A case thread's follows the care-team
    and consent policies, and each of its messages is audited: stored by ``store_one``."""
    return kind in (ConversationKind.direct, ConversationKind.team)


def refusal(
    *, kind: str | None, sender_id: uuid.UUID, members: frozenset[uuid.UUID]
) -> Problem | None:
    """Why a sender may not post to a team or direct conversation (``kind`` None: there is no
    such conversation), or None."""
    if kind is None:
        return ConversationNotFound()
    if sender_id not in members:
        return NotAMember()
    return None


def numbers_taken(last: int, count: int) -> range:
    """The sequence numbers a send of ``count`` messages got when the conversation's counter,
    moved on by ``count`` in the same transaction, reads ``last``: gap-free, in order."""
    return range(last - count + 1, last + 1)


def sealed(
    keyring: MessageKeyring,
    *,
    conversation_id: uuid.UUID,
    seq: int,
    sender_id: uuid.UUID,
    client_msg_id: str,
    body: str,
    now: datetime,
) -> Message:
    """A new message row, its body encrypted with its conversation and sequence number as
    associated data (a ciphertext copied onto another row does not open)."""
    key_id, blob = keyring.encrypt(body, aad=message_aad(conversation_id, seq))
    return Message.model_construct(
        id=new_id(),
        conversation_id=conversation_id,
        seq=seq,
        sender_id=sender_id,
        client_msg_id=client_msg_id,
        key_id=key_id,
        body_ciphertext=blob,
        created_at=now,
        edited_at=None,
        deleted_at=None,
    )


def opened(keyring: MessageKeyring, message: Message) -> str:
    """A stored message's body (the text of a resend's answer, or of a page)."""
    return keyring.decrypt(
        message.key_id,
        message.body_ciphertext,
        aad=message_aad(message.conversation_id, message.seq),
    )


async def record_sent(
    session: AsyncSession, ctx: Context, conversation: Conversation, message: Message
) -> None:
    """A message newly stored in a client's case thread is audited (it is part of the record);
    team and direct conversations are not about a client."""
    if conversation.kind == ConversationKind.case:
        await audit_service.record(
            session,
            ctx,
            action="message.send",
            resource_type="conversation",
            resource_id=str(message.id),
            client_id=conversation.client_id,
        )


async def store_one(*, session: AsyncSession, keyring: MessageKeyring, item: Outgoing) -> Stored:
    """Store one message in ``session`` (the caller commits); what refused it is raised
    (``SenderInactive``, ``ConversationNotFound``, ``NotAMember``). The sender is read again, so
    a deactivation takes effect at once; a resend gets the stored message back."""
    sender = await session.get(User, item.sender_id)
    if sender is None or not sender.is_active:
        raise SenderInactive()
    # Read now: a lost race on the client message id rolls the session back.
    name = sender.display_name
    sent = await send_once(
        session=session,
        ctx=item.ctx,
        keyring=keyring,
        conversation_id=item.conversation_id,
        sender=sender,
        client_msg_id=item.client_msg_id,
        body=item.body,
    )
    conversation = await get(session=session, conversation_id=item.conversation_id)
    if sent.created:
        await record_sent(session, item.ctx, conversation, sent.message)
    members = (
        sent.members
        if sent.members is not None
        else frozenset(await member_ids(session=session, conversation=conversation))
    )
    return Stored(sent.message, sent.created, name, members)


async def page(
    *, session: AsyncSession, conversation_id: uuid.UUID, after_seq: int, limit: int
) -> tuple[list[Message], bool]:
    """Messages after a sequence number, in order; and whether more follow."""
    rows = await session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.seq) > after_seq)
        .order_by(col(Message.seq))
        .limit(limit + 1)
    )
    found = list(rows.all())
    return found[:limit], len(found) > limit


async def before(
    *, session: AsyncSession, conversation_id: uuid.UUID, before_seq: int, limit: int
) -> list[Message]:
    """The latest messages before a sequence number (for scrolling back), oldest first."""
    rows = await session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.seq) < before_seq)
        .order_by(col(Message.seq).desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def get_message(*, session: AsyncSession, conversation_id: uuid.UUID, seq: int) -> Message:
    rows = await session.exec(
        select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq)
    )
    found = rows.first()
    if found is None:
        raise MessageNotFound()
    return found


async def revise(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    message: Message,
    editor: User,
    new_body: str | None,
) -> Message:
    """Edit (new_body) or delete (None) one's own message; the previous text is kept encrypted
    in a revision, and the caller audits the change."""
    if message.sender_id != editor.id:
        raise Forbidden("Only the sender can change a message.")
    if message.deleted_at is not None:
        raise Conflict("That message was deleted.")
    session.add(
        MessageRevision(
            message_id=message.id,
            action="edit" if new_body is not None else "delete",
            key_id=message.key_id,
            body_ciphertext=message.body_ciphertext,
            revised_at=ctx.now(),
            revised_by=editor.id,
        )
    )
    aad = message_aad(message.conversation_id, message.seq)
    if new_body is None:
        message.key_id, message.body_ciphertext = keyring.encrypt("", aad=aad)
        message.deleted_at = ctx.now()
    else:
        message.key_id, message.body_ciphertext = keyring.encrypt(new_body, aad=aad)
        message.edited_at = ctx.now()
    session.add(message)
    await session.flush()
    return message


async def mark_read(
    *,
    session: AsyncSession,
    ctx: Context,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    seq: int,
) -> int:
    """Move the read marker forward (never back); returns the marker now.

    One statement in the usual case (an upsert that only ever raises the marker); a second
    reads the marker when it was already further on.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = ctx.now()
    upsert = dialect.insert(ReadMarker).values(
        id=new_id(),
        conversation_id=conversation_id,
        user_id=user_id,
        last_read_seq=seq,
        updated_at=now,
    )
    moved = await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[ReadMarker.conversation_id, ReadMarker.user_id],
            set_={"last_read_seq": seq, "updated_at": now},
            where=col(ReadMarker.last_read_seq) < seq,
        ).returning(col(ReadMarker.last_read_seq))
    )
    marker = moved.scalar_one_or_none()
    if marker is not None:
        return int(marker)
    rows = await session.exec(
        select(ReadMarker.last_read_seq).where(
            ReadMarker.conversation_id == conversation_id, ReadMarker.user_id == user_id
        )
    )
    return int(rows.one())


async def sender_names(*, session: AsyncSession, messages: list[Message]) -> dict[uuid.UUID, str]:
    ids = {m.sender_id for m in messages}
    if not ids:
        return {}
    rows = await session.exec(select(User.id, User.display_name).where(col(User.id).in_(ids)))
    return dict(rows.all())
