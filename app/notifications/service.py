"""Notifications: preferences, push subscriptions, ``notify`` (in the caller's transaction)
and ``deliver_due`` (sends what is due; the scheduled work calls it). The only SQL here."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import metrics
from app.config import Settings, get_settings
from app.errors import Conflict, NotFound, Problem, Unprocessable
from app.notifications import rules
from app.notifications.channels import (
    AddressBounced,
    Channels,
    DeliveryFailed,
    PushTarget,
    SubscriptionGone,
    send_email,
    vapid_public_key,
)
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Kind,
    NotificationDelivery,
    NotificationPreference,
    NotificationProfile,
    PushSubscription,
)
from app.notifications.notices import TEMPLATES, Notice, Rendered, checked_link, render
from app.notifications.schemas import (
    ChannelChoices,
    FailedDelivery,
    NotificationStatus,
    Preferences,
    PreferencesUpdate,
    PushSubscriptionIn,
    PushSubscriptionPublic,
    QuietHoursIn,
)
from app.users.models import User
from auth.email import EmailMessage

log = logging.getLogger("teamwell.notifications")
FAILED_SHOWN = 20


class UrgentAlertsRequired(Unprocessable):
    slug, title = "urgent-alerts-required", "Urgent alerts must reach you somehow"


class SmsNumberRequired(Unprocessable):
    slug, title = "sms-number-required", "Give a number for text messages"


class SmsUnavailable(Unprocessable):
    slug, title = "sms-unavailable", "This service does not send text messages"


class PushEndpointRefused(Unprocessable):
    slug, title = "push-endpoint-refused", "Not a push service address"


class TooManyPushSubscriptions(Conflict):
    slug, title = "too-many-push-subscriptions", "Too many devices receive notifications"


class PushSubscriptionNotFound(NotFound):
    slug, title = "push-subscription-not-found", "No such push subscription"


# --- preferences -------------------------------------------------------------------------------


async def _profile(session: AsyncSession, user_id: uuid.UUID) -> NotificationProfile | None:
    return await session.get(NotificationProfile, user_id)


async def _choices(session: AsyncSession, user_id: uuid.UUID) -> rules.Choices:
    rows = await session.exec(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    return {(Kind(p.kind), Channel(p.channel)): p.enabled for p in rows}


def _quiet(profile: NotificationProfile | None, default_zone: str) -> rules.QuietHours | None:
    if profile is None:
        return rules.QuietHours(
            rules.parse_clock_time(rules.DEFAULT_QUIET_START),
            rules.parse_clock_time(rules.DEFAULT_QUIET_END),
            default_zone,
        )
    if profile.quiet_start is None or profile.quiet_end is None:
        return None
    return rules.QuietHours(
        rules.parse_clock_time(profile.quiet_start),
        rules.parse_clock_time(profile.quiet_end),
        profile.time_zone,
    )


def _bounced(profile: NotificationProfile | None, user: User) -> bool:
    return bool(
        profile and profile.email_bounced_at and profile.email_bounced_address == user.email
    )


async def preferences(*, session: AsyncSession, user: User, settings: Settings) -> Preferences:
    profile = await _profile(session, user.id)
    choices = rules.effective(user.role, await _choices(session, user.id))
    sms_available = settings.sms_backend != "off"
    quiet = _quiet(profile, settings.notification_default_time_zone)
    subscriptions = await session.exec(
        select(PushSubscription)
        .where(PushSubscription.user_id == user.id)
        .order_by(col(PushSubscription.created_at))
    )
    return Preferences(
        kinds={
            kind: ChannelChoices(
                email=choices[(kind, Channel.email)],
                push=choices[(kind, Channel.push)],
                # Where the service sends no SMS, none is shown as on.
                sms=choices[(kind, Channel.sms)] and sms_available,
            )
            for kind in Kind
        },
        time_zone=profile.time_zone if profile else settings.notification_default_time_zone,
        quiet_hours=(
            QuietHoursIn(start=f"{quiet.start:%H:%M}", end=f"{quiet.end:%H:%M}") if quiet else None
        ),
        sms_number=profile.sms_number if profile else None,
        sms_available=sms_available,
        urgent_alerts_required=rules.is_clinician(user.role),
        email_bounced=_bounced(profile, user),
        push_public_key=vapid_public_key(settings.secret("vapid_private_key")),
        push_subscriptions=[PushSubscriptionPublic.model_validate(s) for s in subscriptions],
    )


async def update_preferences(
    *, session: AsyncSession, user: User, data: PreferencesUpdate, settings: Settings, now: datetime
) -> Preferences:
    missing = [kind.value for kind in Kind if kind not in data.kinds]
    if missing:
        raise Problem(f"Every kind needs its channels; missing: {', '.join(missing)}.")
    choices = {
        (kind, channel): getattr(data.kinds[kind], channel.value)
        for kind in Kind
        for channel in rules.CHANNEL_ORDER
    }
    if not rules.urgent_reach_kept(user.role, choices):
        raise UrgentAlertsRequired(
            "Urgent alerts reach clinicians on at least one channel: keep one switched on."
        )
    wants_sms = any(on for (_kind, channel), on in choices.items() if channel == Channel.sms)
    if wants_sms and settings.sms_backend == "off":
        raise SmsUnavailable("This service does not send text messages: switch SMS off.")
    if wants_sms and data.sms_number is None:
        raise SmsNumberRequired("Give a mobile number to receive text messages.")
    await session.exec(
        delete(NotificationPreference).where(col(NotificationPreference.user_id) == user.id)
    )
    session.add_all(
        NotificationPreference(user_id=user.id, kind=kind, channel=channel, enabled=on)
        for (kind, channel), on in choices.items()
    )
    profile = await _profile(session, user.id) or NotificationProfile(
        user_id=user.id, time_zone=data.time_zone, updated_at=now
    )
    profile.time_zone = data.time_zone
    profile.quiet_start = data.quiet_hours.start if data.quiet_hours else None
    profile.quiet_end = data.quiet_hours.end if data.quiet_hours else None
    profile.sms_number = data.sms_number
    profile.updated_at = now
    session.add(profile)
    await session.flush()
    return await preferences(session=session, user=user, settings=settings)


# --- push subscriptions ------------------------------------------------------------------------


def _endpoint_allowed(endpoint: str, settings: Settings) -> bool:
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    schemes = ("https",) if settings.push_endpoint_https_only else ("https", "http")
    return parts.scheme in schemes and bool(parts.hostname) and not parts.username


async def add_push_subscription(
    *,
    session: AsyncSession,
    user: User,
    data: PushSubscriptionIn,
    settings: Settings,
    now: datetime,
) -> PushSubscription:
    """Register a browser's subscription. An endpoint belongs to one browser: registered by
    another person (a shared device, signed in anew), it moves to them, so the one before is no
    longer notified there."""
    if not _endpoint_allowed(data.endpoint, settings):
        raise PushEndpointRefused("A push subscription's endpoint is an https address.")
    existing = (
        await session.exec(
            select(PushSubscription).where(PushSubscription.endpoint == data.endpoint)
        )
    ).first()
    if existing is None or existing.user_id != user.id:
        count = (
            await session.exec(select(func.count()).where(col(PushSubscription.user_id) == user.id))
        ).one()
        if count >= settings.push_subscriptions_per_person:
            raise TooManyPushSubscriptions(
                f"At most {settings.push_subscriptions_per_person} devices receive "
                "notifications: turn them off on one you no longer use."
            )
    subscription = existing or PushSubscription(
        user_id=user.id, endpoint=data.endpoint, p256dh="", auth="", created_at=now
    )
    if subscription.user_id != user.id:
        subscription.user_id = user.id
        subscription.created_at = now
    subscription.p256dh = data.keys.p256dh
    subscription.auth = data.keys.auth
    session.add(subscription)
    await session.flush()
    return subscription


async def remove_push_subscription(
    *, session: AsyncSession, user: User, subscription_id: uuid.UUID
) -> None:
    subscription = await session.get(PushSubscription, subscription_id)
    if subscription is None or subscription.user_id != user.id:
        raise PushSubscriptionNotFound()
    await session.delete(subscription)
    await session.flush()


# --- notify ------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    notice: Notice,
    link: str,
    now: datetime,
    topic: str | None = None,
    sms_available: bool = True,
    default_time_zone: str = rules.DEFAULT_TIME_ZONE,
) -> list[NotificationDelivery]:
    """Tell a person of something, in the caller's transaction: one pending delivery per channel
    their preferences and means choose (none for an inactive person). What it says is the
    notice's fixed text (``notices.TEMPLATES``) with ``link``; nothing else can be given."""
    template = TEMPLATES[notice]
    checked_link(link)
    user = await session.get(User, person_id)
    if user is None or not user.is_active:
        return []
    profile = await _profile(session, person_id)
    available: list[Channel] = []
    if user.email and not _bounced(profile, user):
        available.append(Channel.email)
    subscribed = (
        await session.exec(select(func.count()).where(col(PushSubscription.user_id) == person_id))
    ).one()
    if subscribed:
        available.append(Channel.push)
    if sms_available and profile is not None and profile.sms_number:
        available.append(Channel.sms)
    choices = rules.effective(user.role, await _choices(session, person_id))
    channels = rules.channels_for(user.role, template.kind, choices, available)
    if not channels:
        return []
    due = rules.first_attempt(template.kind, now, _quiet(profile, default_time_zone))
    deliveries = [
        NotificationDelivery(
            user_id=person_id,
            kind=template.kind,
            notice=notice.value,
            channel=channel,
            link=link,
            topic=topic,
            next_attempt_at=due,
            created_at=now,
        )
        for channel in channels
    ]
    session.add_all(deliveries)
    await session.flush()
    return deliveries


