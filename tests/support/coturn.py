"""A throwaway coturn TURN server for tests (standard library only).

Usage::

    with CoturnServer(secret) as turn:
        turn.url        # turn:127.0.0.1:<port>?transport=udp
        turn.stun_url   # stun:127.0.0.1:<port>
        turn.log_text() # what it logged, e.g. "ALLOCATE processed, success"

Runs ``turnserver`` (Debian ``coturn``) on 127.0.0.1 with TURN REST credentials
(``use-auth-secret`` + ``static-auth-secret``), relaying over UDP between loopback addresses only,
with its pid file, user database and log in a fresh temp dir. It is ready when it answers a STUN
Binding request. ``allow-loopback-peers`` is for tests only: a production coturn must not relay to
loopback or private addresses (``denied-peer-ip``): ``production_config`` runs a deployment's
configuration instead (``documented_config`` reads it from docs/meetings.md), listening on
loopback. Set ``TEAMWELL_TURNSERVER`` to use a specific binary.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from .net import free_port
from .process import TempDirServer, find_program, launch, startup_failure

__all__ = [
    "CoturnError",
    "CoturnServer",
    "coturn_available",
    "documented_config",
    "find_turnserver",
    "stun_binding_ok",
]

REALM = "teamwell.test"
STUN_BINDING_REQUEST = 0x0001
STUN_BINDING_SUCCESS = 0x0101
STUN_MAGIC_COOKIE = 0x2112A442
RELAY_PORTS = 40  # relay ports per server: a few allocations per test
# Relay ports come from below Linux's ephemeral range (32768+), so they do not collide with
# ports the OS hands out; each server takes a random slice to keep parallel runs apart.
RELAY_PORT_LOW, RELAY_PORT_HIGH = 20_000, 32_000
ADDRESS_IN_USE = "Address already in use"


# What a deployment's coturn configuration says that a test on loopback must say otherwise: where
# it listens (and its TLS certificates, which the tests have none of) and its secret.
LOOPBACK_ADJUSTED = frozenset(
    {
        "listening-port",
        "tls-listening-port",
        "listening-ip",
        "relay-ip",
        "cert",
        "pkey",
        "static-auth-secret",
    }
)


def documented_config(doc: Path) -> list[str]:
    """The configuration lines of the coturn block in ``doc`` (the fenced block after the line
    naming ``/etc/turnserver.conf``), without comments and blank lines."""
    text = doc.read_text()
    start = text.index("/etc/turnserver.conf")
    block = text[text.index("```", start) :].split("\n", 1)[1]
    block = block[: block.index("```")]
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class CoturnError(RuntimeError):
    """The throwaway coturn could not be started."""


def find_turnserver() -> Path | None:
    """Path of the ``turnserver`` binary, or None."""
    return find_program("turnserver", "TEAMWELL_TURNSERVER")


def coturn_available() -> bool:
    return find_turnserver() is not None


def stun_binding_ok(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Send one STUN Binding request over UDP; True on a Binding success with our transaction.

    The request is the bare 20-byte header (RFC 8489 §5): type, length 0, magic cookie and a
    random 96-bit transaction id.
    """
    transaction = os.urandom(12)
    request = (
        STUN_BINDING_REQUEST.to_bytes(2, "big")
        + (0).to_bytes(2, "big")
        + STUN_MAGIC_COOKIE.to_bytes(4, "big")
        + transaction
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (host, port))
            reply, _ = sock.recvfrom(2048)
        except OSError:  # timeout, or ICMP port unreachable surfacing as a refused connection
            return False
    return (
        len(reply) >= 20
        and int.from_bytes(reply[0:2], "big") == STUN_BINDING_SUCCESS
        and int.from_bytes(reply[4:8], "big") == STUN_MAGIC_COOKIE
        and reply[8:20] == transaction
    )


def _udp_port_free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_tcp_and_udp_port(host: str) -> int:
    """A port free for both (coturn listens on TCP and UDP); still racy, so start() retries."""
    for _ in range(20):
        port = free_port(host)
        if _udp_port_free(port, host):
            return port
    raise CoturnError("could not find a port free for both TCP and UDP")


