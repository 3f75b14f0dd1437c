"""Prometheus metrics (docs/operations.md "Metrics"): what is counted, where, and ``/metrics``.

Every metric is process-wide (the client library's registry). With several worker processes on
one host, ``PROMETHEUS_MULTIPROC_DIR`` names a directory they share (set before they start, emptied
at each start of the service): each process then writes its values there and a scrape of any of
them adds all of them up.

No label carries personal data: label values come from fixed sets (route templates, frame types,
error codes, channel names, job kinds), never from ids, names, emails or raw paths. The hot paths
(a frame sent, a message stored) pay one addition to a plain integer on a child made once
(``_Tally``), handed to the client library in one increment at least every ``FLUSH_SECONDS``;
never a label lookup per message.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from app.errors import problem_response

log = logging.getLogger("teamwell.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Unmatched requests (a 404 for any path) share one label value, so a scan of made-up paths
# cannot grow the series without bound.
UNMATCHED = "unmatched"
OTHER = "other"

HTTP_REQUESTS = Counter(
    "teamwell_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "teamwell_http_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WS_CONNECTIONS = Gauge(
    "teamwell_ws_connections",
    "WebSocket connections open (accepted and not yet closed).",
    multiprocess_mode="livesum",
)
WS_FRAMES_IN = Counter(
    "teamwell_ws_frames_received_total", "Frames received from clients, by type.", ["type"]
)
WS_FRAMES_OUT = Counter(
    "teamwell_ws_frames_sent_total", "Frames queued to clients' sockets, by type.", ["type"]
)
WS_REFUSED = Counter(
    "teamwell_ws_frames_refused_total", "Frames answered with an error frame, by code.", ["code"]
)
WS_SEND_QUEUE = Gauge(
    "teamwell_ws_send_queue_frames",
    "Frames queued to this process's sockets and not yet written, summed, at the last scrape.",
    multiprocess_mode="livesum",
)
WS_SEND_QUEUE_MAX = Gauge(
    "teamwell_ws_send_queue_max_frames",
    "The longest send queue of one socket of this process, at the last scrape.",
    multiprocess_mode="livemax",
)
MESSAGES_STORED = Counter("teamwell_messages_stored_total", "Messages stored (committed).")
GROUP_COMMIT_BATCH = Histogram(
    "teamwell_group_commit_batch_size",
    "Items written per group-commit batch, by writer (messages, audit).",
    ["writer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GROUP_COMMIT_SECONDS = Histogram(
    "teamwell_group_commit_seconds",
    "Time to write and commit one group-commit batch, by writer.",
    ["writer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
GROUP_COMMIT_QUEUE = Gauge(
    "teamwell_group_commit_queue",
    "Items handed to a group-commit writer and not yet taken into a batch, by writer.",
    ["writer"],
    multiprocess_mode="livesum",
)
PRESENCE_PUBLISHED = Counter(
    "teamwell_presence_changes_published_total",
    "Presence changes published to the people entitled to see them.",
)
MEETING_PARTICIPANTS = Gauge(
    "teamwell_meeting_participants",
    "Seats taken in meetings, by state (lobby, admitted, reconnecting), read from the database "
    "at the last scrape: the same figure on every process.",
    ["state"],
    multiprocess_mode="livemostrecent",
)
SIGNALS_RELAYED = Counter(
    "teamwell_meeting_signals_relayed_total",
    "Call signalling relayed between participants, by kind (offer, answer, candidate).",
    ["kind"],
)
AUDIT_EVENTS = Counter(
    "teamwell_audit_events_total", "Audit events appended to the chain (in their transaction)."
)
JOBS_DUE = Gauge(
    "teamwell_jobs_due",
    "Jobs due to run (queued and due, or whose lease ran out), at the last look for work.",
    multiprocess_mode="livemax",
)
JOBS_LAST_TICK = Gauge(
    "teamwell_jobs_last_tick_timestamp_seconds",
    "When the job runner last looked for work successfully (Unix time).",
    multiprocess_mode="livemax",
)
JOB_RUNS = Counter(
    "teamwell_job_runs_total",
    "Job attempts, by kind and outcome (done, failed).",
    ["kind", "outcome"],
)
NOTIFICATION_DELIVERIES = Counter(
    "teamwell_notification_deliveries_total",
    "Notification delivery attempts, by channel and outcome (sent, retrying, failed).",
    ["channel", "outcome"],
)
DB_POOL = Gauge(
    "teamwell_db_pool_connections",
    "Database connections of the request pool checked out, at the last scrape of the process.",
    multiprocess_mode="livesum",
)
REDIS_CONNECTED = Gauge(
    "teamwell_redis_connected",
    "1 while the pub/sub connection to Redis is up, 0 while it is being re-established.",
    ["connection"],
    multiprocess_mode="livemin",
)
REDIS_RECONNECTS = Counter(
    "teamwell_redis_reconnects_total", "Times the pub/sub connection to Redis was re-established."
)


class _Tally:
    """A counter child of the hot paths (a frame, a message), counted in a plain integer and
    handed to the client library in one increment by ``flush``: before every scrape, every
    ``FLUSH_SECONDS`` and as the process stops. In multi-process mode the library's increment
    takes a lock and writes to the shared file: 0.68 µs, against 0.035 µs for this addition,
    measured on the 2-core benchmark machine; a message to a conversation of ten counts about
    a dozen times. Counted only from the event loop's thread (no lock)."""

    __slots__ = ("_child", "pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.pending = 0
        _TALLIES.append(self)

    def inc(self, amount: int = 1) -> None:
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0
            self._child.inc(amount)


_TALLIES: list[_Tally] = []
FLUSH_SECONDS = 1.0  # how stale another process's counts may be at a scrape, at most


def flush() -> None:
    """Hand every tallied count to the client library (from the event loop's thread)."""
    for tally in _TALLIES:
        tally.flush()


async def flush_every(seconds: float = FLUSH_SECONDS) -> None:
    """While the service runs with metrics on: a scrape of any process of the host reads every
    process's counts from the shared directory, so each hands its own over regularly."""
    while True:
        await asyncio.sleep(seconds)
        flush()


class _Children:
    """The children of a labelled counter for a fixed set of label values, made once and
    tallied (``_Tally``); any other value is counted under ``other``, so a label can only take
    the values named here."""

    def __init__(self, metric: Any, values: set[str]) -> None:
        self._known = {value: _Tally(metric.labels(value)) for value in values}
        self._other = _Tally(metric.labels(OTHER))

    def __getitem__(self, value: str) -> Any:
        return self._known.get(value, self._other)


def _frame_types() -> tuple[set[str], set[str], set[str]]:
    """The protocol's frame types (client's, server's) and error codes: the label values."""
    from typing import get_args

    from realtime import protocol as p

    def types_of(union: Any) -> set[str]:
        found: set[str] = set()
        for model in get_args(get_args(union)[0]) if get_args(union) else ():
            found.update(get_args(model.model_fields["type"].annotation))
        return found

    client = types_of(p.ClientFrame)
    server = {
        str(value)
        for cls in _subclasses(p.ServerFrame)
        if "type" in cls.model_fields
        for value in get_args(cls.model_fields["type"].annotation)
    }
    return client, server, {code.value for code in p.ErrorCode}


def _subclasses(cls: Any) -> list[Any]:
    found: list[Any] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


class _Off:
    """Stands for a metric, or a set of children, while the metrics are off: does nothing."""

    __slots__ = ()

    def __getitem__(self, _value: str) -> _Off:
        return self

    def inc(self, _amount: float = 1) -> None:
        pass

    def dec(self, _amount: float = 1) -> None:
        pass

    def set(self, _value: float) -> None:
        pass

    def observe(self, _value: float) -> None:
        pass


OFF = _Off()

_client_types, _server_types, _codes = _frame_types()
# What the hot paths count with, by name (``metrics.frames_out[...]``), so that ``configure``
# can put ``OFF`` in their place.
_ON: dict[str, Any] = {
    "frames_in": _Children(WS_FRAMES_IN, _client_types | {"invalid"}),
    "frames_out": _Children(WS_FRAMES_OUT, _server_types),
    "refused": _Children(WS_REFUSED, _codes),
    "ws_connections": WS_CONNECTIONS,
    "messages_stored": _Tally(MESSAGES_STORED),
    "presence_published": _Tally(PRESENCE_PUBLISHED),
    "signals_relayed": _Children(SIGNALS_RELAYED, {"offer", "answer", "candidate"}),
    "audit_events": AUDIT_EVENTS,
}
frames_in: Any = _ON["frames_in"]
frames_out: Any = _ON["frames_out"]
refused: Any = _ON["refused"]
ws_connections: Any = _ON["ws_connections"]
messages_stored: Any = _ON["messages_stored"]
presence_published: Any = _ON["presence_published"]
signals_relayed: Any = _ON["signals_relayed"]
audit_events: Any = _ON["audit_events"]
enabled = True


def configure(*, on: bool) -> None:
    """Count, or not. Off when nothing may scrape (``TEAMWELL_METRICS_TOKEN`` unset), so that a
    service without metrics pays nothing for them on its hot paths; on and off back to back is
    also how the benchmark measures their cost (docs/operations.md, "Cost")."""
    global enabled
    enabled = on
    globals().update(_ON if on else dict.fromkeys(_ON, OFF))


def frame_type_of(text: str) -> str:
    """An encoded server frame's type, read without parsing the JSON: frames are encoded with
    their ``type`` first (``realtime.protocol.encode``)."""
    if text.startswith('{"type":"'):
        end = text.find('"', 9)
        if end > 0:
            return text[9:end]
    return OTHER


class GroupCommitMetrics:
    """One group-commit writer's batch size, commit time and queue, children made once."""

    __slots__ = ("batch", "queue", "seconds")
    batch: Any
    seconds: Any
    queue: Any

    def __init__(self, writer: str) -> None:
        # Made when the writer is (as the service starts, once ``configure`` has been called).
        self.batch = GROUP_COMMIT_BATCH.labels(writer) if enabled else OFF
        self.seconds = GROUP_COMMIT_SECONDS.labels(writer) if enabled else OFF
        self.queue = GROUP_COMMIT_QUEUE.labels(writer) if enabled else OFF


def job_run(kind: str, done: bool) -> None:
    # Job kinds are the registry's fixed names (app/jobs/kinds.py), never a job's id or payload.
    if enabled:
        JOB_RUNS.labels(kind, "done" if done else "failed").inc()


def notification_delivery(channel: str, outcome: str) -> None:
    if enabled:
        NOTIFICATION_DELIVERIES.labels(channel, outcome).inc()


def redis_connected(up: bool) -> None:
    REDIS_CONNECTED.labels("pubsub").set(1 if up else 0)


def count_http(scope: Scope, status: int, started: float) -> None:
    """Count an HTTP answer by the route template that served it (``/api/v1/plans/{plan_id}``,
    never the path with its ids) and time it from ``started`` (``time.perf_counter``). Called
    by the service's edge layer (app/edge.py) once the request is done, for every HTTP answer
    while metrics are counted; WebSockets have their own metrics."""
    route = _route_template(scope)
    method = scope["method"] if scope["method"] in _METHODS else OTHER
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# What the prefix of an included router may look like: plain words (``/api/v1``), so that a
# label can never take part of a path carrying an id.
_STATIC_PREFIX = re.compile(r"(/[a-z][a-z0-9_-]{0,30})*")


def _route_template(scope: Scope) -> str:
    """The template of the route that answered. The router leaves the route it matched in the
    scope, its path relative to the router that included it (``/clients/{client_id}`` under
    ``/api/v1``): the including routers' prefix is as many leading segments of the request's
    path as the template does not have, and is kept only if it is plain words."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    segments = scope.get("path", "").split("/")
    depth = template.count("/")
    prefix = "/".join(segments[: len(segments) - depth]) if len(segments) > depth else ""
    if not _STATIC_PREFIX.fullmatch(prefix):
        return template
    return prefix + template


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus exposition, for a scraper holding ``TEAMWELL_METRICS_TOKEN``. Unset, the
    endpoint does not exist (404); without the token or with another, 401. The token offered is
    compared in constant time and never logged."""
    token = request.app.state.settings.metrics_token
    if token is None:
        return problem_response(404, detail="Not found.", slug="not-found")
    offered = request.headers.get("authorization", "")
    scheme, _, credential = offered.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), expected):
        return problem_response(
            401,
            detail="A bearer token for the metrics is required.",
            slug="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    flush()
    _sample_pool(request)
    _sample_send_queues(request)
    await _sample_meetings(request)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _sample_pool(request: Request) -> None:
    # Read at scrape time from the engine's pool: nothing on the request path pays for it.
    pool = getattr(getattr(request.app.state, "engine", None), "pool", None)
    checked_out = getattr(pool, "checkedout", None)
    if callable(checked_out):
        DB_POOL.set(checked_out())


def _sample_send_queues(request: Request) -> None:
    # Read at scrape time from this process's sockets: a frame queued or sent pays nothing.
    realtime = getattr(request.app.state, "realtime", None)
    if realtime is None:
        return
    sizes = [connection.outbound.qsize() for connection in realtime.hub.connections()]
    WS_SEND_QUEUE.set(sum(sizes))
    WS_SEND_QUEUE_MAX.set(max(sizes, default=0))


async def _sample_meetings(request: Request) -> None:
    # Seats are rows in the database, shared by every process: counted when scraped, and a
    # database that does not answer leaves the last figures (its own metrics say why).
    from app.meetings import service as meetings  # here: the domains import this module

    sessions = getattr(request.app.state, "session_factory", None)
    if sessions is None:
        return
    try:
        async with sessions() as session:
            counts = await meetings.seats_by_state(session=session)
    except Exception as exc:  # the scrape still answers with everything else
        log.warning("metrics: meeting seats not counted: %r", exc)
        return
    for state, count in counts.items():
        MEETING_PARTICIPANTS.labels(state).set(count)


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def process_stopped() -> None:
    """Hand over the last tallied counts; let the live gauges of a stopping process go, in
    multi-process mode."""
    flush()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())