async def cancel(session: AsyncSession, *, person_id: uuid.UUID, topic: str, now: datetime) -> int:
    """Cancel a person's pending notices about ``topic`` (they read it in the app meanwhile)."""
    rows = await session.exec(
        select(NotificationDelivery).where(
            NotificationDelivery.user_id == person_id,
            NotificationDelivery.topic == topic,
            NotificationDelivery.status == DeliveryStatus.pending,
        )
    )
    cancelled = 0
    for delivery in rows:
        delivery.status = DeliveryStatus.cancelled
        delivery.sent_at = None
        session.add(delivery)
        cancelled += 1
    await session.flush()
    return cancelled


# --- delivering --------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    """One claimed delivery and all that sending it needs, read in the claim's transaction so
    that the send itself touches no database."""

    id: uuid.UUID
    user_id: uuid.UUID
    channel: Channel
    attempts: int
    rendered: Rendered | None = None
    address: str | None = None  # the email address or the SMS number
    push: tuple[tuple[uuid.UUID, PushTarget], ...] = ()
    refused: DeliveryFailed | None = None  # known before sending: nothing is sent


@dataclass
class _Outcome:
    failure: DeliveryFailed | None = None
    pushed: list[uuid.UUID] = field(default_factory=list)  # subscriptions that took it
    gone: list[uuid.UUID] = field(default_factory=list)  # subscriptions the service forgot
    bounced: str | None = None  # the address the mail server refused for good


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    channels: Channels,
    settings: Settings,
) -> DeliveryReport:
    """Send the pending deliveries due by ``now`` (at most ``notification_batch_size``, oldest
    first) in three steps, so that no transaction is open while a notice is on the network
    (a send may take ``notification_send_timeout_seconds``; a transaction held across it would
    hold SQLite's write lock, or PostgreSQL's row locks and a connection, as long):

    1. claim them in a short transaction: a lease (``claimed_by``, ``claimed_until``) and an
       attempt, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so runs at once never take the
       same row; read what sending needs; commit;
    2. send, at most ``notification_send_concurrency`` at once, in no transaction;
    3. record each outcome in a short transaction of its own, if the claim is still this run's.

    A run that dies after claiming leaves its rows pending: once their lease has passed, a later
    run claims and sends them again (at least once). A failure is tried again after a doubling
    delay, up to ``notification_max_attempts``; a permanent one is not."""
    claim = uuid.uuid4().hex
    async with sessions() as session:
        claimed = await _claim(session, claim=claim, now=now, settings=settings)
        await session.commit()
    report = DeliveryReport()
    bound = asyncio.Semaphore(settings.notification_send_concurrency)

    async def one(item: _Claimed) -> None:
        async with bound:
            outcome = await _send(item, channels)
        async with sessions() as session:
            await _record(
                session, item, outcome, claim=claim, now=now, settings=settings, report=report
            )
            await session.commit()

    # Every send runs to its end even if recording another failed (the database went away):
    # what was not recorded is sent again after its lease.
    results = await asyncio.gather(*(one(item) for item in claimed), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return report


def _claimable(now: datetime) -> Any:
    return and_(
        col(NotificationDelivery.status) == DeliveryStatus.pending,
        col(NotificationDelivery.next_attempt_at) <= now,
        or_(
            col(NotificationDelivery.claimed_until).is_(None),
            col(NotificationDelivery.claimed_until) <= now,
        ),
    )


async def _claim(
    session: AsyncSession, *, claim: str, now: datetime, settings: Settings
) -> list[_Claimed]:
    due = await session.exec(
        select(NotificationDelivery)
        .where(_claimable(now))
        .order_by(col(NotificationDelivery.next_attempt_at), col(NotificationDelivery.id))
        .limit(settings.notification_batch_size)
        .with_for_update(skip_locked=True)
    )
    until = now + timedelta(seconds=settings.notification_claim_seconds)
    claimed: list[_Claimed] = []
    for delivery in list(due):
        delivery.attempts += 1
        delivery.claimed_by = claim
        delivery.claimed_until = until
        session.add(delivery)
        claimed.append(await _prepare(session, delivery, settings=settings))
    await session.flush()
    return claimed


async def _prepare(
    session: AsyncSession,
    delivery: NotificationDelivery,
    *,
    settings: Settings,
) -> _Claimed:
    """What sending ``delivery`` needs: the rendered notice and where it goes, or why not."""
    base = _Claimed(
        id=delivery.id,
        user_id=delivery.user_id,
        channel=Channel(delivery.channel),
        attempts=delivery.attempts,
    )
    user = await session.get(User, delivery.user_id)
    if user is None or not user.is_active:
        return replace(base, refused=DeliveryFailed("person inactive", permanent=True))
    rendered = render(Notice(delivery.notice), delivery.link, settings.public_url)
    profile = await _profile(session, user.id)
    if delivery.channel == Channel.email:
        if _bounced(profile, user):
            return replace(base, refused=DeliveryFailed("address bounced before", permanent=True))
        return replace(base, rendered=rendered, address=user.email)
    if delivery.channel == Channel.sms:
        if profile is None or not profile.sms_number:
            return replace(base, refused=DeliveryFailed("no SMS number", permanent=True))
        return replace(base, rendered=rendered, address=profile.sms_number)
    subscriptions = await session.exec(
        select(PushSubscription).where(PushSubscription.user_id == user.id)
    )
    targets = tuple((s.id, PushTarget(s.endpoint, s.p256dh, s.auth)) for s in subscriptions)
    return replace(base, rendered=rendered, push=targets)


async def _send(item: _Claimed, channels: Channels) -> _Outcome:
    """Hand one notice over to its channel: no database here."""
    if item.refused is not None:
        return _Outcome(failure=item.refused)
    assert item.rendered is not None
    rendered = item.rendered
    try:
        if item.channel == Channel.email:
            assert item.address is not None
            await send_email(
                channels.email,
                EmailMessage(to=item.address, subject=rendered.title, text=rendered.email_text),
            )
        elif item.channel == Channel.sms:
            assert item.address is not None
            if not channels.sms_configured:
                raise DeliveryFailed("no SMS number", permanent=True)
            await channels.sms.send(item.address, title=rendered.title, link=rendered.url)
        else:
            return await _push(item, channels, rendered)
    except AddressBounced as exc:
        return _Outcome(failure=exc, bounced=item.address)
    except DeliveryFailed as exc:
        return _Outcome(failure=exc)
    return _Outcome()


async def _push(item: _Claimed, channels: Channels, rendered: Rendered) -> _Outcome:
    """To every browser the person subscribed; sent when one took it. A subscription the push
    service no longer knows is removed (when the outcome is recorded)."""
    payload = {"title": rendered.title, "body": rendered.text, "url": rendered.url}
    outcome = _Outcome()
    failure: DeliveryFailed | None = None
    for subscription_id, target in item.push:
        try:
            await channels.push.send(target, payload)
        except SubscriptionGone as exc:
            outcome.gone.append(subscription_id)
            failure = failure or exc
        except DeliveryFailed as exc:
            failure = exc
        else:
            outcome.pushed.append(subscription_id)
    if outcome.pushed:
        return outcome
    if failure is None:
        failure = DeliveryFailed("no push subscription", permanent=True)
    elif isinstance(failure, SubscriptionGone):
        failure = DeliveryFailed(failure.reason, permanent=True)
    outcome.failure = failure
    return outcome


async def _record(
    session: AsyncSession,
    item: _Claimed,
    outcome: _Outcome,
    *,
    claim: str,
    now: datetime,
    settings: Settings,
    report: DeliveryReport,
) -> None:
    """Store one send's outcome, if the claim is still this run's (a run slower than its lease
    may have been taken over: the run that took it records it)."""
    delivery = (
        await session.exec(
            select(NotificationDelivery)
            .where(
                col(NotificationDelivery.id) == item.id,
                col(NotificationDelivery.claimed_by) == claim,
            )
            .with_for_update()
        )
    ).first()
    for subscription_id in outcome.gone:
        gone = await session.get(PushSubscription, subscription_id)
        if gone is not None:
            await session.delete(gone)
    for subscription_id in outcome.pushed:
        taken = await session.get(PushSubscription, subscription_id)
        if taken is not None:
            taken.last_sent_at = now
            session.add(taken)
    if outcome.bounced is not None:
        await _flag_bounce(session, item.user_id, outcome.bounced, now)
    if delivery is None:
        log.warning("notification %s was taken over by another run before it was recorded", item.id)
        return
    delivery.claimed_by = None
    delivery.claimed_until = None
    failure = outcome.failure
    if failure is None:
        # Sent, even if cancelled meanwhile: it was.
        delivery.status = DeliveryStatus.sent
        delivery.sent_at = now
        delivery.last_error = None
        report.sent += 1
        metrics.notification_delivery(item.channel, "sent")
    else:
        delivery.last_error = failure.reason
        report.errors.append(failure.reason)
        if delivery.status != DeliveryStatus.pending:
            # Cancelled while in flight: it stays so, and is not tried again.
            metrics.notification_delivery(item.channel, "failed")
        elif failure.permanent or delivery.attempts >= settings.notification_max_attempts:
            delivery.status = DeliveryStatus.failed
            report.failed += 1
            metrics.notification_delivery(item.channel, "failed")
        else:
            delivery.next_attempt_at = now + rules.retry_delay(
                delivery.attempts,
                base_seconds=settings.notification_retry_base_seconds,
                max_seconds=settings.notification_retry_max_seconds,
            )
            report.retrying += 1
            metrics.notification_delivery(item.channel, "retrying")
        log.warning(
            "notification %s (%s) to person %s failed, attempt %d: %s",
            delivery.id,
            delivery.channel,
            delivery.user_id,
            delivery.attempts,
            failure.reason,
        )
    session.add(delivery)
    await session.flush()


async def _flag_bounce(
    session: AsyncSession, user_id: uuid.UUID, address: str, now: datetime
) -> None:
    user = await session.get(User, user_id)
    if user is None:
        return
    profile = await _profile(session, user_id)
    if profile is None:
        # Made here, it keeps the defaults the person had without one.
        profile = NotificationProfile(
            user_id=user_id,
            time_zone=rules.DEFAULT_TIME_ZONE,
            quiet_start=rules.DEFAULT_QUIET_START,
            quiet_end=rules.DEFAULT_QUIET_END,
            updated_at=now,
        )
    # The address that bounced, not the one the person has now: a corrected address, changed
    # while the notice was on its way, is not flagged.
    profile.email_bounced_at = now
    profile.email_bounced_address = address
    session.add(profile)
    log.warning("email to person %s bounced; flagged for staff", user_id)


async def status(*, session: AsyncSession, user: User) -> NotificationStatus:
    profile = await _profile(session, user.id)
    failed = await session.exec(
        select(NotificationDelivery)
        .where(
            NotificationDelivery.user_id == user.id,
            NotificationDelivery.status == DeliveryStatus.failed,
        )
        .order_by(col(NotificationDelivery.created_at).desc())
        .limit(FAILED_SHOWN)
    )
    bounced = _bounced(profile, user)
    return NotificationStatus(
        email_bounced_at=profile.email_bounced_at if bounced and profile else None,
        email_bounced_address=profile.email_bounced_address if bounced and profile else None,
        failed=[FailedDelivery.model_validate(d) for d in failed],
    )


async def tell(
    session: AsyncSession,
    *,
    person_ids: Iterable[uuid.UUID],
    notice: Notice,
    link: str,
    now: datetime,
    topic: str | None = None,
    settings: Settings | None = None,
) -> int:
    """``notify`` each of ``person_ids`` under this service's settings (whether SMS is offered,
    the default time zone): how other domains notify. Returns how many deliveries were made."""
    settings = settings or get_settings()
    made = 0
    for person_id in dict.fromkeys(person_ids):
        made += len(
            await notify(
                session,
                person_id=person_id,
                notice=notice,
                link=link,
                now=now,
                topic=topic,
                sms_available=settings.sms_backend != "off",
                default_time_zone=settings.notification_default_time_zone,
            )
        )
    return made
