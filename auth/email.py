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
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid
from typing import Annotated, Protocol

from fastapi import Depends, Request
from pydantic import SecretStr

from app.config import Settings
from app.errors import Problem

log = logging.getLogger("teamwell.email")

SMTP_TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class EmailNotSent(Problem):
    status, slug, title = 502, "email-not-sent", "The email could not be sent"


@dataclass(frozen=True)
class EmailMessage:
    """A plain-text message to one recipient."""

    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class LogEmailSender:
    """Development: writes each message, link included, to the log instead of sending it."""

    async def send(self, message: EmailMessage) -> None:
        log.info("email to %s: %s\n%s", message.to, message.subject, message.text)


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
