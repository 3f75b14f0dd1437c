"""Traces (app/tracing.py, docs/operations.md "Traces"): off by default with nothing of the SDK
loaded; on with the standard ``OTEL_*`` settings, a real server exports to a collector
stand-in (OTLP over HTTP, protobuf) the spans of a request (the server span named by the
route's template, its database and Redis statements under it) and of a WebSocket frame; the
log lines carry the span's ids; and no span holds a path, a secret, a name, an email or what
a person typed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tracing import ATTRIBUTES, TracingSettingError, _Scrubbing, wanted
from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live, live_server, problem
from tests.realtime.test_realtime import team_conversation
from tests.support.builders import client_id_of, edit_plan
from tests.support.leaks import assert_nothing_leaked, demo_identities
from tests.support.otlp import OtlpCollector, Span
from tests.support.ws import WsClient

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAN_ROUTE = "/api/v1/clients/{client_id}/plan"


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def traced(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    collector: OtlpCollector,
) -> Iterator[Live]:
    """A server exporting its traces to the collector, each span batch within 50 ms; on
    PostgreSQL with Redis (presence and the sign-in throttle), on SQLite without."""
    extra_env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_SERVICE_NAME": f"teamwell-{request.param}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "TEAMWELL_LOG_FORMAT": "json",
        "TEAMWELL_LOG_LEVEL": "DEBUG",
    }
    if request.param == "postgres":
        extra_env["TEAMWELL_REDIS_URL"] = request.getfixturevalue("redis").url
    with live_server(
        tmp_path_factory, f"traces-{request.param}", request=request, extra_env=extra_env
    ) as live:
        yield live


def of_service(live: Live, span: Span) -> bool:
    return span.resource.get("service.name") == live.env["OTEL_SERVICE_NAME"]


def ancestors(spans: list[Span], span: Span) -> list[Span]:
    """The span's parents, nearest first, as far as they were exported."""
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_id and span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


def test_a_request_is_a_server_span_named_by_its_route_with_its_statements_under_it(
    traced: Live, collector: OtlpCollector
) -> None:
    therapist = traced.as_role("therapist")
    client_id = client_id_of(traced, "Alex Morgan")
    given = uuid.uuid4().hex
    reply = therapist.get(f"/api/v1/clients/{client_id}/plan", headers={"X-Request-ID": given})
    assert reply.status_code == 200, reply.text

    server = collector.wait_for(
        lambda s: (
            of_service(traced, s)
            and s.name == f"GET {PLAN_ROUTE}"
            and s.attributes.get("http.response.status_code") == 200
        )
    )
    assert server.kind == "SERVER" and server.scope == "fastapi"
    assert server.attributes["http.route"] == PLAN_ROUTE
    assert server.attributes["http.request.method"] == "GET"
    assert "url.path" not in server.attributes and "url.query" not in server.attributes
    # Its statements: client spans of the database, in the same trace, under the server span.
    statement = collector.wait_for(
        lambda s: s.trace_id == server.trace_id and "db.statement" in s.attributes
    )
    spans = collector.snapshot()
    statements = [
        s for s in spans if s.trace_id == server.trace_id and "db.statement" in s.attributes
    ]
    assert statement.kind == "CLIENT"
    expected_system = "sqlite" if traced.backend == "sqlite" else "postgresql"
    for db in statements:
        assert db.kind == "CLIENT" and db.attributes["db.system"] == expected_system, db
        # Named by the operation alone (SQLite's database "name" is a path on the machine).
        assert db.name == db.attributes["db.statement"].split()[0], db
        assert server in ancestors(spans, db), db
        assert client_id not in db.attributes["db.statement"]  # a bound parameter
    # The request's log line carries the server span's ids.
    assert traced.server.log_path is not None
    [line] = [
        json.loads(text)
        for text in traced.server.log_path.read_text().splitlines()
        if text.startswith("{") and f'"request_id": "{given}"' in text and '"request"' in text
    ]
    assert (line["trace_id"], line["span_id"]) == (server.trace_id, server.span_id)


def test_a_sign_in_has_its_redis_commands_without_values(
    traced: Live, collector: OtlpCollector
) -> None:
    failed = traced.client().post(
        "/api/v1/auth/login",
        json={"email": ROLE_EMAILS["admin"], "password": "Wrong-" + uuid.uuid4().hex},
    )
    problem(failed, 401)
    server = collector.wait_for(
        lambda s: (
            of_service(traced, s)
            and s.name == "POST /api/v1/auth/login"
            and s.attributes.get("http.response.status_code") == 401
        )
    )
    if traced.backend == "sqlite":  # this server has no Redis: the throttle is in memory
        spans = [s for s in collector.snapshot() if of_service(traced, s)]
        assert not [s for s in spans if s.attributes.get("db.system") == "redis"]
        return
    redis = collector.wait_for(
        lambda s: s.trace_id == server.trace_id and s.attributes.get("db.system") == "redis"
    )
    assert redis.kind == "CLIENT" and server in ancestors(collector.snapshot(), redis)
    # The command, its arguments as placeholders (the throttle's keys are not in it).
    assert re.fullmatch(r"[A-Z]+( \?)*", redis.attributes["db.statement"]), redis.attributes


