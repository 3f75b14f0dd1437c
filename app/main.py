"""The application factory: settings, database, authentication, routes and the web client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketState

from app.audit.checkpoints import Checkpointer
from app.audit.checkpoints import settings_key as checkpoint_key
from app.audit.routes import router as audit_router
from app.audit.writer import AuditWriter
from app.benefits.routes import router as benefits_router
from app.brokerage.routes import router as brokerage_router
from app.clients.routes import eligibility_router
from app.clients.routes import router as clients_router
from app.clock import Clock, SystemClock
from app.config import Settings, get_settings
from app.crypto import FieldCipher
from app.db import create_engine, session_factory
from app.documents.routes import files as document_files_router
from app.documents.routes import router as documents_router
from app.documents.service import runtime_from_settings as documents_runtime
from app.edge import CONTENT_SECURITY_POLICY as CONTENT_SECURITY_POLICY
from app.edge import BodyTooLarge, Edge, PrefixGate, answer_body_too_large
from app.equality.routes import router as equality_router
from app.errors import install_error_handlers, is_outage
from app.evaluation.routes import router as evaluation_router
from app.exports.routes import router as exports_router
from app.fidelity.routes import router as fidelity_router
from app.health.routes import router as health_router
from app.home.routes import router as home_router
from app.ips.routes import router as ips_router
from app.jobs.routes import router as jobs_router
from app.jobs.runner import JobRunner
from app.logs import configure as configure_logging
from app.measures.routes import router as measures_router
from app.meetings.routes import calls as calls_router
from app.meetings.routes import guest_links as guest_links_router
from app.meetings.routes import router as meetings_router
from app.messaging.keyring import keyring_from_settings
from app.messaging.routes import router as conversations_router
from app.meta.docs import router as api_docs_router
from app.meta.routes import router as meta_router
from app.metrics import configure as configure_metrics
from app.metrics import flush_every, process_stopped
from app.metrics import router as metrics_router
from app.notifications.channels import channels_for
from app.notifications.routes import router as notifications_router
from app.notifications.routes import staff_router as notification_status_router
from app.organisations.routes import router as organisations_router
from app.plans.routes import router as plans_router
from app.reports.routes import router as reports_router
from app.reports.target_routes import router as targets_router
from app.supervision.routes import router as supervision_router
from app.system.routes import router as system_router
from app.teams.routes import router as teams_router
from app.tracing import FASTAPI_TELEMETRY
from app.tracing import configure as configure_tracing
from app.users.routes import router as users_router
from auth.deps import install_refusal_audit
from auth.email import email_sender_for
from auth.invitations.routes import router as invitations_router
from auth.routes import router as auth_router
from auth.service import AuthRuntime
from auth.sso.routes import router as sso_router
from auth.tokens import TokenSigner
from realtime.container import Realtime
from realtime.gateway import WS_PATH, websocket_endpoint
from realtime.gateway import router as realtime_router
from realtime.hub import Hub
from realtime.presence_service import PresenceService
from realtime.presence_store import PresenceUnavailable, create_presence_store
from realtime.pubsub import PubSubUnavailable, create_pubsub

log = logging.getLogger("teamwell")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
API_PREFIX = "/api/v1"

# Redis being unreachable, as the realtime layer reports it (beside the errors app.errors knows).
REALTIME_OUTAGES: tuple[type[Exception], ...] = (PubSubUnavailable, PresenceUnavailable)
# RFC 6455 "Try Again Later": the socket could not be served because a backing service is away.
WS_CLOSE_TRY_AGAIN_LATER = 1013


class CloseSocketsOnOutage:
    """A WebSocket whose handling meets an outage (the database or Redis unreachable) is closed
    with 1013, so the client knows to reconnect later, instead of being dropped without a
    close frame."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False

        async def tracking_send(message: Message) -> None:
            nonlocal closed
            if message["type"] == "websocket.close":
                closed = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if closed or not (is_outage(exc) or isinstance(exc, REALTIME_OUTAGES)):
                raise
            log.warning("closing a socket with %d: %r", WS_CLOSE_TRY_AGAIN_LATER, exc)
            await send(
                {
                    "type": "websocket.close",
                    "code": WS_CLOSE_TRY_AGAIN_LATER,
                    "reason": "service unavailable; try again",
                }
            )


