"""What messaging announces to a conversation's members: a new message, an edited or deleted
one, and how far someone has read. ``typing`` is relayed, never stored, so it is no event.

Edits and read markers are published after their commit like every other event
(app/events.py). A new message is the exception: the message writer stores messages by group
commit on the database driver itself (app/messaging/batch.py), with no session to queue on, and
``message.new`` is published by the sender's handler once the writer says the message is
stored (realtime/handlers.py), which is the same guarantee reached by its own path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from app.events import Event
from app.messaging.schemas import MessagePublic
from realtime import protocol as p


class MessageNew(Event):
    frame: p.MessageNew


class MessageUpdated(Event):
    frame: p.MessageUpdated


class ReadUpTo(Event):
    frame: p.Receipt


def message_new(*, members: Iterable[uuid.UUID], message: MessagePublic, origin: str) -> MessageNew:
    """Not echoed to the sending socket, which has its ``message.ack``."""
    return MessageNew(to=frozenset(members), frame=p.MessageNew(message=message), origin=origin)


def message_updated(*, members: Iterable[uuid.UUID], message: MessagePublic) -> MessageUpdated:
    return MessageUpdated(to=frozenset(members), frame=p.MessageUpdated(message=message))


def read_up_to(
    *,
    members: Iterable[uuid.UUID],
    conversation_id: uuid.UUID,
    reader_id: uuid.UUID,
    seq: int,
    origin: str,
) -> ReadUpTo:
    """Not echoed to the reading socket, which has its ``ack``."""
    return ReadUpTo(
        to=frozenset(members),
        frame=p.Receipt(conversation_id=conversation_id, user_id=reader_id, seq=seq),
        origin=origin,
    )
