"""What every HTTP request crosses before and after its route, kept cheap.

The service's own layers (the request's id and log line, the metrics, the security headers,
the body limit, the single sign-on's session) are one ASGI layer, :class:`Edge`, with one
wrapped ``send``; the session only on the routes that use it.

Routing: FastAPI matches a request against the app's routes one by one, through each included
router in turn, and each route tried costs a few microseconds of bookkeeping (the route's
context set in the scope and restored). With some 180 routes under ``/api/v1``, a request to a
late route (``/healthz``, ``/api/v1/meta``) paid for trying all of them, several times its own
cost. Each of the API's routers is therefore included through a :class:`PrefixGate`: an
otherwise empty router holding it, which says "no match" at once to a path that does not start
with the static part of the routers' prefix, so that only the routers a path can belong to are
tried. What matches, and in what order, is unchanged.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logs
from app.config import Settings
from app.errors import problem_response
from app.metrics import count_http


def static_prefix(path: str) -> str:
    """The part of a route's path before its first parameter: every path the route matches
    starts with it."""
    return path.split("{", 1)[0]


class PrefixGate(APIRouter):
    """A router with the API's prefix that includes one other router and refuses, without
    trying its routes, a path none of them can match: one that starts with none of their
    paths' static parts (``/api/v1/clients/`` for ``/api/v1/clients/{client_id}/plan``).

    FastAPI asks an included router whether it matches through the router's ``matches``; the
    answer here is the router's own unless the path cannot belong to it. The static parts are
    read again whenever the router's routes are added to. Nothing is added to the OpenAPI
    document: the gate has no tags or dependencies of its own, and its prefix is the one the
    router was included under."""

    def __init__(self, router: APIRouter, prefix: str) -> None:
        super().__init__(prefix=prefix)
        self.include_router(router)
        self.inner = router
        self._known = -1
        self._starts: tuple[str, ...] = ()

    def starts(self) -> tuple[str, ...]:
        """The static parts of the paths of the router's routes (its prefix's, for a route
        without a path of its own)."""
        routes = self.inner.routes
        if len(routes) != self._known:
            # A route's path holds its router's prefix already.
            self._starts = tuple(
                sorted(
                    {
                        static_prefix(self.prefix + path)
                        if isinstance(path := getattr(route, "path", None), str)
                        else static_prefix(self.prefix + self.inner.prefix)
                        for route in routes
                    }
                )
            )
            self._known = len(routes)
        return self._starts

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self.starts()):
            return Match.NONE, {}
        return super().matches(scope)


# --- the one layer --------------------------------------------------------------------------

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"permissions-policy",
        b"camera=(self), microphone=(self), display-capture=(self), geolocation=()",
    ),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")

# An upload's chunk is the one body allowed past `max_request_bytes`, up to
# `document_chunk_bytes`: a chunk of several megabytes is one request instead of several.
DOCUMENT_CHUNK_PATH = re.compile(r"/api/v1/documents/uploads/[^/]+/chunks/[^/]+")
# A file of one chunk sent whole (``POST /documents``) is allowed the same.
DOCUMENT_WHOLE_PATH = "/api/v1/documents"
# Where the single sign-on keeps its state between the redirect and the callback in a signed
# cookie (docs/sso.md): the only routes that read or write the session.
SSO_PATH = "/api/v1/auth/sso/"


class BodyTooLarge(Exception):
    """A request's body passed its limit while being read; its 413 has been sent already."""


