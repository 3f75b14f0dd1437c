"""Notifications: what each person wants to be told of and how, their browsers' push
subscriptions, and one delivery row per notice and channel (docs/notifications.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class Kind(StrEnum):
    """What a notice is about; a person chooses channels per kind."""

    messages = "messages"
    urgent_alerts = "urgent_alerts"
    meetings = "meetings"
    questionnaires = "questionnaires"
    journey_work = "journey_work"
    check_ins = "check_ins"


class Channel(StrEnum):
    email = "email"
    push = "push"
    sms = "sms"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt (the first, or a retry)
    sent = "sent"
    failed = "failed"  # given up: attempts used up, or nowhere left to send it
    cancelled = "cancelled"  # no longer needed (read in the app meanwhile)


class NotificationPreference(SQLModel, table=True):
    """A person's choice for one kind on one channel. Only choices that were made are stored;
    the rest follow the defaults of ``rules.default_enabled``."""

    __tablename__ = "notification_preference"

    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True)
    kind: Kind = Field(primary_key=True, sa_type=String(32))
    channel: Channel = Field(primary_key=True, sa_type=String(16))
    enabled: bool


class NotificationProfile(SQLModel, table=True):
    """Per person: time zone and quiet hours, the SMS number, and whether email to them bounced."""

    __tablename__ = "notification_profile"

    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True)
    time_zone: str = Field(max_length=64)
    # "HH:MM" in the person's time zone; both null means no quiet hours.
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    sms_number: str | None = Field(default=None, max_length=16)
    # Set when the mail server refused the address for good; staff see it on the person's page.
    # The address is kept beside it, so a corrected address is no longer flagged.
    email_bounced_at: datetime | None = timestamp_field(nullable=True)
    email_bounced_address: str | None = Field(default=None, max_length=254)
    updated_at: datetime = timestamp_field()


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys) for one person."""

    __tablename__ = "push_subscription"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    endpoint: str = Field(max_length=2048, unique=True)
    p256dh: str = Field(max_length=128)
    auth: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
    last_sent_at: datetime | None = timestamp_field(nullable=True)


class NotificationDelivery(SQLModel, table=True):
    """One notice to one person on one channel. Written pending in the transaction of what caused
    it; sent by ``service.deliver_due``. It holds a template's name and a link, never text."""

    __tablename__ = "notification_delivery"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    kind: Kind = enum_field()
    notice: str = Field(max_length=48)
    channel: Channel = enum_field(length=16)
    link: str = Field(max_length=200)
    # What the notice is about (a conversation's id, say), so a later event can cancel it.
    topic: str | None = Field(default=None, max_length=64, index=True)
    status: DeliveryStatus = enum_field(DeliveryStatus.pending, length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = timestamp_field(index=True)
    created_at: datetime = timestamp_field()
    sent_at: datetime | None = timestamp_field(nullable=True)
    # The kind of failure ("SMTPRecipientsRefused", "push 410"): never a body or an address.
    last_error: str | None = Field(default=None, max_length=200)
    # A delivery run's claim (a lease): the run sends outside any transaction, so these say the
    # row is in hand; once `claimed_until` has passed, a run that died is taken over.
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = timestamp_field(nullable=True)