class Teamwell(FastAPI):
    """The application. A WebSocket to ``/ws`` goes straight to the gateway, wrapped only in
    ``CloseSocketsOnOutage``, rather than through the HTTP middleware stack: none of those
    layers acts on it, yet each kept its frames and closures alive for the socket's whole life
    (kilobytes per connection, with ten thousand connections) and added calls to every frame
    sent. Everything else, including ``/ws`` under a root path, takes the usual way."""

    ws_fast_path: ASGIApp | None = None
    # Outside everything: the service's own layer (app/edge.py), the request's id and log line
    # among what it does; a socket on the fast path gets its id from it too.
    edge: Edge | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and scope.get("path") == WS_PATH
            and not scope.get("root_path")
            and self.ws_fast_path is not None
        ):
            # The socket's request id is given here, not by awaiting the request-log layer, so
            # that a socket held open for hours keeps no frame of that layer (idle-connection
            # memory, docs/benchmarks.md).
            if self.edge is not None:
                self.edge.name_socket(scope)
            scope["app"] = self
            await self.ws_fast_path(scope, receive, send)
        elif self.edge is not None:
            await self.edge(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def dispatch(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Everything but the ``/ws`` fast path: FastAPI's own stack (inside the edge layer)."""
        return super().__call__(scope, receive, send)


async def _gateway(scope: Scope, receive: Receive, send: Send) -> None:
    """``/ws`` on the fast path, closing with 1013 on an outage as ``CloseSocketsOnOutage`` does
    but without its wrapper (a frame and a closure per socket, for the socket's life): whether
    the close was sent already is read from the socket's own state."""
    websocket = WebSocket(scope, receive, send)
    try:
        await websocket_endpoint(websocket)
    except Exception as exc:
        if websocket.application_state == WebSocketState.DISCONNECTED or not (
            is_outage(exc) or isinstance(exc, REALTIME_OUTAGES)
        ):
            raise
        log.warning("closing a socket with %d: %r", WS_CLOSE_TRY_AGAIN_LATER, exc)
        await send(
            {
                "type": "websocket.close",
                "code": WS_CLOSE_TRY_AGAIN_LATER,
                "reason": "service unavailable; try again",
            }
        )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Teamwell:
    settings = settings or get_settings()
    clock = clock or SystemClock()
    app = Teamwell(
        title="Teamwell",
        version="0.1.0",
        description=(
            "A remote multidisciplinary team service for programmes that join mental-health "
            "care and employment support (IPS). Errors are RFC 9457 problem details."
        ),
        lifespan=_lifespan(settings, clock),
        docs_url=None,  # served by app/meta/docs.py, under the Content-Security-Policy
        redoc_url=None,
        # Spans only when traces are on (app/tracing.py); none for probes.
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.settings = settings
    # Nothing is counted when nothing may scrape: the hot paths then pay nothing for metrics.
    configure_metrics(on=settings.metrics_token is not None)
    app.state.clock = clock
    app.state.auth = AuthRuntime(
        settings=settings,
        signer=TokenSigner(settings.secret("jwt_secret")),
        cipher=FieldCipher(settings.secret("field_encryption_key")),
        clock=clock,
    )
    app.state.email_sender = email_sender_for(settings)
    # The notification senders (app/notifications/channels.py), for deliver_due.
    app.state.notification_channels = channels_for(settings, app.state.email_sender)
    app.state.keyring = keyring_from_settings(settings)
    # Documents: the object store, the malware scanner (if configured), the keyring.
    app.state.documents = documents_runtime(settings, keyring=app.state.keyring)
    install_error_handlers(app, outages=REALTIME_OUTAGES)
    install_refusal_audit(app)
    _install_middleware(app, settings)
    _include_routes(app)
    return app


def _lifespan(
    settings: Settings, clock: Clock
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: databases, the audit writer and checkpointer, pub/sub
    and presence, started in order and stopped in reverse."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        # The audit writer has a connection of its own: requests wait for it while holding
        # theirs, so from a shared pool enough concurrent reads would leave it none (deadlock).
        audit_engine = create_engine(settings, connections=1)
        app.state.audit_writer = AuditWriter(session_factory(audit_engine))
        app.state.audit_checkpointer = Checkpointer(
            app.state.session_factory,
            path=settings.audit_checkpoint_file,
            key=checkpoint_key(settings),
            clock=clock,
            interval=settings.audit_checkpoint_seconds,
        )
        hub = Hub(create_pubsub(settings.redis_url))
        # Where each request's events go once its session has committed (app/events.py).
        app.state.events = hub
        presence = PresenceService(
            hub,
            app.state.session_factory,
            clock,
            create_presence_store(settings.redis_url, settings.presence_timings),
        )
        app.state.realtime = Realtime(
            settings=settings,
            runtime=app.state.auth,
            sessions=app.state.session_factory,
            keyring=app.state.keyring,
            hub=hub,
            presence=presence,
        )
        # Scheduled work (app/jobs): every server runs due jobs, each claimed by one process.
        app.state.jobs = JobRunner(app.state.session_factory, hub, settings=settings, clock=clock)
        await hub.start()
        await presence.start()
        await app.state.audit_checkpointer.start()
        if settings.jobs_in_service:
            app.state.jobs.start()
        # Counts tallied on the hot paths reach the shared registry (app/metrics.py, _Tally).
        flusher = asyncio.create_task(flush_every()) if settings.metrics_token else None
        try:
            yield
        finally:
            if flusher is not None:
                flusher.cancel()
            await app.state.jobs.stop()
            for task in list(app.state.realtime.background):
                task.cancel()
            if app.state.realtime.message_writer is not None:
                await app.state.realtime.message_writer.stop()
            await presence.stop()
            await hub.stop()
            await app.state.auth.throttle.close()
            await app.state.audit_writer.stop()
            await app.state.audit_checkpointer.stop()  # after the last events are written
            await app.state.documents.store.close()
            await audit_engine.dispose()
            await engine.dispose()
            process_stopped()

    return lifespan


def _install_middleware(app: Teamwell, settings: Settings) -> None:
    """The service's own layer around FastAPI's stack (app/edge.py); FastAPI's stack has no
    middleware of the service's."""

    def sessions(inner: ASGIApp) -> ASGIApp:
        return SessionMiddleware(
            inner,
            secret_key=settings.secret("session_secret"),
            session_cookie="teamwell_sso",
            same_site="lax",
            https_only=settings.public_url.startswith("https://"),
            max_age=600,
        )

    app.edge = Edge(
        app.dispatch,
        settings=settings,
        sockets=CloseSocketsOnOutage(app.dispatch),
        sessions=sessions,
        # Nothing is counted when nothing may scrape.
        counted=settings.metrics_token is not None,
    )
    # A route reading its body itself, past the limit, after the edge has answered 413.
    app.add_exception_handler(BodyTooLarge, answer_body_too_large)


def _include_routes(app: Teamwell) -> None:
    for router in (
        auth_router,
        sso_router,
        invitations_router,
        organisations_router,
        teams_router,
        users_router,
        clients_router,
        eligibility_router,
        plans_router,
        benefits_router,
        measures_router,
        exports_router,
        ips_router,
        brokerage_router,
        evaluation_router,
        equality_router,
        fidelity_router,
        targets_router,
        reports_router,
        conversations_router,
        calls_router,
        meetings_router,
        guest_links_router,
        supervision_router,
        audit_router,
        jobs_router,
        home_router,
        notifications_router,
        notification_status_router,
        meta_router,
        documents_router,
        system_router,
    ):
        # Through a gate: a path none of its routes can match is not tried route by route.
        app.include_router(PrefixGate(router, API_PREFIX))
    # Files by download token: outside /api, and with no session authority (docs/documents.md).
    app.include_router(document_files_router)
    app.include_router(api_docs_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(realtime_router)
    app.ws_fast_path = _gateway

    if WEB_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(WEB_DIR / "index.html")

        # The service worker is served from the root, so that its scope is every page (one
        # under /static/ could serve only /static/), and never from a cache: browsers check it
        # for a new release on each visit. The manifest makes the web client installable.
        @app.get("/sw.js", include_in_schema=False)
        async def service_worker() -> FileResponse:
            return FileResponse(
                WEB_DIR / "sw.js",
                media_type="text/javascript",
                headers={"Cache-Control": "no-cache"},
            )

        @app.get("/manifest.webmanifest", include_in_schema=False)
        async def manifest() -> FileResponse:
            return FileResponse(
                WEB_DIR / "manifest.webmanifest", media_type="application/manifest+json"
            )


def _default_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    configure_tracing()  # before the app's engines are made, so they are traced
    return create_app(settings)


app = _default_app()
