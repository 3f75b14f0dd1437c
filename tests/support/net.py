"""Small networking helpers shared by the throwaway test servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now.

    The OS picks the port; ports already handed out by this process are skipped so
    two servers started back to back never get the same number.  There is still an
    unavoidable race with other processes, so callers retry on "address in use".
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free TCP port")


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass.

    ``alive`` (optional) is polled too; when it returns False the wait stops early
    (e.g. the server process died).  Returns whether ``check`` succeeded.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if alive is not None and not alive():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: str, limit: int = 4096) -> str:
    """The last ``limit`` bytes of a text file (empty string if unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def exchange(
    port: int,
    request: bytes,
    *,
    until: bytes,
    limit: int,
    host: str = "127.0.0.1",
    timeout: float = 1.0,
) -> bytes | None:
    """Send ``request`` to a line protocol on ``port`` and read the reply up to ``until`` (at
    most ``limit`` bytes): a server's ping. None when nothing could be exchanged."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            reply = b""
            while not reply.endswith(until) and len(reply) < limit:
                chunk = sock.recv(limit)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    return reply
