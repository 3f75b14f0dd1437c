"""Logs: one line per request with its id, and every line of the request carrying that id.

A request's id comes from its ``X-Request-ID`` header when that is well formed (a proxy or a
client made it, so the operator's own logs and ours can be joined), else it is made here; it is
echoed in the answer's ``X-Request-ID`` and is a problem answer's ``instance``
(``urn:teamwell:request:<id>``), so a person's error report leads to the log line. A WebSocket's
handshake gets an id the same way, and its connection id (the one its ``ready`` frame names) is
on every line about it once it is known. The layer that gives the ids and writes the request
lines is app/edge.py's ``Edge``.

What a line may say is fixed here: the route's template (never the path, which may carry a link's
token, nor the query), the method, the status, the duration, the acting user's id (never a name
or an email), frame types and error codes. Nothing a request or frame carries is logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

log = logging.getLogger("teamwell.requests")

REQUEST_ID_HEADER = b"x-request-id"
INSTANCE_PREFIX = "urn:teamwell:request:"
# A request id accepted from a header: letters, digits and ``. _ : -`` (UUIDs, hex, nginx's
# $request_id, W3C trace ids), so that it cannot break a log line or a header; its length is
# bounded by the setting ``request_id_max_chars``.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]+")

# The request (or WebSocket handshake) being served, and the WebSocket connection once known.
request_id: ContextVar[str | None] = ContextVar("teamwell_request_id", default=None)
connection_id: ContextVar[str | None] = ContextVar("teamwell_connection_id", default=None)

# The fields a line may carry besides its message (given as ``extra=``); nothing else is
# written, so a careless ``extra`` cannot leak a record's content into the log.
FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "frame_type",
    "code",
)

# The current span's ``trace_id`` and ``span_id``, so that a line and its trace can be joined;
# set by app/tracing.py when traces are on, None (nothing looked up) when they are off.
trace_fields: Callable[[], dict[str, str]] | None = None


def accepted_id(value: bytes | None, max_chars: int) -> str | None:
    """The header's request id, if well formed and at most ``max_chars`` long."""
    if value is None or not 0 < len(value) <= max_chars:
        return None
    text = value.decode("latin-1")
    return text if _WELL_FORMED.fullmatch(text) else None


def new_id() -> str:
    return uuid.uuid4().hex


def instance() -> str | None:
    """The problem ``instance`` of the request being served (None outside one)."""
    current = request_id.get()
    return INSTANCE_PREFIX + current if current is not None else None


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (``/api/v1/clients/{client_id}``), not the path."""
    # A route of an included router is matched as itself (``route.path`` lacks the routers'
    # prefixes); FastAPI keeps the whole template in the route context it resolved.
    resolved = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(resolved, "path_format", None)
    if not isinstance(path, str):
        path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def _context(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    rid = request_id.get()
    if rid is not None:
        fields["request_id"] = rid
    conn = connection_id.get()
    if conn is not None:
        fields["connection_id"] = conn
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            fields[name] = value
    if trace_fields is not None:
        fields.update(trace_fields())
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the request's and
    connection's ids, the named fields, and an error's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Development: ``time LEVEL logger key=value ...: message`` for a person reading along;
    the fields before the message, which may run over several lines (an email, with the log
    email backend)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = "".join(f" {key}={value}" for key, value in _context(record).items())
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.name}{fields}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(log_format: str, level: str) -> None:
    """Every logger to standard error in ``log_format`` ("json" or "console"); uvicorn's own
    lines (start, stop, errors) the same way, and its access log off: the edge layer
    (app/edge.py) writes the request lines. Called when the app is imported, which uvicorn does
    after setting up its logging, so this takes precedence over it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_log = logging.getLogger(name)
        uvicorn_log.handlers.clear()
        uvicorn_log.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
