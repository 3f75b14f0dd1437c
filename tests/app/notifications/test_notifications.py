"""Notifications: the rules at their edges (pure, the time given), and notices delivered by the
real channels on a real database: email through an SMTP server (aiosmtpd), Web Push encrypted
per RFC 8291 to a push service run here (RFC 8030), which decrypts it with the subscription's
private key, and SMS through GOV.UK Notify's API served here, which checks the request as
Notify documents it. No notice carries clinical content: asserted on every one that arrives.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http_ece
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.context import Actor
from app.db import create_engine, session_factory
from app.demo import CLIENTS
from app.notifications import rules, service
from app.notifications.channels import (
    Channels,
    LogPushSender,
    LogSmsSender,
    channels_for,
    new_vapid_private_key,
    vapid_public_key,
)
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Kind,
    NotificationDelivery,
    NotificationProfile,
    PushSubscription,
)
from app.notifications.notices import TEMPLATES, Notice, UnsafeLink, render
from app.notifications.schemas import PreferencesUpdate, PushKeys, PushSubscriptionIn
from app.users.models import Role, User
from auth.email import EmailMessage as AuthEmailMessage
from auth.email import LogEmailSender, SmtpEmailSender
from tests.conftest import ROLE_EMAILS, base_env, teamwell_cli
from tests.support.demo import migrate_and_seed
from tests.support.net import free_port
from tests.support.postgres import PostgresServer
from tests.support.smtp import Mailbox, SmtpServer

LONDON = "Europe/London"
# A Monday at noon in London (GMT): no one's default quiet hours.
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="notifications-test")
PUBLIC_URL = "https://teamwell.example.org"
Handler = Callable[[web.Request], Awaitable[web.Response]]
NOTIFY_KEY_NAME = "teamwell_test"
NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
NOTIFY_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
SMS_NUMBER = "+447700900123"


# --- what a notice can say ---------------------------------------------------------------------

# Words that would be clinical content or identify a client: every demo client's names, and
# what scores and questionnaires are called.
FORBIDDEN = sorted(
    {part for name, *_ in CLIENTS for part in (name, *name.split())}
    | {"PHQ", "GAD", "score", "item 9", "suicid", "harm"}
)


def assert_nothing_clinical(text: str) -> None:
    lowered = text.lower()
    for word in FORBIDDEN:
        assert word.lower() not in lowered, f"{word!r} in a notice: {text!r}"


def test_a_notice_has_no_way_to_carry_words_of_its_own() -> None:
    """The caller names a notice and a link: nothing else reaches the text."""
    parameters = set(inspect.signature(service.notify).parameters)
    assert parameters == {
        "session",
        "person_id",
        "notice",
        "link",
        "now",
        "topic",
        "sms_available",
        "default_time_zone",
    }
    assert set(TEMPLATES) == set(Notice)
    assert {t.kind for t in TEMPLATES.values()} == set(Kind)
    for template in TEMPLATES.values():
        assert "Teamwell" in template.title
        assert "{" not in template.title + template.text
        assert_nothing_clinical(template.title + " " + template.text)


@pytest.mark.parametrize(
    "link",
    [
        "#/clients/Alex Morgan",
        "#/messages?body=hello",
        "#/clients/%41lex",
        "https://elsewhere.example/#/home",
        "//elsewhere.example/",
        "messages",
        "#/" + "a" * 191,
    ],
)
def test_a_link_that_could_carry_words_is_refused(link: str) -> None:
    with pytest.raises(UnsafeLink):
        render(Notice.new_messages, link, PUBLIC_URL)


def test_a_link_of_identifiers_becomes_an_address_of_the_service() -> None:
    conversation = str(uuid.uuid4())
    shown = render(Notice.new_messages, f"#/messages/{conversation}", PUBLIC_URL)
    assert shown.url == f"{PUBLIC_URL}/#/messages/{conversation}"
    assert render(Notice.questionnaire, "/q/abc_DEF-1", PUBLIC_URL + "/").url == (
        f"{PUBLIC_URL}/q/abc_DEF-1"
    )
    assert render(Notice.new_messages, "#/" + "a" * 190, PUBLIC_URL).url.endswith("a" * 190)


# --- the rules ---------------------------------------------------------------------------------

EVENINGS = rules.QuietHours(
    rules.parse_clock_time("21:00"), rules.parse_clock_time("08:00"), LONDON
)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # Winter (GMT): London time is UTC.
        (datetime(2026, 1, 5, 20, 59, tzinfo=UTC), None),
        (datetime(2026, 1, 5, 21, 0, tzinfo=UTC), datetime(2026, 1, 6, 8, 0, tzinfo=UTC)),
        (datetime(2026, 1, 6, 7, 59, tzinfo=UTC), datetime(2026, 1, 6, 8, 0, tzinfo=UTC)),
        (datetime(2026, 1, 6, 8, 0, tzinfo=UTC), None),
        # Summer (BST, UTC+1): 21:00 in London is 20:00 UTC, 08:00 is 07:00 UTC.
        (datetime(2026, 7, 1, 19, 59, tzinfo=UTC), None),
        (datetime(2026, 7, 1, 20, 0, tzinfo=UTC), datetime(2026, 7, 2, 7, 0, tzinfo=UTC)),
        (datetime(2026, 7, 2, 6, 59, tzinfo=UTC), datetime(2026, 7, 2, 7, 0, tzinfo=UTC)),
        # The night the clocks go forward (29 March 2026, 01:00 GMT becomes 02:00 BST).
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_in_the_persons_own_time(now: datetime, until: datetime | None) -> None:
    assert EVENINGS.quiet_until(now) == until


def test_quiet_hours_within_one_day_and_in_another_zone() -> None:
    lunch = rules.QuietHours(
        rules.parse_clock_time("12:00"), rules.parse_clock_time("13:00"), "America/New_York"
    )
    # 12:30 in New York in March (EST, UTC-5 until 8 March; EDT, UTC-4 after).
    assert lunch.quiet_until(datetime(2026, 3, 2, 17, 30, tzinfo=UTC)) == datetime(
        2026, 3, 2, 18, 0, tzinfo=UTC
    )
    assert lunch.quiet_until(datetime(2026, 3, 2, 18, 0, tzinfo=UTC)) is None
    assert lunch.quiet_until(datetime(2026, 3, 2, 16, 59, tzinfo=UTC)) is None


def test_urgent_alerts_go_at_once_and_the_rest_waits_for_morning() -> None:
    night = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    assert rules.first_attempt(Kind.urgent_alerts, night, EVENINGS) == night
    assert rules.first_attempt(Kind.messages, night, EVENINGS) == datetime(
        2026, 1, 6, 8, 0, tzinfo=UTC
    )
    assert rules.first_attempt(Kind.messages, night, None) == night


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (40, 3600)]
)
def test_retries_wait_twice_as_long_each_time_up_to_the_cap(attempts: int, seconds: int) -> None:
    delay = rules.retry_delay(attempts, base_seconds=60, max_seconds=3600)
    assert delay == timedelta(seconds=seconds)


def test_urgent_alerts_always_reach_a_clinician() -> None:
    off = {(Kind.urgent_alerts, c): False for c in Channel}
    assert not rules.urgent_reach_kept(Role.therapist, off)
    assert rules.urgent_reach_kept(Role.client, off)
    assert rules.urgent_reach_kept(Role.therapist, {**off, (Kind.urgent_alerts, Channel.sms): True})
    # Chosen only by SMS, with no number given: every way they can be reached instead.
    only_sms = {**off, (Kind.urgent_alerts, Channel.sms): True}
    both = [Channel.email, Channel.push]
    assert rules.channels_for(Role.therapist, Kind.urgent_alerts, only_sms, both) == both
    assert rules.channels_for(Role.client, Kind.urgent_alerts, only_sms, both) == []
    assert rules.channels_for(Role.client, Kind.messages, {}, both) == []
    defaults = rules.effective(Role.therapist, {})
    assert rules.channels_for(Role.therapist, Kind.urgent_alerts, defaults, list(Channel)) == [
        Channel.email,
        Channel.push,
        Channel.sms,
    ]
    assert (
        rules.channels_for(Role.client, Kind.messages, rules.effective(Role.client, {}), []) == []
    )


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("notification_max_attempts", 0, False),
        ("notification_max_attempts", 1, True),
        ("notification_max_attempts", 50, True),
        ("notification_max_attempts", 51, False),
        ("push_subscriptions_per_person", 0, False),
        ("push_subscriptions_per_person", 1, True),
        ("push_subscriptions_per_person", 100, True),
        ("push_subscriptions_per_person", 101, False),
        ("notification_batch_size", 0, False),
        ("notification_batch_size", 10_000, True),
        ("notification_batch_size", 10_001, False),
        ("notification_retry_base_seconds", 0, False),
        ("push_ttl_seconds", -1, False),
        ("push_ttl_seconds", 2_419_200, True),
        ("push_ttl_seconds", 2_419_201, False),
        ("notification_claim_seconds", 0, False),
        ("notification_claim_seconds", 1, True),
        ("notification_claim_seconds", 86_400, True),
        ("notification_claim_seconds", 86_401, False),
        ("notification_send_concurrency", 0, False),
        ("notification_send_concurrency", 1, True),
        ("notification_send_concurrency", 100, True),
        ("notification_send_concurrency", 101, False),
    ],
)
def test_notification_settings_at_their_edges(name: str, value: int, ok: bool) -> None:
    if ok:
        assert getattr(Settings(**{name: value}), name) == value
    else:
        with pytest.raises(ValidationError):
            Settings(**{name: value})


def test_nothing_leaves_the_machine_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.email_backend == "log"
    made = channels_for(settings, LogEmailSender())
    assert isinstance(made.push, LogPushSender) and isinstance(made.sms, LogSmsSender)
    # The VAPID key is generated into the secrets file, not written in code, and its public half
    # is what browsers subscribe with (65 bytes: an uncompressed P-256 point).
    key = settings.secret("vapid_private_key")
    assert key in (tmp_path / "secrets.json").read_text()
    public = base64.urlsafe_b64decode(vapid_public_key(key) + "=")
    assert len(public) == 65 and public[0] == 4


# --- on a real database ------------------------------------------------------------------------


# ``demo_file`` (the demo data, made once per module) and ``engine`` (a copy of it for one
# test) are this folder's fixtures (conftest.py).


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        public_url=PUBLIC_URL,
        notification_retry_base_seconds=60,
        notification_retry_max_seconds=3600,
        **extra,
    )


async def person(session: AsyncSession, email_address: str) -> User:
    found = (await session.exec(select(User).where(User.email == email_address))).first()
    assert found is not None
    return found


async def deliver(
    engine: AsyncEngine, now: datetime, channels: Channels, settings: Settings
) -> service.DeliveryReport:
    return await service.deliver_due(
        session_factory(engine), now=now, channels=channels, settings=settings
    )


async def notify(
    engine: AsyncEngine, email_address: str, notice: Notice, now: datetime = NOON, **kw: Any
) -> list[NotificationDelivery]:
    async with session_factory(engine)() as session:
        who = await person(session, email_address)
        made = await service.notify(
            session, person_id=who.id, notice=notice, link="#/home", now=now, **kw
        )
        await session.commit()
        for delivery in made:
            await session.refresh(delivery)
        return made


async def deliveries(engine: AsyncEngine) -> list[NotificationDelivery]:
    async with session_factory(engine)() as session:
        return list(await session.exec(select(NotificationDelivery)))


THERAPIST = ROLE_EMAILS["therapist"]
CLIENT = ROLE_EMAILS["client"]


# --- email -------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with SmtpServer() as server:
        yield server.port, server.mailbox


def email_channels(port: int, settings: Settings) -> Channels:
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender="Teamwell <t@teamwell.example>")
    return channels_for(settings, sender)


async def test_email_notices_arrive_and_say_nothing_clinical(
    engine: AsyncEngine, smtp: tuple[int, Mailbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    settings = settings_for(tmp_path)
    made = await notify(engine, THERAPIST, Notice.urgent_alert)
    assert [d.channel for d in made] == [Channel.email]  # no push subscription, no SMS number
    assert [d.channel for d in await notify(engine, CLIENT, Notice.new_messages)] == [Channel.email]
    await notify(engine, CLIENT, Notice.questionnaire)
    report = await deliver(engine, NOON, email_channels(port, settings), settings)
    assert (report.sent, report.retrying, report.failed) == (3, 0, 0)
    assert sorted(str(m["Subject"]) for m in inbox.messages) == [
        "You have a new message in Teamwell",
        "You have a questionnaire to fill in on Teamwell",
        "You have an urgent alert in Teamwell",
    ]
    for message in inbox.messages:
        body = message.get_content()
        assert f"{PUBLIC_URL}/#/home" in body
        assert_nothing_clinical(str(message["Subject"]) + "\n" + body)
    assert {d.status for d in await deliveries(engine)} == {DeliveryStatus.sent}
    # Sent once: a second run finds nothing due.
    again = await deliver(
        engine, NOON + timedelta(hours=1), email_channels(port, settings), settings
    )
    assert (again.sent, len(inbox.messages)) == (0, 3)


async def test_a_failed_delivery_is_retried_after_a_doubling_delay(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, notification_max_attempts=3)
    port = free_port()  # nothing listens there yet
    await notify(engine, CLIENT, Notice.new_messages)
    first = await deliver(engine, NOON, email_channels(port, settings), settings)
    assert (first.sent, first.retrying) == (0, 1)
    [delivery] = await deliveries(engine)
    assert delivery.status == DeliveryStatus.pending and delivery.attempts == 1
    assert delivery.next_attempt_at == NOON + timedelta(seconds=60)
    assert delivery.last_error and "@" not in delivery.last_error
    # Not due a moment before its time.
    early = await deliver(
        engine, NOON + timedelta(seconds=59), email_channels(port, settings), settings
    )
    assert (early.sent, early.retrying) == (0, 0)
    second = await deliver(
        engine, NOON + timedelta(seconds=60), email_channels(port, settings), settings
    )
    assert second.retrying == 1
    [delivery] = await deliveries(engine)
    assert delivery.next_attempt_at == NOON + timedelta(seconds=60 + 120)
    # The server is back: the third attempt goes.
    with SmtpServer(port=port) as server:
        inbox = server.mailbox
        third = await deliver(
            engine, NOON + timedelta(seconds=180), email_channels(port, settings), settings
        )
    assert third.sent == 1 and len(inbox.messages) == 1
    [delivery] = await deliveries(engine)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.sent, 3)


async def test_attempts_used_up_leave_the_delivery_failed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, notification_max_attempts=1)
    await notify(engine, CLIENT, Notice.new_messages)
    report = await deliver(engine, NOON, email_channels(free_port(), settings), settings)
    assert (report.failed, report.retrying) == (1, 0)
    [delivery] = await deliveries(engine)
    assert delivery.status == DeliveryStatus.failed


async def test_a_bounced_address_is_flagged_to_staff_and_not_used_again(
    engine: AsyncEngine, smtp: tuple[int, Mailbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    inbox.refused.add(CLIENT)
    settings = settings_for(tmp_path)
    await notify(engine, CLIENT, Notice.new_messages)
    report = await deliver(engine, NOON, email_channels(port, settings), settings)
    assert (report.failed, report.retrying) == (1, 0)
    async with session_factory(engine)() as session:
        client = await person(session, CLIENT)
        shown = await service.status(session=session, user=client)
        assert shown.email_bounced_at == NOON and shown.email_bounced_address == CLIENT
        assert [(f.kind, f.channel) for f in shown.failed] == [(Kind.messages, Channel.email)]
        prefs = await service.preferences(session=session, user=client, settings=settings)
        assert prefs.email_bounced
    # The next notice has nowhere to go by email; a corrected address is used again.
    assert await notify(engine, CLIENT, Notice.new_messages) == []
    async with session_factory(engine)() as session:
        client = await person(session, CLIENT)
        client.email = "alex.new@example.org"
        session.add(client)
        await session.commit()
    assert [
        d.channel for d in await notify(engine, "alex.new@example.org", Notice.new_messages)
    ] == [Channel.email]


async def test_quiet_hours_hold_notices_but_not_urgent_alerts(engine: AsyncEngine) -> None:
    night = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    [held] = await notify(engine, CLIENT, Notice.new_messages, now=night)
    assert held.next_attempt_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    [urgent] = await notify(engine, THERAPIST, Notice.urgent_alert, now=night)
    assert urgent.next_attempt_at == night


async def test_reading_in_the_app_cancels_the_pending_notice(engine: AsyncEngine) -> None:
    topic = f"conversation:{uuid.uuid4()}"
    await notify(engine, CLIENT, Notice.new_messages, topic=topic)
    await notify(engine, CLIENT, Notice.questionnaire)
    async with session_factory(engine)() as session:
        client = await person(session, CLIENT)
        assert await service.cancel(session, person_id=client.id, topic=topic, now=NOON) == 1
        await session.commit()
    statuses = sorted((d.notice, d.status) for d in await deliveries(engine))
    assert statuses == [
        ("new_messages", DeliveryStatus.cancelled),
        ("questionnaire", DeliveryStatus.pending),
    ]


# --- Web Push ----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """What a browser keeps of its push subscription: the key pair and the auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: uuid.uuid4().bytes)

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )


