"""One handler per client frame type. Each opens its own database session (one per message),
checks the shared permission policies (``auth.policies``), and replies or publishes. A handler
that stores a change announces its events on its session (app/events.py): they are published
once the session has committed, then the handler replies, as a request's answer follows its
events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn

from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.audit import service as audit_service
from app.clock import as_utc
from app.errors import Problem
from app.messaging import events as messaging_events
from app.messaging import jobs as message_jobs
from app.messaging import service as messaging
from app.messaging.models import Conversation, ConversationKind, Message
from app.messaging.schemas import MessagePublic
from app.users.models import User
from auth.deps import principal_from_token
from auth.policies import messaging as messaging_policies
from realtime import protocol as p
from realtime.connection import Connection, TokenBucket
from realtime.container import Realtime
from realtime.protocol import ErrorCode, FrameError

log = logging.getLogger("teamwell.realtime")


SLUG_CODES = {
    "not-a-member": ErrorCode.not_a_member,
    "not-invited": ErrorCode.not_invited,
    "not-admitted": ErrorCode.not_admitted,
    "meeting-full": ErrorCode.meeting_full,
    "meeting-ended": ErrorCode.meeting_ended,
}


def problem_to_error(exc: Problem, request_id: str | None) -> FrameError:
    if exc.slug in SLUG_CODES:
        code = SLUG_CODES[exc.slug]
    elif exc.status == 404:
        code = ErrorCode.not_found
    elif exc.status in (401, 403):
        code = ErrorCode.forbidden
    elif exc.status == 409:
        code = ErrorCode.conflict
    else:
        code = ErrorCode.invalid_frame
    return FrameError(code, exc.detail, request_id)


async def fresh_user(session: AsyncSession, connection: Connection) -> User:
    """The sender as stored now: a deactivation takes effect on the next frame."""
    user = await session.get(User, connection.user_id)
    if user is None or not user.is_active:
        _account_gone(connection)
    return user


def _account_gone(connection: Connection) -> NoReturn:
    connection.send(p.error_frame(ErrorCode.unauthenticated, "Your account is no longer active."))
    connection.close(p.Close.session_ended, "account no longer active")
    raise FrameError(ErrorCode.unauthenticated, "Your account is no longer active.")


async def _audit_case_access(
    session: AsyncSession,
    connection: Connection,
    conversation: Conversation,
    action: str,
    resource_id: object = None,
) -> None:
    if conversation.kind == ConversationKind.case:
        await audit_service.record(
            session,
            connection.ctx,
            action=action,
            resource_type="conversation",
            resource_id=str(resource_id or conversation.id),
            client_id=conversation.client_id,
        )


def _message_view(
    rt: Realtime, message: Message, sender_name: str | None, body: str | None = None
) -> MessagePublic:
    return messaging.to_public(message, rt.keyring, sender_name, body=body)


# --- handlers ------------------------------------------------------------------------------------


async def on_ping(rt: Realtime, connection: Connection, frame: p.Ping) -> None:
    if connection.guest is None:  # a guest has no presence to keep up
        await rt.presence.heartbeat(connection)
    connection.send(p.Pong(id=frame.id))


async def on_auth(rt: Realtime, connection: Connection, frame: p.Auth) -> None:
    """Re-authenticate in place with a fresh access token (before or after it expired)."""
    async with rt.sessions() as session:
        try:
            principal = await principal_from_token(
                session=session,
                runtime=rt.runtime,
                token=frame.token,
                ip=connection.ctx.actor.ip,
                user_agent=connection.ctx.actor.user_agent,
            )
        except Problem as exc:
            raise FrameError(ErrorCode.unauthenticated, exc.detail, frame.id) from None
    if principal.user.id != connection.user_id:
        connection.send(
            p.error_frame(ErrorCode.unauthenticated, "That token is someone else's.", frame.id)
        )
        connection.close(p.Close.unauthenticated, "a token of another person")
        return
    claims = rt.runtime.signer.read_access_token(frame.token, now=rt.runtime.now())
    connection.reauthenticated(principal, claims.expires_at)
    connection.grace_deadline = None
    connection.send(p.Ack(id=frame.id, expires_at=claims.expires_at))


async def on_presence_set(rt: Realtime, connection: Connection, frame: p.PresenceSet) -> None:
    await rt.presence.set_state(connection, frame.state)
    connection.send(p.Ack(id=frame.id))


async def on_activity(rt: Realtime, connection: Connection, frame: p.Activity) -> None:
    await rt.presence.activity(connection)


async def on_message_send(rt: Realtime, connection: Connection, frame: p.MessageSend) -> None:
    await start_message_send(rt, connection, frame)


def start_message_send(
    rt: Realtime, connection: Connection, frame: p.MessageSend
) -> Coroutine[Any, Any, None]:
    """Check the message and hand it to the message writer now; what is returned finishes it
    (waits for the commit, acknowledges, announces) or raises the refusal. The gateway reads
    the socket's next frames meanwhile (see STARTED_AT_ONCE): a client's messages are stored
    in the order it sent them, several to a commit."""
    limit = rt.settings.message_max_chars
    if len(frame.body) > limit:
        return raises(
            FrameError(
                ErrorCode.message_too_long,
                f"Messages are limited to {limit} characters.",
                frame.id,
            )
        )
    bucket = rt.send_bucket(connection)
    if not bucket.take():
        return raises(
            rate_limited(
                bucket,
                f"Slow down: at most {rt.settings.messages_per_second:g} messages a second.",
                frame.id,
            )
        )
    storing = rt.writer().submit(
        messaging.Outgoing(
            ctx=connection.ctx,
            conversation_id=frame.conversation_id,
            sender_id=connection.user_id,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
        )
    )
    return _finish_message_send(rt, connection, frame, storing)


def rate_limited(bucket: TokenBucket, message: str, request_id: str | None) -> FrameError:
    """The refusal of a frame over its rate, saying when to send it again. It slows the client
    down without cutting it off: it is not counted towards TEAMWELL_WS_MAX_CONSECUTIVE_ERRORS
    (an outbox flushing after a reconnect is not abuse, and closing it would lose nothing but
    time while costing the client its socket)."""
    return FrameError(
        ErrorCode.rate_limited, message, request_id, retry_after_ms=bucket.retry_after_ms()
    )


async def raises(exc: Exception) -> None:
    """Handling that fails with ``exc`` when it is awaited (in its turn)."""
    raise exc


async def _finish_message_send(
    rt: Realtime,
    connection: Connection,
    frame: p.MessageSend,
    storing: asyncio.Future[messaging.Stored],
) -> None:
    try:
        stored = await storing
    except messaging.SenderInactive:
        _account_gone(connection)
    message = _message_view(rt, stored.message, stored.sender_name, stored.body)
    # Stored (committed) before it is acknowledged.
    connection.send(p.MessageAck(id=frame.id, message=message, duplicate=not stored.created))
    # Published here, not by a session after its commit (app/events.py): the message writer
    # stores by group commit on the database driver (app/messaging/batch.py), and has said by
    # now that this message is durably stored. A resend (duplicate) is announced again: its
    # first announcement may never have gone out (the process died between storing and
    # publishing), and members drop a seq they have.
    await rt.hub.publish(
        messaging_events.message_new(members=stored.members, message=message, origin=connection.id)
    )
    if stored.created:
        await _schedule_message_notices(rt, connection, stored)


async def _schedule_message_notices(
    rt: Realtime, connection: Connection, stored: messaging.Stored
) -> None:
    """After the message is stored and announced: each other member's digest notice
    (app/messaging/jobs.py), in a short transaction of its own. Whichever path the writer
    stored it by, it ends here. A failure here loses a notice, never the message, so it is
    logged rather than raised to the sender."""
    stored_at = as_utc(stored.message.created_at)
    recipients = rt.digests.uncovered(
        sorted(stored.members - {connection.user_id}, key=str), stored_at, rt.settings
    )
    if not recipients:
        return
    try:
        async with rt.sessions() as session:
            queued = await message_jobs.schedule_digests(
                session, recipients=recipients, stored_at=stored_at, settings=rt.settings
            )
            await session.commit()
        rt.digests.remember(queued, stored_at, rt.settings)
    except Exception:
        log.exception("message notices for a stored message could not be scheduled")


async def _revise(
    rt: Realtime,
    connection: Connection,
    frame: p.MessageEdit | p.MessageDelete,
    new_body: str | None,
) -> None:
    async with events.transaction(rt.sessions, rt.hub) as session:
        editor = await fresh_user(session, connection)
        conversation = await messaging_policies.member_conversation(
            session, editor, frame.conversation_id
        )
        message = await messaging.get_message(
            session=session, conversation_id=conversation.id, seq=frame.seq
        )
        await messaging.revise(
            session=session,
            ctx=connection.ctx,
            keyring=rt.keyring,
            message=message,
            editor=editor,
            new_body=new_body,
        )
        action = "message.edit" if new_body is not None else "message.delete"
        await audit_service.record(
            session,
            connection.ctx,
            action=action,
            resource_type="message",
            resource_id=message.id,
            client_id=conversation.client_id,
            detail=f"conversation {conversation.id} seq {message.seq}",
        )
        members = await messaging.member_ids(session=session, conversation=conversation)
        events.announce(
            session,
            messaging_events.message_updated(
                members=members, message=_message_view(rt, message, editor.display_name)
            ),
        )
    connection.send(p.Ack(id=frame.id))


async def on_message_edit(rt: Realtime, connection: Connection, frame: p.MessageEdit) -> None:
    if len(frame.body) > rt.settings.message_max_chars:
        raise FrameError(
            ErrorCode.message_too_long,
            f"Messages are limited to {rt.settings.message_max_chars} characters.",
            frame.id,
        )
    await _revise(rt, connection, frame, frame.body)


async def on_message_delete(rt: Realtime, connection: Connection, frame: p.MessageDelete) -> None:
    await _revise(rt, connection, frame, None)


async def on_sync(rt: Realtime, connection: Connection, frame: p.Sync) -> None:
    """Everything after ``after_seq``, in order, a page at a time."""
    limit = min(frame.limit or rt.settings.sync_page_max, rt.settings.sync_page_max)
    async with rt.sessions() as session:
        reader = await fresh_user(session, connection)
        conversation = await messaging_policies.member_conversation(
            session, reader, frame.conversation_id
        )
        messages, has_more = await messaging.page(
            session=session,
            conversation_id=conversation.id,
            after_seq=frame.after_seq,
            limit=limit,
        )
        names = await messaging.sender_names(session=session, messages=messages)
        await _audit_case_access(session, connection, conversation, "case_thread.read")
        await session.commit()
    connection.send(
        p.SyncPage(
            id=frame.id,
            conversation_id=conversation.id,
            messages=[_message_view(rt, m, names.get(m.sender_id)) for m in messages],
            has_more=has_more,
            last_seq=conversation.last_seq,
        )
    )


async def on_read(rt: Realtime, connection: Connection, frame: p.Read) -> None:
    async with events.transaction(rt.sessions, rt.hub) as session:
        reader = await fresh_user(session, connection)
        conversation = await messaging_policies.member_conversation(
            session, reader, frame.conversation_id
        )
        seq = min(frame.seq, conversation.last_seq)
        marker = await messaging.mark_read(
            session=session,
            ctx=connection.ctx,
            conversation_id=conversation.id,
            user_id=reader.id,
            seq=seq,
        )
        await message_jobs.read_in_app(session, user_id=reader.id, now=connection.ctx.now())
        events.announce(
            session,
            messaging_events.read_up_to(
                members=await messaging.member_ids(session=session, conversation=conversation),
                conversation_id=conversation.id,
                reader_id=reader.id,
                seq=marker,
                origin=connection.id,
            ),
        )
    if frame.id is not None:
        connection.send(p.Ack(id=frame.id, seq=marker))


async def on_typing(rt: Realtime, connection: Connection, frame: p.Typing) -> None:
    """Ephemeral: relayed to the other members now, never stored."""
    bucket = rt.typing_bucket(connection)
    if not bucket.take():
        raise rate_limited(bucket, "Typing notices are limited.", None)
    async with rt.sessions() as session:
        user = await fresh_user(session, connection)
        conversation = await messaging_policies.member_conversation(
            session, user, frame.conversation_id
        )
        members = await messaging.member_ids(session=session, conversation=conversation)
    await rt.hub.send_to_users(
        members - {user.id},
        p.TypingNotice(
            conversation_id=conversation.id,
            user_id=user.id,
            name=user.display_name,
            active=frame.active,
        ),
    )


Handler = Callable[[Realtime, Connection, Any], Awaitable[None]]
# Frames whose handling starts as soon as they are read and finishes later, in order, while the
# socket's next frames are read (realtime/gateway.py): the start checks and hands over, and the
# coroutine it returns finishes. Each also has its handler above, which does both at once.
Starter = Callable[[Realtime, Connection, Any], Coroutine[Any, Any, None]]
STARTED_AT_ONCE: dict[str, Starter] = {"message.send": start_message_send}

HANDLERS: dict[str, Handler] = {
    "ping": on_ping,
    "auth": on_auth,
    "presence.set": on_presence_set,
    "activity": on_activity,
    "message.send": on_message_send,
    "message.edit": on_message_edit,
    "message.delete": on_message_delete,
    "sync": on_sync,
    "read": on_read,
    "typing": on_typing,
}
