"""The ways a notice leaves the service: email (the service's SMTP sender), Web Push (VAPID,
RFC 8291 encryption, through ``pywebpush``) and SMS (GOV.UK Notify), each with a sender that
only logs, the default everywhere so that nothing leaves the machine until configured.

A sender raises :class:`DeliveryFailed` when a notice could not be handed over, saying whether
trying again may help (``permanent``) and why, in words that name no person and no content.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import smtplib
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import OctKey
from py_vapid import Vapid
from pydantic import SecretStr
from pywebpush import WebPushException, webpush_async

from app.config import Settings
from auth.email import EmailMessage, EmailNotSent, EmailSender

log = logging.getLogger("teamwell.notifications")


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.permanent = permanent


class AddressBounced(DeliveryFailed):
    """The mail server refused the address for good: staff are shown it (a bounce)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


class SubscriptionGone(DeliveryFailed):
    """The push service no longer knows the subscription (404 or 410): it is removed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


# --- email -------------------------------------------------------------------------------------


async def send_email(sender: EmailSender, message: EmailMessage) -> None:
    try:
        await sender.send(message)
    except EmailNotSent as exc:
        cause = exc.__cause__
        if isinstance(cause, smtplib.SMTPRecipientsRefused) and all(
            code >= 500 for code, _reply in cause.recipients.values()
        ):
            raise AddressBounced("SMTP recipient refused") from exc
        permanent = isinstance(cause, smtplib.SMTPResponseException) and cause.smtp_code >= 500
        raise DeliveryFailed(
            f"SMTP {type(cause).__name__ if cause else 'error'}", permanent=permanent
        ) from exc


# --- Web Push ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    endpoint: str
    p256dh: str
    auth: str


class PushSender(Protocol):
    async def send(self, target: PushTarget, payload: dict[str, str]) -> None: ...


class LogPushSender:
    """Development: names the push service's host and the title; sends nothing."""

    async def send(self, target: PushTarget, payload: dict[str, str]) -> None:
        log.info("push to %s: %s", urlsplit(target.endpoint).hostname, payload.get("title"))


def vapid_public_key(private_key: str) -> str:
    """The application server key browsers subscribe with: the uncompressed P-256 point of the
    VAPID key, base64url without padding (the Push API's ``applicationServerKey``)."""
    vapid = Vapid.from_raw(private_key.encode())
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def new_vapid_private_key() -> str:
    """A new VAPID key: the P-256 private number, 32 bytes, base64url without padding."""
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


class WebPushSender:
    """Encrypts the payload for the subscription (RFC 8291, ``aes128gcm``), signs a VAPID JWT
    (RFC 8292) and posts it to the subscription's push service (RFC 8030)."""

    def __init__(
        self, *, private_key: SecretStr, subject: str, ttl_seconds: int, timeout: float
    ) -> None:
        self._vapid = Vapid.from_raw(private_key.get_secret_value().encode())
        self.subject = subject
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"WebPushSender(subject={self.subject!r})"

    async def send(self, target: PushTarget, payload: dict[str, str]) -> None:
        info = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            async with asyncio.timeout(self.timeout), aiohttp.ClientSession() as http:
                await webpush_async(
                    info,
                    json.dumps(payload),
                    vapid_private_key=self._vapid,
                    vapid_claims={"sub": self.subject},
                    ttl=self.ttl_seconds,
                    aiohttp_session=http,
                )
        except WebPushException as exc:
            status = getattr(exc.response, "status", None)
            if status in (404, 410):
                raise SubscriptionGone(f"push {status}") from exc
            permanent = status is not None and 400 <= status < 500 and status != 429
            raise DeliveryFailed(f"push {status}", permanent=permanent) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryFailed(f"push {type(exc).__name__}") from exc


# --- SMS ---------------------------------------------------------------------------------------


class SmsSender(Protocol):
    async def send(self, number: str, *, title: str, link: str) -> None: ...