class CoturnServer(TempDirServer):
    """A private coturn on 127.0.0.1:<port> accepting TURN REST credentials made with ``secret``."""

    log_name = "turnserver.log"

    host = "127.0.0.1"

    def __init__(
        self,
        secret: str,
        *,
        binary: Path | None = None,
        startup_timeout: float = 10.0,
        production_config: Sequence[str] | None = None,
    ) -> None:
        """``production_config``: run a deployment's configuration (the lines docs/meetings.md
        gives, see ``documented_config``) instead of the tests' loopback relay, with only where it
        listens and relays, its secret and its files adjusted (``LOOPBACK_ADJUSTED``)."""
        if not secret or any(c.isspace() for c in secret):
            raise ValueError("the secret must be a non-empty word (it goes in a config line)")
        self.secret = secret
        self.production_config = list(production_config) if production_config else None
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.port = 0
        super().__init__()

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def stun_url(self) -> str:
        return f"stun:{self.host}:{self.port}"

    def log_text(self, since: int = 0) -> str:
        """What coturn has written to stdout so far (from byte ``since``)."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(since)
                return handle.read().decode("utf-8", errors="replace")
        except (OSError, CoturnError):
            return ""

    def log_size(self) -> int:
        """How many bytes coturn has logged: pass it to ``log_text(since=…)`` later."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _starting(self, proc: subprocess.Popen[bytes], log_from: int) -> bool:
        """Still worth waiting for: running, and not looping on a port someone else holds."""
        return proc.poll() is None and ADDRESS_IN_USE not in self.log_text(log_from)

    def _write_config(self) -> Path:
        assert self.base_dir is not None
        min_port = random.randrange(RELAY_PORT_LOW, RELAY_PORT_HIGH - RELAY_PORTS)
        lines = [
            f"listening-ip={self.host}",
            f"relay-ip={self.host}",
            f"listening-port={self.port}",
            f"min-port={min_port}",
            f"max-port={min_port + RELAY_PORTS - 1}",
            f"realm={REALM}",
            "use-auth-secret",
            f"static-auth-secret={self.secret}",
            "fingerprint",
            "no-tls",
            "no-dtls",
            "no-tcp-relay",
            # Loopback peers are what the tests relay between; coturn allows them only with no-cli.
            "allow-loopback-peers",
            "no-multicast-peers",
            "no-cli",
            "no-software-attribute",
            f"pidfile={self.base_dir / 'turnserver.pid'}",
            f"userdb={self.base_dir / 'turndb'}",
            "log-file=stdout",
            "verbose",
        ]
        if self.production_config is not None:
            lines = self._production_lines(min_port)
        path = self.base_dir / "turnserver.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def _production_lines(self, min_port: int) -> list[str]:
        """The deployment's lines as documented, except where it listens (loopback, no TLS
        certificates here), the secret and the files; no ``allow-loopback-peers``."""
        assert self.base_dir is not None and self.production_config is not None
        kept = [
            line
            for line in self.production_config
            if line.split("=", 1)[0].strip() not in LOOPBACK_ADJUSTED
        ]
        return [
            *kept,
            f"listening-ip={self.host}",
            f"relay-ip={self.host}",
            f"listening-port={self.port}",
            f"min-port={min_port}",
            f"max-port={min_port + RELAY_PORTS - 1}",
            f"static-auth-secret={self.secret}",
            "no-tls",
            "no-dtls",
            f"pidfile={self.base_dir / 'turnserver.pid'}",
            f"userdb={self.base_dir / 'turndb'}",
            "log-file=stdout",
            "verbose",
        ]

    def start(self) -> Self:
        """Start coturn; returns self once it answers a STUN Binding request."""
        if self._proc is not None:
            return self
        binary = self._binary or find_turnserver()
        if binary is None:
            raise CoturnError("turnserver not found; install the 'coturn' package")
        log = self._make_base_dir("teamwell-coturn-")
        try:
            for _attempt in range(5):
                self.port = _free_tcp_and_udp_port(self.host)
                config = self._write_config()
                log_from = self.log_size()
                proc, ok = launch(
                    [str(binary), "-c", str(config)],
                    ready=functools.partial(stun_binding_ok, self.port, self.host),
                    timeout=self.startup_timeout,
                    interval=0.02,
                    log=log,
                    cwd=self.base_dir,
                    still_starting=functools.partial(self._starting, log_from=log_from),
                )
                if ok:
                    self._proc = proc
                    break
                # coturn retries a listener port in use forever rather than exiting.
                if ADDRESS_IN_USE not in self.log_text(log_from):
                    failure = startup_failure("turnserver", "no STUN answer", self.log_path)
                    raise CoturnError(failure)
            else:
                raise CoturnError("turnserver: no free port after 5 tries")
        except BaseException:
            self.stop()
            raise
        return self

    def __repr__(self) -> str:
        return f"CoturnServer(port={self.port}, running={self._proc is not None})"