@dataclass
class PushService:
    """An RFC 8030 push service on loopback: it keeps what it was sent and answers ``status``."""

    port: int
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 201

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    async def handle(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append((request.path, headers, await request.read()))
        return web.Response(status=self.status)


@asynccontextmanager
async def serving(port: int, path: str, handle: Handler) -> AsyncIterator[None]:
    """``handle`` answering POSTs to ``path`` on loopback at ``port``, until leaving."""
    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    running = PushService(free_port())
    async with serving(running.port, "/push/{name}", running.handle):
        yield running


def verify_vapid(header: str, audience: str, public_key: str, subject: str) -> None:
    """``vapid t=<JWT signed ES256>, k=<public key>`` (RFC 8292), checked as a push service does."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid", header
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    head, claims, signature = fields["t"].split(".")
    raw = unb64url(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(fields["k"]))
    key.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{head}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert json.loads(unb64url(head))["alg"] == "ES256"
    body = json.loads(unb64url(claims))
    assert body["aud"] == audience and body["sub"] == subject and body["exp"] > time.time()


async def test_web_push_is_encrypted_for_the_subscription_and_decrypts_to_a_generic_notice(
    engine: AsyncEngine, push_service: PushService, tmp_path: Path
) -> None:
    vapid = new_vapid_private_key()
    settings = settings_for(
        tmp_path,
        push_backend="webpush",
        vapid_private_key=SecretStr(vapid),
        vapid_subject="mailto:team@teamwell.example.org",
        push_endpoint_https_only=False,
    )
    browser = Browser()
    async with session_factory(engine)() as session:
        therapist = await person(session, THERAPIST)
        await service.add_push_subscription(
            session=session,
            user=therapist,
            data=PushSubscriptionIn(
                endpoint=push_service.endpoint("therapist"),
                keys=PushKeys(p256dh=browser.p256dh, auth=b64url(browser.auth)),
            ),
            settings=settings,
            now=NOON,
        )
        await session.commit()
    made = await notify(engine, THERAPIST, Notice.urgent_alert)
    assert [d.channel for d in made] == [Channel.email, Channel.push]
    channels = channels_for(settings, LogEmailSender())
    report = await deliver(engine, NOON, channels, settings)
    assert report.sent == 2, report
    [(path, headers, body)] = push_service.received
    assert path == "/push/therapist"
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["ttl"] == str(settings.push_ttl_seconds)
    verify_vapid(
        headers["authorization"],
        f"http://127.0.0.1:{push_service.port}",
        vapid_public_key(vapid),
        settings.vapid_subject,
    )
    assert settings.vapid_private_key is not None
    assert vapid not in json.dumps(headers)
    # RFC 8291: only the subscription's private key and auth secret open it.
    plain = http_ece.decrypt(
        body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
    )
    payload = json.loads(plain)
    assert payload == {
        "title": "You have an urgent alert in Teamwell",
        "body": "Sign in to Teamwell to see it and acknowledge it.",
        "url": f"{PUBLIC_URL}/#/home",
    }
    assert_nothing_clinical(plain.decode())
    with pytest.raises(Exception):  # noqa: B017 - any failure: another browser cannot read it
        http_ece.decrypt(
            body, private_key=Browser().private_key, auth_secret=browser.auth, version="aes128gcm"
        )

    # The browser unsubscribed: the push service answers 410 Gone and the subscription goes.
    push_service.status = 410
    await notify(engine, THERAPIST, Notice.urgent_alert)
    report = await deliver(engine, NOON, channels, settings)
    assert (report.sent, report.failed) == (1, 1)  # email sent; push failed for good
    async with session_factory(engine)() as session:
        assert list(await session.exec(select(PushSubscription))) == []


# --- SMS through GOV.UK Notify -----------------------------------------------------------------


@dataclass
class NotifyApi:
    """GOV.UK Notify's ``POST /v2/notifications/sms`` as documented: a Bearer JWT (HS256, ``iss``
    the service id, ``iat`` within 30 seconds), the number, the template id and its
    personalisation. Anything else is answered 400 or 403 as Notify would."""

    port: int
    sent: list[dict[str, Any]] = field(default_factory=list)
    failing: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.failing:
            self.failing -= 1
            return web.json_response({"status_code": 500, "errors": []}, status=500)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = jwt.decode(token, OctKey.import_key(NOTIFY_SECRET.encode()), ["HS256"])
        except Exception:
            return web.json_response({"status_code": 403}, status=403)
        if scheme != "Bearer" or decoded.header.get("typ") != "JWT":
            return web.json_response({"status_code": 403}, status=403)
        if decoded.claims.get("iss") != NOTIFY_SERVICE_ID:
            return web.json_response({"status_code": 403}, status=403)
        if abs(decoded.claims["iat"] - time.time()) > 30:
            return web.json_response({"status_code": 403}, status=403)
        body = await request.json()
        if set(body) - {"phone_number", "template_id", "personalisation", "reference"}:
            return web.json_response({"status_code": 400}, status=400)
        if not body.get("phone_number") or body.get("template_id") != NOTIFY_TEMPLATE:
            return web.json_response({"status_code": 400}, status=400)
        self.sent.append(body)
        return web.json_response(
            {"id": str(uuid.uuid4()), "template": {"id": NOTIFY_TEMPLATE}}, status=201
        )


@pytest.fixture
async def notify_api() -> AsyncIterator[NotifyApi]:
    running = NotifyApi(free_port())
    async with serving(running.port, "/v2/notifications/sms", running.handle):
        yield running


async def sms_to_the_therapist(
    engine: AsyncEngine, notify_api: NotifyApi, tmp_path: Path, secret: str
) -> Settings:
    """Settings sending SMS through ``notify_api`` with a key ending in ``secret``, and the
    therapist's phone number on file."""
    settings = settings_for(
        tmp_path,
        sms_backend="notify",
        notify_api_key=SecretStr(f"{NOTIFY_KEY_NAME}-{NOTIFY_SERVICE_ID}-{secret}"),
        notify_sms_template_id=NOTIFY_TEMPLATE,
        notify_base_url=f"http://127.0.0.1:{notify_api.port}",
    )
    async with session_factory(engine)() as session:
        therapist = await person(session, THERAPIST)
        session.add(
            NotificationProfile(
                user_id=therapist.id, time_zone=LONDON, sms_number=SMS_NUMBER, updated_at=NOON
            )
        )
        await session.commit()
    return settings


