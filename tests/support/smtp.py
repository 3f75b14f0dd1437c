"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, keeping what it receives in a
``Mailbox``.

The mailbox parses each message as the recipient's mail program would and offers bounded waits
(the server runs in a thread of its own, so a test waits for mail rather than sleeping). An
address in ``Mailbox.refused`` is answered 550 at RCPT, as a server refuses an unknown mailbox.
``SmtpServer.down()`` takes the server away for a while (connections refused), and it is a
context manager like the other test servers. A ``HoldingMailbox`` holds its answer to each
message until the test releases it: a send in flight for as long as the test wants.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage as MimeMessage
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession

from .net import free_port
from .process import ManagedServer

__all__ = ["MAIL_WAIT_SECONDS", "HoldingMailbox", "Mailbox", "SmtpServer"]

MAIL_WAIT_SECONDS = 15.0


class Mailbox:
    """What the SMTP server received, with bounded waits for messages."""

    def __init__(self) -> None:
        self.messages: list[MimeMessage] = []
        self.refused: set[str] = set()
        self._arrived = threading.Condition()

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, MimeMessage)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def _wait(self, found: Callable[[], Any], timeout: float) -> Any:
        with self._arrived:
            return self._arrived.wait_for(found, timeout=timeout)

    def _find(self, to: str, subject: str) -> MimeMessage | None:
        return next(
            (m for m in self.messages if m["To"] == to and subject in str(m["Subject"])), None
        )

    def wait_for(
        self, to: str, timeout: float = MAIL_WAIT_SECONDS, *, subject: str = ""
    ) -> MimeMessage:
        """The first message to ``to`` whose subject holds ``subject``."""
        found = self._wait(lambda: self._find(to, subject), timeout)
        assert found is not None, f"no email to {to} ({subject!r}) within {timeout}s"
        assert isinstance(found, MimeMessage)
        return found

    def wait_count(self, count: int, timeout: float = MAIL_WAIT_SECONDS) -> bool:
        """Whether ``count`` messages (or more) have arrived within ``timeout`` seconds."""
        return bool(self._wait(lambda: len(self.messages) >= count, timeout))

    def sent_to(self, to: str) -> list[MimeMessage]:
        with self._arrived:
            return [m for m in self.messages if m["To"] == to]

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()


class HoldingMailbox(Mailbox):
    """A mailbox whose server answers each message (after its data) only once ``release`` is
    set: ``holding`` is set while a message waits. The wait is bounded, so a test that fails
    never leaves the server hanging."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        self.holding.set()
        await asyncio.to_thread(self.release.wait, MAIL_WAIT_SECONDS * 2)
        return await super().handle_DATA(server, session, envelope)

    def wait_holding(self, timeout: float = MAIL_WAIT_SECONDS) -> bool:
        return self.holding.wait(timeout)


class SmtpServer(ManagedServer):
    """aiosmtpd on 127.0.0.1 delivering to ``mailbox``; ``smtp_options`` go to aiosmtpd (TLS,
    authentication)."""

    def __init__(
        self, mailbox: Mailbox | None = None, *, port: int | None = None, **smtp_options: Any
    ) -> None:
        self.mailbox = mailbox if mailbox is not None else Mailbox()
        self.port = port or free_port()
        self._options = smtp_options
        self._controller: Controller | None = None

    def start(self) -> Self:
        controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **self._options)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @contextmanager
    def down(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()
