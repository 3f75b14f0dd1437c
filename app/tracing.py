"""Traces (OpenTelemetry): off unless the standard ``OTEL_*`` environment asks for them.

``OTEL_TRACES_EXPORTER=otlp`` turns them on (``none``, unset, or ``OTEL_SDK_DISABLED=true``
leave them off); the rest is the SDK's own reading of the environment: where the spans go
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._HEADERS``,
``..._TIMEOUT``), the service's name and resource (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``), sampling (``OTEL_TRACES_SAMPLER``, ``..._ARG``) and batching
(``OTEL_BSP_*``). The exporter is OTLP over HTTP with protobuf, the one protocol installed.

Off, nothing of the tracing SDK, the exporter or the instrumentations is imported and nothing
is patched: FastAPI's own telemetry finds no tracer provider and steps aside, and the WebSocket
gateway tests one module attribute (``tracer``) per frame.

On, a request's spans are FastAPI's (the server span named by the route's template, and its
dependency, endpoint and serialisation steps), SQLAlchemy's (one per statement, on every
engine app/db.py makes, SQLite and PostgreSQL alike) and redis-py's (the presence store and the
sign-in throttle); and one span per WebSocket frame handled (``frame_span``), named by the
frame's type. What a span may carry is fixed here, as a log line's fields are in app/logs.py:
every finished span passes ``_scrubbed``, which keeps only the attributes in ``ATTRIBUTES``,
an error's type but not its message, and no status description. So the raw path (which may
carry a link's token or a client's id), the query, headers (``Authorization``, cookies), SQL
parameters, exception messages (a database's "Key (email)=(...)") and anything a future
instrumentation adds never leave the service.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

log = logging.getLogger("teamwell.tracing")

# The tracer of the WebSocket frame spans; None while traces are off.
tracer: trace.Tracer | None = None
# What traces a new database engine; None while traces are off.
_trace_engine: Callable[[Any], None] | None = None

# Paths never traced: probes and scrapes, many a minute, which say nothing about a request.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def exclude(scope: MutableMapping[str, Any]) -> bool:
    """FastAPI's ``exclude``: probes and scrapes are not traced."""
    return scope.get("path") in UNTRACED_PATHS


# FastAPI's own telemetry (FastAPI(telemetry=...)): its spans only, and only when a tracer
# provider is configured (``configure``). Its metrics and log records stay off: the service's
# metrics and logs are its own, and a validation failure's record would carry the input.
FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": True,
    "metrics": False,
    "logs": False,
    "operation_spans": True,
    "auto_configure": False,
    "exclude": exclude,
}

# The attributes a span may carry, whoever set them; every other one is dropped at the span's
# end. None of them holds what a person typed, a path, a query, a header or a SQL parameter.
ATTRIBUTES = frozenset(
    {
        # HTTP server spans (FastAPI): the method, the route's template, the status.
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "url.scheme",
        "network.protocol.name",
        "network.protocol.version",
        "server.address",
        "server.port",
        "error.type",
        # FastAPI's steps: which function ran (module and name).
        "code.function.name",
        # Database and Redis client spans: the statement as sent, with its parameters as
        # placeholders (SQLAlchemy binds every value; redis-py's spans give "SET ? ?").
        "db.system",
        "db.system.name",
        "db.name",
        "db.namespace",
        "db.statement",
        "db.query.text",
        "db.operation",
        "db.operation.name",
        "db.redis.database_index",
        "db.redis.args_length",
        "db.redis.pipeline_length",
        "net.peer.name",
        "net.peer.port",
        "net.transport",
        # WebSocket frame spans (``frame_span``): the frame's type and a refusal's code.
        "teamwell.ws.frame_type",
        "teamwell.ws.error_code",
    }
)
# Of an exception event, its type only: its message and stack may quote the data.
EVENT_ATTRIBUTES = frozenset({"exception.type"})

_ON_VALUES = frozenset({"otlp"})


