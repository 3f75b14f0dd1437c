"""Sending email: one small protocol, an SMTP sender, and a development sender that logs.

The app builds its sender once at start-up (``email_sender_for``) and keeps it on
``app.state.email_sender``; routes take it as ``EmailSenderDep``. A sender that cannot deliver
raises :class:`EmailNotSent` (a 502 problem), so the request's transaction rolls back.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.message import Message
from email.utils import formatdate, make_msgid
from typing import Annotated, Protocol

from fastapi import Depends, Request
from pydantic import SecretStr

from app.config import Settings
from app.errors import BadGateway

log = logging.getLogger("teamwell.email")

SMTP_TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class EmailNotSent(BadGateway):
    slug, title = "email-not-sent", "The email could not be sent"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, e.g. an invitation's ``invite.ics`` as
    ``text/calendar; method=REQUEST; charset=UTF-8``."""

    filename: str
    content_type: str
    data: bytes

    def __post_init__(self) -> None:
        if not self.filename or any(c in self.filename for c in "/\\\r\n\0"):
            raise ValueError(f"unsafe attachment filename {self.filename!r}")
        maintype, _subtype, _params = _split_content_type(self.content_type)
        if maintype == "multipart":
            raise ValueError("an attachment cannot be multipart")


@dataclass(frozen=True)
class EmailMessage:
    """A plain-text message to one recipient, with optional attachments."""

    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()


def _split_content_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    """``"text/calendar; method=REQUEST"`` → ``("text", "calendar", {"method": "REQUEST"})``."""
    if "\r" in content_type or "\n" in content_type:
        raise ValueError("a content type is one line")
    header = Message()
    header["Content-Type"] = content_type
    maintype, subtype = header.get_content_maintype(), header.get_content_subtype()
    if header.get_content_type() != content_type.split(";", 1)[0].strip().lower():
        raise ValueError(f"not a content type: {content_type!r}")
    params = {str(k): str(v) for k, v in header.get_params(failobj=[])[1:]}
    return maintype, subtype, params


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class LogEmailSender:
    """Development: writes each message, link included, to the log instead of sending it."""

    async def send(self, message: EmailMessage) -> None:
        # Attachments by name and size only: their content stays out of the log.
        attached = "".join(
            f"\n[attachment {a.filename}, {len(a.data)} bytes]" for a in message.attachments
        )
        log.info("email to %s: %s\n%s%s", message.to, message.subject, message.text, attached)


class SmtpEmailSender:
    """Sends through an SMTP server (STARTTLS and login when configured).

    smtplib blocks, so each message is sent in a worker thread. The password is only ever
    handed to ``SMTP.login``; it is not logged and not part of this object's repr.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self._tls_context = tls_context
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"SmtpEmailSender(host={self.host!r}, port={self.port}, "
            f"starttls={self.starttls}, username={self.username!r})"
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, self._mime(message))
        except (smtplib.SMTPException, OSError) as exc:
            # The exception text is the server's reply or the socket error: no credentials.
            log.warning(
                "email to %s not sent via %s:%s: %s: %s",
                message.to,
                self.host,
                self.port,
                type(exc).__name__,
                exc,
            )
            raise EmailNotSent(
                "The email could not be sent, so nothing was saved. Try again later."
            ) from exc
        log.info(
            "email to %s sent via %s:%s: %s", message.to, self.host, self.port, message.subject
        )

    def _mime(self, message: EmailMessage) -> MimeMessage:
        mime = MimeMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(localtime=False)
        mime["Message-ID"] = make_msgid(domain="teamwell")
        mime.set_content(message.text)
        for attachment in message.attachments:
            maintype, subtype, params = _split_content_type(attachment.content_type)
            mime.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=params,
            )
        return mime

    def _send_blocking(self, mime: MimeMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=self._tls_context or ssl.create_default_context())
            if self.username:
                password = self._password.get_secret_value() if self._password else ""
                smtp.login(self.username, password)
            smtp.send_message(mime)


def email_sender_for(settings: Settings) -> EmailSender:
    """The sender the settings ask for: ``log`` (development) or ``smtp``."""
    if settings.email_backend == "log":
        if settings.environment != "development":
            log.warning(
                "email_backend is 'log' outside development: emails (and the one-time links "
                "in them) go to the log and are not delivered"
            )
        return LogEmailSender()
    if settings.email_backend == "smtp":
        unencrypted_login = settings.smtp_username and not settings.smtp_starttls
        if unencrypted_login and settings.smtp_host not in LOOPBACK_HOSTS:
            log.warning("SMTP login without STARTTLS sends the password unencrypted")
        return SmtpEmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    raise ValueError(f"unknown email_backend {settings.email_backend!r}; use 'log' or 'smtp'")


def get_email_sender(request: Request) -> EmailSender:
    sender: EmailSender = request.app.state.email_sender
    return sender


EmailSenderDep = Annotated[EmailSender, Depends(get_email_sender)]


def recovery_codes_replaced_email(
    *, to: str, when: datetime, ip: str | None, public_url: str
) -> EmailMessage:
    """Tells a person that their recovery codes were replaced: when, and from which address,
    so that someone who did not do it knows to act. It carries no code and nothing about
    anyone's care."""
    where = f" from the address {ip}" if ip else ""
    return EmailMessage(
        to=to,
        subject="Your Teamwell recovery codes were replaced",
        text=(
            f"The recovery codes of your Teamwell account were replaced on "
            f"{when.astimezone(UTC):%d %B %Y at %H:%M} UTC{where}. The old codes no longer "
            f"work.\n\nIf this was you, there is nothing more to do. If it was not, sign in "
            f"at {public_url} and change your password, and tell your organisation's "
            f"Teamwell administrator at once.\n"
        ),
    )
