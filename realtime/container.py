"""The realtime gateway's container: what the frame handlers and the gateway need, built once
per process by the application (app/main.py) and kept as ``app.state.realtime``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.messaging.jobs import ScheduledDigests
from app.messaging.keyring import MessageKeyring
from app.messaging.writer import MessageWriter
from auth.service import AuthRuntime
from realtime.connection import Connection, TokenBucket
from realtime.hub import Hub
from realtime.presence_service import PresenceService


@dataclass
class Realtime:
    """What the handlers need, built once per process."""

    settings: Settings
    runtime: AuthRuntime
    sessions: async_sessionmaker[AsyncSession]
    keyring: MessageKeyring
    hub: Hub
    presence: PresenceService
    send_buckets: dict[Any, TokenBucket] = field(default_factory=dict)
    typing_buckets: dict[Any, TokenBucket] = field(default_factory=dict)
    signal_buckets: dict[Any, TokenBucket] = field(default_factory=dict)
    # Timers that outlive the frame that started them (a dropped participant's grace time).
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Group commit for message.send (app/messaging/writer.py), made on first use.
    message_writer: MessageWriter | None = None
    # The message digests this process knows are still to come (app/messaging/jobs.py).
    digests: ScheduledDigests = field(default_factory=ScheduledDigests)

    def writer(self) -> MessageWriter:
        if self.message_writer is None:
            self.message_writer = MessageWriter(
                self.sessions, self.keyring, on_task=self._keep_in_background
            )
        return self.message_writer

    def _keep_in_background(self, task: asyncio.Task[None]) -> None:
        # Cancelled with the other timers when the application stops.
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def send_bucket(self, connection: Connection) -> TokenBucket:
        # Per person (all their devices on this process), so extra sockets buy no extra rate.
        bucket = self.send_buckets.get(connection.user_id)
        if bucket is None:
            bucket = TokenBucket(self.settings.messages_per_second, self.settings.message_burst)
            self.send_buckets[connection.user_id] = bucket
        return bucket

    def typing_bucket(self, connection: Connection) -> TokenBucket:
        bucket = self.typing_buckets.get(connection.id)
        if bucket is None:
            rate = self.settings.typing_per_second
            bucket = TokenBucket(rate, max(1, int(rate)))
            self.typing_buckets[connection.id] = bucket
        return bucket