async def test_a_websocket_frame_is_a_span_of_its_own(
    traced: Live, collector: OtlpCollector
) -> None:
    keyworker = traced.as_role("peer_keyworker")
    conversation = team_conversation(traced)
    socket = await WsClient.connect(traced.base_url, keyworker.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        sent = await socket.send_message(conversation, "Frame-body-" + uuid.uuid4().hex)
        assert sent["type"] == "message.ack", sent
    finally:
        await socket.close()
    frame = collector.wait_for(lambda s: of_service(traced, s) and s.name == "WS message.send")
    assert frame.kind == "SERVER" and frame.parent_id == ""  # a trace of its own
    assert frame.attributes == {"teamwell.ws.frame_type": "message.send"}


def test_probes_are_not_traced(traced: Live, collector: OtlpCollector) -> None:
    http = traced.client()
    assert http.get("/healthz").status_code == 200
    assert http.get("/api/v1/meta").status_code == 200
    # Spans are exported in the order they end: once the later request's is in, the probe's
    # would be too.
    collector.wait_for(lambda s: of_service(traced, s) and s.name == "GET /api/v1/meta")
    names = {s.name for s in collector.snapshot() if of_service(traced, s)}
    assert not {"GET /healthz", "GET /readyz"} & names, names


async def test_no_span_holds_a_secret_a_path_or_what_was_typed(
    traced: Live, collector: OtlpCollector
) -> None:
    """Sign in, message, save a plan with a note, fail a sign-in, send a bad frame; then no
    exported span (names, attributes, events, statuses, resource) holds any of it."""
    typed = {
        "message": "Secret-message-" + uuid.uuid4().hex,
        "note": "Plan-note-" + uuid.uuid4().hex,
        "wrong password": "Wrong-password-" + uuid.uuid4().hex,
    }
    keyworker = traced.as_role("peer_keyworker")
    client_id = client_id_of(traced, "Alex Morgan")
    socket = await WsClient.connect(traced.base_url, keyworker.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        sent = await socket.send_message(team_conversation(traced), typed["message"])
        assert sent["type"] == "message.ack", sent
        refused = await socket.request({"type": "message.send", "body": typed["note"]})
        assert refused["type"] == "error", refused
    finally:
        await socket.close()
    edit_plan(
        keyworker, client_id, lambda c: c["vocational_profile"].update(what_helps=typed["note"])
    )
    failed = traced.client().post(
        "/api/v1/auth/login",
        json={"email": ROLE_EMAILS["therapist"], "password": typed["wrong password"]},
    )
    problem(failed, 401)
    # A last request: once its span is in, so are the others' (exported in the order they end).
    before = {s.trace_id for s in collector.snapshot()}
    marker = uuid.uuid4().hex
    traced.client().get("/api/v1/meta", params={"q": marker})
    collector.wait_for(
        lambda s: (
            of_service(traced, s) and s.name == "GET /api/v1/meta" and s.trace_id not in before
        )
    )

    exported = b"".join(s.raw for s in collector.snapshot())
    text = exported.decode("utf-8", errors="replace")
    secrets = {**typed, "demo password": DEMO_PASSWORD, "client id": client_id, "query": marker}
    for role, session in traced._sessions.items():
        secrets[f"access token of {role}"] = session.tokens["access_token"]
        if session.tokens.get("refresh_token"):
            secrets[f"refresh token of {role}"] = session.tokens["refresh_token"]
    secrets.update(demo_identities())
    # Nothing shaped like an email address or a bearer token either.
    assert_nothing_leaked(text, secrets)


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, True),
    ],
)
def test_traces_are_on_only_when_the_environment_asks(environ: dict[str, str], on: bool) -> None:
    assert wanted(environ) is on


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
    ],
)
def test_an_exporter_not_installed_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(TracingSettingError):
        wanted(environ)


LOADED = """
import sys
import app.main
from opentelemetry import trace
print(sorted(name for name in sys.modules if name.startswith(
    ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation")
)))
print(type(trace.get_tracer_provider()).__name__)
"""


def test_with_traces_off_no_tracer_exporter_or_instrumentation_is_loaded(tmp_path: Path) -> None:
    """(redis-py itself imports the SDK's metrics package when it is installed, for its own
    optional metrics, which nothing here turns on.)"""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "TEAMWELL_"))
    }
    env["TEAMWELL_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", LOADED],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules, provider = done.stdout.splitlines()[-2:]
    assert modules == "[]"
    assert provider == "ProxyTracerProvider"  # FastAPI's own telemetry steps aside


def test_a_span_leaves_with_its_allowed_attributes_and_an_error_s_type_only() -> None:
    """Whatever an instrumentation records, the scrubber lets out only the allowed attributes,
    an exception's type (not its message or stack) and no status description."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(_Scrubbing(SimpleSpanProcessor(exported)))  # type: ignore[arg-type]
    secret = "someone@example.org"
    with provider.get_tracer("test").start_as_current_span(
        "INSERT /var/lib/teamwell/teamwell.db",
        attributes={
            "db.system": "sqlite",
            "db.name": "/var/lib/teamwell/teamwell.db",
            "db.statement": "INSERT INTO user (email) VALUES (?)",
            "db.user": "teamwell",
            "url.path": "/api/v1/clients/3f2a/plan",
            "url.query": f"email={secret}",
            "http.request.header.authorization": ("Bearer eyJ",),
            "enduser.id": secret,
        },
        record_exception=False,
    ) as span:
        span.record_exception(ValueError(f"Key (email)=({secret}) already exists"))
        span.set_status(Status(StatusCode.ERROR, f"Key (email)=({secret}) already exists"))
    [out] = exported.get_finished_spans()
    assert out.name == "INSERT"  # the operation, without the database's path
    assert dict(out.attributes or {}) == {
        "db.system": "sqlite",
        "db.statement": "INSERT INTO user (email) VALUES (?)",
    }
    assert set(out.attributes or {}) <= ATTRIBUTES
    [event] = out.events
    assert (event.name, dict(event.attributes or {})) == (
        "exception",
        {"exception.type": "ValueError"},
    )
    assert out.status.status_code == StatusCode.ERROR and not out.status.description
    provider.shutdown()