class TracingSettingError(ValueError):
    """The ``OTEL_*`` environment asks for what this service cannot do."""


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment turns traces on (``OTEL_TRACES_EXPORTER=otlp``)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if name.strip()
    }
    if not exporters or exporters == {"none"}:
        return False
    unknown = exporters - _ON_VALUES - {"none"}
    if unknown:
        raise TracingSettingError(
            f"OTEL_TRACES_EXPORTER: {', '.join(sorted(unknown))} is not available; "
            "this service exports traces with otlp (OTLP over HTTP, protobuf) or none."
        )
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    if protocol not in ("", "http/protobuf"):
        raise TracingSettingError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol} is not available; use http/protobuf."
        )
    return True


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Turn traces on if the environment asks: the global tracer provider with a batching OTLP
    exporter behind the scrubber, and the SQLAlchemy and Redis instrumentations. Once a
    process, before the app makes its engines. True if traces are on."""
    global tracer
    if not wanted(os.environ if environ is None else environ):
        return False
    if tracer is not None:
        return True
    # Imported here, so that a service without traces loads none of it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The service's name defaults to "teamwell"; OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
    # name it otherwise (Resource.create reads both, and they win over this default).
    resource = Resource.create({"service.name": "teamwell"}).merge(Resource.create())
    provider = TracerProvider(resource=resource)
    # Duck-typed: the SDK's base class is not imported with this module (traces off).
    scrubbing = cast("SpanProcessor", _Scrubbing(BatchSpanProcessor(OTLPSpanExporter())))
    provider.add_span_processor(scrubbing)
    trace.set_tracer_provider(provider)
    # Every engine the app makes from now on (app/db.py calls ``trace_engine``): app/db.py
    # imported SQLAlchemy's engine factory before this ran, so patching the factory, as the
    # instrumentation's ``instrument()`` does, would not reach it. SQLAlchemy binds the values,
    # so a statement is sent, and recorded, with placeholders; no SQL comments are added.
    sql_tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    # The pool-usage counter the engine tracer keeps: metrics are not this module's (no meter
    # provider is set), so it counts into nothing.
    pool_usage = metrics.get_meter("teamwell.tracing").create_up_down_counter(
        "db.client.connections.usage"
    )

    def traced(engine: Any) -> None:
        EngineTracer(sql_tracer, engine.sync_engine, pool_usage, enable_commenter=False)

    global _trace_engine
    _trace_engine = traced
    RedisInstrumentor().instrument(tracer_provider=provider)
    tracer = provider.get_tracer("teamwell.realtime")
    _join_logs()
    log.info("traces on")
    return True


def trace_engine(engine: Any) -> None:
    """Trace this (async) engine's statements, if traces are on."""
    if _trace_engine is not None:
        _trace_engine(engine)


def _join_logs() -> None:
    """Give the log lines (app/logs.py) the current span's trace and span ids."""
    from app import logs

    logs.trace_fields = _current_ids


def _current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


@contextmanager
def frame_span(frame_type: str) -> Iterator[trace.Span]:
    """A WebSocket frame's handling, as a span of its own (a socket lives for hours: each
    frame is a trace of its own, with its statements under it). Only while traces are on."""
    assert tracer is not None
    with tracer.start_as_current_span(
        f"WS {frame_type}",
        kind=trace.SpanKind.SERVER,
        attributes={"teamwell.ws.frame_type": frame_type},
    ) as span:
        yield span


def frame_refused(code: str) -> None:
    """Mark the frame span being handled (if any) as refused with this error code."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("teamwell.ws.error_code", code)


def _kept(attributes: Mapping[str, Any] | None, allowed: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in (attributes or {}).items() if key in allowed}


def _scrubbed(span: ReadableSpan) -> ReadableSpan:
    """The span as exported: its allowed attributes only, events with their type only, no
    status description, links without attributes."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link
    from opentelemetry.trace.status import Status

    attributes = _kept(span.attributes, ATTRIBUTES)
    name = span.name
    database = attributes.get("db.name")
    if isinstance(database, str) and name.endswith(" " + database):
        # A statement's span is named by its operation: for SQLite the database's "name" is
        # its file's path on this machine.
        name = name.removesuffix(" " + database)
    if attributes.get("db.system") == "sqlite":
        attributes.pop("db.name", None)
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=tuple(
            Event(event.name, _kept(event.attributes, EVENT_ATTRIBUTES), event.timestamp)
            for event in span.events
        ),
        links=tuple(Link(link.context) for link in span.links),
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class _Scrubbing:
    """A span processor handing each finished span, scrubbed, to the one it wraps."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(_scrubbed(span))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))