async def test_sms_goes_through_notify_as_its_api_documents(
    engine: AsyncEngine, notify_api: NotifyApi, tmp_path: Path
) -> None:
    settings = await sms_to_the_therapist(engine, notify_api, tmp_path, NOTIFY_SECRET)
    made = await notify(engine, THERAPIST, Notice.urgent_alert)
    assert [d.channel for d in made] == [Channel.email, Channel.sms]
    channels = channels_for(settings, LogEmailSender())
    notify_api.failing = 1  # Notify is briefly down: the SMS waits and goes next time
    first = await deliver(engine, NOON, channels, settings)
    assert (first.sent, first.retrying) == (1, 1)
    second = await deliver(engine, NOON + timedelta(seconds=60), channels, settings)
    assert second.sent == 1
    [sent] = notify_api.sent
    assert sent == {
        "phone_number": SMS_NUMBER,
        "template_id": NOTIFY_TEMPLATE,
        "personalisation": {
            "title": "You have an urgent alert in Teamwell",
            "link": f"{PUBLIC_URL}/#/home",
        },
    }
    assert_nothing_clinical(json.dumps(sent))


async def test_a_refused_sms_key_fails_for_good(
    engine: AsyncEngine, notify_api: NotifyApi, tmp_path: Path
) -> None:
    settings = await sms_to_the_therapist(engine, notify_api, tmp_path, str(uuid.uuid4()))
    await notify(engine, THERAPIST, Notice.urgent_alert)
    report = await deliver(engine, NOON, channels_for(settings, LogEmailSender()), settings)
    assert (report.sent, report.failed, notify_api.sent) == (1, 1, [])
    assert "notify 403" in report.errors


