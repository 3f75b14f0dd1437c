"""Errors as RFC 9457 problem details.

Domain code raises a :class:`Problem` subclass named for what went wrong; the handlers here turn
it, FastAPI's validation errors and anything unexpected into ``application/problem+json``.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import asyncpg.exceptions as asyncpg_exc
import redis.exceptions as redis_exc
import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import logs

log = logging.getLogger("teamwell.errors")
PROBLEM_BASE = "https://teamwell.invalid/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Unauthenticated(Problem):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(Problem):
    status, slug, title = 410, "gone", "No longer available"


class Unprocessable(Problem):
    status, slug, title = 422, "unprocessable", "The request cannot be done as asked"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class BadGateway(Problem):
    status, slug, title = 502, "bad-gateway", "A service it relies on did not do its part"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


# What a client is told to wait before trying again while the database or Redis is away.
RETRY_AFTER_SECONDS = 5
# Exceptions that mean a backing service (the database, Redis) could not be reached: an outage
# to wait out, not a fault in the request or the code.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError,  # refused, reset or aborted while connecting or talking
    sa_exc.DBAPIError,  # only some are outages: see is_outage
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    asyncpg_exc.PostgresConnectionError,
    asyncpg_exc.OperatorInterventionError,  # shutting down, or starting up
    redis_exc.ConnectionError,
    redis_exc.TimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc``, or what it wraps, is a backing service being unreachable."""
    cause: BaseException | None = exc
    for _depth in range(8):  # drivers wrap their errors a few layers deep
        if cause is None:
            return False
        if isinstance(cause, sa_exc.DBAPIError):
            if cause.connection_invalidated or isinstance(
                cause, (sa_exc.OperationalError, sa_exc.InterfaceError)
            ):
                return True
            cause = cause.orig if cause.orig is not None else cause.__cause__
        elif isinstance(cause, OUTAGE_ERRORS):
            return True
        else:
            cause = cause.__cause__
    return False


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    instance = instance or logs.instance()  # a refusal made before routing (413) too
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def answer_problem(request: Request, exc: Problem) -> JSONResponse:
    """The answer to a request that raised ``exc``: the problem, named by the request's id."""
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        instance=_instance(request),
        headers=exc.headers,
        **exc.extra,
    )


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, for people and for programs.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {
            "description": "urn:teamwell:request:<id>: the request's id, as in its X-Request-ID "
            "answer header and the service's log line for it.",
            "type": "string",
        },
        "errors": {
            "description": "For invalid requests: each field and what is wrong with it.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what the handlers below really send: every 4xx answer is a
    problem (FastAPI would otherwise document 422 as its own JSON shape and no other error),
    so generated clients and contract tests read errors correctly."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                if method not in _HTTP_METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _problem_response("The request is not valid")
                responses["4XX"] = _problem_response("Refused: a problem saying why")
                responses["503"] = _problem_response(
                    "A service it depends on (the database, Redis) is unreachable: try again "
                    "after Retry-After"
                )
        components = schema["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
                components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _instance(request: Request) -> str:
    """The request's id as a URN (app/logs.py), which its log line carries too: what a person
    quotes from an error leads to that line. The path only outside the service's own stack."""
    return logs.instance() or request.url.path


def _where(request: Request) -> str:
    # The route's template, not the path: a path may hold a link's token.
    return f"{request.method} {logs.route_template(request.scope) or '(no route)'}"


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI, *, outages: tuple[type[Exception], ...] = ()) -> None:
    """``outages``: more exception types (beside ``OUTAGE_ERRORS``) that mean a backing service
    is unreachable, answered 503 with Retry-After."""
    document_problems(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return answer_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(err.get("loc", ())), "message": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        names = ", ".join(e["field"] for e in errors)
        return problem_response(
            422,
            title="Invalid request",
            detail=f"Check these fields: {names}" if names else "The request is not valid",
            slug="validation-error",
            instance=_instance(request),
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            detail=str(exc.detail) if exc.detail else None,
            instance=_instance(request),
            headers=dict(exc.headers or {}),
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        if request.scope["type"] != "http":
            raise exc  # a WebSocket: app.main closes it with "try again later"
        if not (is_outage(exc) or isinstance(exc, outages)):
            return await _unexpected(request, exc)
        # An outage is logged in one line: the traceback says nothing the message does not.
        log.warning("%s: a backing service is unreachable: %r", _where(request), exc)
        return problem_response(
            503,
            title=ServiceUnavailable.title,
            detail="The service is briefly unavailable; try again shortly.",
            slug=ServiceUnavailable.slug,
            instance=_instance(request),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for outage in (*OUTAGE_ERRORS, *outages):
        app.add_exception_handler(outage, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", _where(request))
        return problem_response(
            500,
            detail="Something went wrong on our side; nothing was changed.",
            slug="internal-error",
            instance=_instance(request),
        )