# A one-time link's token in a URL's fragment (``/#/guest/<token>``, ``/#/q/<token>``): long,
# unbroken, and never to be logged, for it opens what it links to.
_TOKEN_IN_FRAGMENT = re.compile(r"(#(?:/[^/]*)*/)[A-Za-z0-9_-]{20,}")


def without_tokens(link: str) -> str:
    return _TOKEN_IN_FRAGMENT.sub(r"\1…", link)


class LogSmsSender:
    """Development: logs the SMS with the number's last three digits only, and no link's token."""

    async def send(self, number: str, *, title: str, link: str) -> None:
        log.info("sms to ...%s: %s %s", number[-3:], title, without_tokens(link))


class NotifySmsSender:
    """GOV.UK Notify's API: ``POST /v2/notifications/sms`` with the number, the template's id
    and its personalisation (``title`` and ``link``: the template reads "((title)). ((link))"),
    authorised by a JWT (HS256) whose ``iss`` is the service id and ``iat`` the time, signed
    with the API key's secret. The API key (``{name}-{service id}-{secret}``) is only split
    here and never logged."""

    def __init__(
        self, *, api_key: SecretStr, template_id: str, base_url: str, timeout: float
    ) -> None:
        key = api_key.get_secret_value()
        if len(key) < 74:
            raise ValueError("a GOV.UK Notify API key is {name}-{service id}-{secret key}")
        self.service_id = key[-73:-37]
        self._secret = OctKey.import_key(key[-36:].encode())
        self.template_id = template_id
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"NotifySmsSender(base_url={self.base_url!r}, template_id={self.template_id!r})"

    def _token(self) -> str:
        claims = {"iss": self.service_id, "iat": int(time.time())}
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._secret)

    async def send(self, number: str, *, title: str, link: str) -> None:
        body = {
            "phone_number": number,
            "template_id": self.template_id,
            "personalisation": {"title": title, "link": link},
        }
        headers = {"Authorization": f"Bearer {self._token()}", "User-Agent": "teamwell"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                reply = await http.post(
                    f"{self.base_url}/v2/notifications/sms", json=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"notify {type(exc).__name__}") from exc
        if reply.status_code == 201:
            return
        # 400 and 403 will not change by trying again (a bad number, a bad key); 429 and 5xx may.
        permanent = reply.status_code in (400, 403)
        raise DeliveryFailed(f"notify {reply.status_code}", permanent=permanent)


# --- from the settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """The senders of one process, built once from the settings."""

    email: EmailSender
    push: PushSender
    sms: SmsSender
    sms_configured: bool


def push_sender_for(settings: Settings) -> PushSender:
    if settings.push_backend == "log":
        return LogPushSender()
    if settings.push_backend == "webpush":
        return WebPushSender(
            private_key=SecretStr(settings.secret("vapid_private_key")),
            subject=settings.vapid_subject,
            ttl_seconds=settings.push_ttl_seconds,
            timeout=settings.notification_send_timeout_seconds,
        )
    raise ValueError(f"unknown push_backend {settings.push_backend!r}; use 'log' or 'webpush'")


def sms_sender_for(settings: Settings) -> SmsSender:
    if settings.sms_backend in ("log", "off"):
        return LogSmsSender()
    if settings.sms_backend == "notify":
        if settings.notify_api_key is None or not settings.notify_sms_template_id:
            raise ValueError("sms_backend 'notify' needs notify_api_key and notify_sms_template_id")
        return NotifySmsSender(
            api_key=settings.notify_api_key,
            template_id=settings.notify_sms_template_id,
            base_url=settings.notify_base_url,
            timeout=settings.notification_send_timeout_seconds,
        )
    raise ValueError(f"unknown sms_backend {settings.sms_backend!r}; use 'log', 'notify' or 'off'")


def channels_for(settings: Settings, email: EmailSender) -> Channels:
    return Channels(
        email=email,
        push=push_sender_for(settings),
        sms=sms_sender_for(settings),
        sms_configured=settings.sms_backend != "off",
    )
