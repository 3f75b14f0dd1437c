"""What the notifications API accepts and returns (docs/api.md, "Notifications")."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.notifications import rules
from app.notifications.models import Channel, Kind

ClockTime = Annotated[
    str, StringConstraints(strict=True, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
]
# E.164: "+", a country code and the number, 8 to 15 digits in all ("+447700900123").
SmsNumber = Annotated[str, StringConstraints(strict=True, pattern=r"^\+[1-9][0-9]{7,14}$")]


def _known_zone(name: str) -> str:
    rules.zone(name)
    return name


TimeZone = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=64), AfterValidator(_known_zone)
]


class ChannelChoices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StrictBool
    push: StrictBool
    sms: StrictBool


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: ClockTime = Field(description="Local time quiet hours begin, HH:MM.")
    end: ClockTime = Field(description="Local time they end, HH:MM; before start means overnight.")


class PreferencesUpdate(BaseModel):
    """The whole of a person's notification settings, replaced at once."""

    model_config = ConfigDict(extra="forbid")

    kinds: dict[Kind, ChannelChoices] = Field(description="Every kind, each with every channel.")
    time_zone: TimeZone = Field(description="An IANA time zone, such as Europe/London.")
    quiet_hours: QuietHoursIn | None = Field(description="null: no quiet hours.")
    sms_number: SmsNumber | None = Field(description="E.164, such as +447700900123; null: none.")


class PushSubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint: str
    created_at: datetime
    last_sent_at: datetime | None


class Preferences(BaseModel):
    kinds: dict[Kind, ChannelChoices]
    time_zone: str
    quiet_hours: QuietHoursIn | None
    sms_number: str | None
    sms_available: bool = Field(description="Whether this service sends SMS at all.")
    urgent_alerts_required: bool = Field(
        description="True for clinicians: urgent alerts cannot be switched off on every channel."
    )
    email_bounced: bool = Field(description="Email to the person's address was refused for good.")
    push_public_key: str = Field(
        description="The VAPID application server key to subscribe with (base64url)."
    )
    push_subscriptions: list[PushSubscriptionPublic]


def _base64url_of(size: int) -> AfterValidator:
    def check(value: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not base64url") from exc
        if len(raw) != size:
            raise ValueError(f"must decode to {size} bytes")
        return value

    return AfterValidator(check)


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]+=*$", max_length=128),
        _base64url_of(65),
    ]
    auth: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]+=*$", max_length=64),
        _base64url_of(16),
    ]


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()`` (``expirationTime`` is accepted and ignored)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, StringConstraints(strict=True, min_length=8, max_length=2048)]
    keys: PushKeys
    expirationTime: int | None = None  # the browser's own field name


class FailedDelivery(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Kind
    channel: Channel
    created_at: datetime
    attempts: int
    last_error: str | None


class NotificationStatus(BaseModel):
    """What staff see of a person's notifications: whether their email bounced, and the
    deliveries that failed lately (no content: a notice's kind and channel)."""

    email_bounced_at: datetime | None
    email_bounced_address: str | None
    failed: list[FailedDelivery]