class Edge:
    """Everything the service itself does around FastAPI's stack, in one layer with one wrapped
    ``send`` (each layer of its own cost every request an await and every message a call):

    * the request's id, echoed in ``X-Request-ID``, and its log line (app/logs.py);
    * the HTTP metrics, when counted (app/metrics.py, ``count_http``);
    * the security headers: the CSP, ``nosniff``, ``no-referrer``, frame denial and the
      permissions policy on every answer that does not set its own, ``no-store`` on the API's,
      HSTS where the browser came over TLS;
    * the body limit: bodies over ``max_request_bytes`` (an upload's chunk:
      ``document_chunk_bytes``, as is a file of one chunk sent whole) refused with 413 before
      they are read into memory;
    * the single sign-on's session cookie, on the single sign-on's routes only.

    Outside Starlette's own error layer, so an unexpected error's 500 carries the id and the
    headers too and is logged and counted with its status. WebSockets get their id here and go
    to ``sockets`` (closed with 1013 on an outage, app/main.py); ``/ws`` itself does not come
    here at all (``Teamwell.__call__``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        sockets: ASGIApp,
        sessions: Callable[[ASGIApp], ASGIApp],
        counted: bool,
    ) -> None:
        self.app = app
        self.sockets = sockets
        self.sessions = sessions(app)
        self.counted = counted
        self.max_id_chars = settings.request_id_max_chars
        self.max_bytes = settings.max_request_bytes
        self.chunk_max_bytes = settings.document_chunk_bytes or settings.max_request_bytes
        # HSTS only where the browser reached us over TLS: the public address is https (the
        # setting), or this request came over https, directly or per the X-Forwarded-Proto of
        # a proxy uvicorn trusts (--forwarded-allow-ips; by default only 127.0.0.1).
        self.public_https = settings.public_url.startswith("https://")

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function: a WebSocket gets the application's own coroutine, so a socket held
        # open for hours keeps no frame of this layer (idle-connection memory). Its id is set in
        # the socket's own task (the server runs each connection in a task of its own), where
        # nothing else reads it, so it needs no reset.
        if scope["type"] == "http":
            return self._http(scope, receive, send)
        if scope["type"] == "websocket":
            self.name_socket(scope)
            return self.sockets(scope, receive, send)
        return self.app(scope, receive, send)

    def name_socket(self, scope: Scope) -> None:
        """Give a WebSocket its request id, in the socket's own task."""
        logs.request_id.set(self._id_of(scope))

    def _id_of(self, scope: Scope) -> str:
        offered = None
        for key, value in scope.get("headers", ()):
            if key.lower() == logs.REQUEST_ID_HEADER:
                offered = bytes(value)
                break
        return logs.accepted_id(offered, self.max_id_chars) or logs.new_id()

    def _headers_for(self, scope: Scope, path: str) -> tuple[tuple[bytes, bytes], ...]:
        extra = SECURITY_HEADERS
        if path.startswith("/api/"):
            extra += (NO_STORE,)
        if self.public_https or scope.get("scheme") == "https":
            extra += (HSTS,)
        return extra

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = self._id_of(scope)
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500  # if nothing is sent: the server closes the connection without an answer
        logged = answered = refused = False
        received = 0
        path = scope["path"]
        chunk = (scope["method"] == "PUT" and DOCUMENT_CHUNK_PATH.fullmatch(path)) or (
            scope["method"] == "POST" and path == DOCUMENT_WHOLE_PATH
        )
        limit = self.chunk_max_bytes if chunk else self.max_bytes
        extra = self._headers_for(scope, path)
        echoed = (logs.REQUEST_ID_HEADER, rid.encode())

        def line() -> None:
            nonlocal logged
            logged = True
            user = (scope.get("state") or {}).get("user_id")
            logs.log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "route": logs.route_template(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "user_id": str(user) if user is not None else None,
                },
            )

        async def out(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                headers.append(echoed)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the answer's end goes out: whoever has the answer can find
                # its line already written.
                line()
            await send(message)

        async def guarded(message: Message) -> None:
            nonlocal answered
            if refused:
                return
            answered = True
            await out(message)

        # A body without a Content-Length is counted as it arrives. The 413 is sent from here,
        # when the limit is passed: the framework reading the body turns any exception raised
        # while reading into its own 400, so the refusal cannot wait to travel back up; what
        # the application answers after it is dropped.
        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not answered and not refused:
                        refused = True
                        await _refuse(limit, scope, receive, out)
                    raise BodyTooLarge()
            return message

        try:
            declared = _declared_length(scope)
            if declared is not None and declared > limit:
                await _refuse(limit, scope, receive, out)
                return
            app = self.sessions if get_route_path(scope).startswith(SSO_PATH) else self.app
            with contextlib.suppress(BodyTooLarge):
                await app(scope, limited_receive, guarded)
        finally:
            if not logged:
                line()
            if self.counted:
                count_http(scope, status, started)
            logs.request_id.reset(token)


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        413, detail=f"Request bodies are limited to {limit} bytes.", slug="payload-too-large"
    )
    await response(scope, receive, send)


async def answer_body_too_large(request: Request, exc: Exception) -> Response:
    """A route that reads its body itself meets ``BodyTooLarge`` once its 413 has gone out:
    answered here (by nothing, the edge drops it), not as an unexpected error."""
    return Response(status_code=413)