def test_senders_never_show_their_secrets() -> None:
    key = f"{NOTIFY_KEY_NAME}-{NOTIFY_SERVICE_ID}-{NOTIFY_SECRET}"
    settings = Settings(
        sms_backend="notify",
        notify_api_key=SecretStr(key),
        notify_sms_template_id=NOTIFY_TEMPLATE,
        push_backend="webpush",
        vapid_private_key=SecretStr(new_vapid_private_key()),
    )
    made = channels_for(settings, LogEmailSender())
    assert settings.vapid_private_key is not None
    for shown in (repr(made.sms), repr(made.push), repr(settings)):
        assert NOTIFY_SECRET not in shown
        assert settings.vapid_private_key.get_secret_value() not in shown


# --- several processes on PostgreSQL -----------------------------------------------------------


@dataclass
class HoldingSender:
    """An email sender that holds its first message until released: the delivery run using it
    keeps its claimed rows (their lease) meanwhile."""

    sent: list[str] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: AuthEmailMessage) -> None:
        self.holding.set()
        await self.release.wait()
        self.sent.append(message.to)


async def test_two_runs_at_once_on_postgresql_send_each_delivery_once(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database(f"notifications_{uuid.uuid4().hex[:8]}")
    settings = settings_for(tmp_path, database_url=url)
    await migrate_and_seed(settings, SYSTEM, NOON)
    running = create_engine(settings)
    try:
        for notice in (Notice.new_messages, Notice.questionnaire, Notice.check_in_due):
            await notify(running, CLIENT, notice)
        first, second = HoldingSender(), HoldingSender()
        second.release.set()
        one = asyncio.create_task(deliver(running, NOON, channels_for(settings, first), settings))
        await asyncio.wait_for(first.holding.wait(), timeout=30)
        # The first run's claims hold its rows: the second, meanwhile, finds nothing to claim.
        other = await asyncio.wait_for(
            deliver(running, NOON, channels_for(settings, second), settings), timeout=30
        )
        first.release.set()
        report = await asyncio.wait_for(one, timeout=30)
        assert (report.sent, other.sent, second.sent) == (3, 0, [])
        assert first.sent == [CLIENT] * 3
        assert {d.status for d in await deliveries(running)} == {DeliveryStatus.sent}
    finally:
        await running.dispose()


def test_the_command_sends_what_is_due(demo_file: Path, tmp_path: Path) -> None:
    """``teamwell deliver-notifications``: the same run, once, with the log senders."""
    path = tmp_path / "teamwell.db"
    shutil.copy(demo_file, path)
    env = {**base_env(tmp_path, f"sqlite:///{path}"), "TEAMWELL_PUBLIC_URL": PUBLIC_URL}

    async def plant() -> None:
        running = create_engine(Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}"))
        try:
            # Created long ago, so due now whatever the real clock's quiet hours.
            await notify(running, CLIENT, Notice.new_messages, now=NOON)
        finally:
            await running.dispose()

    asyncio.run(plant())
    done = teamwell_cli(env, "deliver-notifications")
    assert done.returncode == 0, done.stderr
    assert "notifications: 1 sent, 0 to try again, 0 failed" in done.stdout
    assert_nothing_clinical(done.stdout + done.stderr)


async def test_without_sms_the_settings_show_none_and_refuse_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, sms_backend="off")
    async with session_factory(engine)() as session:
        therapist = await person(session, THERAPIST)
        prefs = await service.preferences(session=session, user=therapist, settings=settings)
        assert prefs.sms_available is False
        assert not any(choice.sms for choice in prefs.kinds.values())
        wanted = prefs.model_dump()
        wanted["kinds"]["urgent_alerts"]["sms"] = True
        with pytest.raises(service.SmsUnavailable):
            await service.update_preferences(
                session=session,
                user=therapist,
                data=PreferencesUpdate.model_validate(
                    {k: wanted[k] for k in ("kinds", "time_zone", "quiet_hours")}
                    | {"sms_number": SMS_NUMBER}
                ),
                settings=settings,
                now=NOON,
            )
