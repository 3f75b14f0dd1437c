"""The layers every request crosses (app/edge.py): the routers' gates leave routing as it was,
and spare a request the routes it cannot match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from app.config import Settings
from app.edge import PrefixGate
from app.main import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(data_dir=Path(tmp_path_factory.mktemp("edge"))))


def scope_for(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }


def first_match(app: FastAPI, scope: dict[str, Any]) -> tuple[int, Match]:
    """Which of the app's routes the router would take (its index), as FastAPI's router asks
    them: the first full match, else the first partial one (a known path, another method)."""
    partial: tuple[int, Match] = (-1, Match.NONE)
    for index, route in enumerate(app.router.routes):
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return index, match
        if match == Match.PARTIAL and partial[1] == Match.NONE:
            partial = (index, match)
    return partial


def requests(app: FastAPI) -> Iterator[tuple[str, str]]:
    """A request for every operation of the app, its path parameters filled in, and some that
    no route has."""
    for context in iter_route_contexts(app.routes):
        template, methods = context.path_format, context.methods
        if not isinstance(template, str) or not methods:
            continue
        path = re.sub(r"\{[^}]+\}", "3f1c5e7a-0000-4000-8000-000000000001", template)
        for method in sorted(methods):
            yield method, path
            yield method, path + "/"
        yield "PATCH", path
    for path in ("/api/v1/nowhere", "/api/v1", "/api/v2/clients", "/", "/nowhere", "/api/v1/"):
        yield "GET", path


def test_the_gates_change_no_request_s_route(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request goes to the route it went to with every router tried in turn."""
    asked = list(requests(app))
    assert len(asked) > 400
    gated = [first_match(app, scope_for(method, path)) for method, path in asked]
    with monkeypatch.context() as patch:
        patch.setattr(PrefixGate, "matches", APIRouter.matches)
        ungated = [first_match(app, scope_for(method, path)) for method, path in asked]
    assert gated == ungated
    assert {match for _, match in gated} == {Match.FULL, Match.PARTIAL, Match.NONE}


def routes_tried(app: FastAPI, path: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tried: list[str] = []
    original = APIRoute.matches

    def counting(self: APIRoute, scope: Scope) -> tuple[Match, Scope]:
        tried.append(self.path)
        return original(self, scope)

    with monkeypatch.context() as patch:
        patch.setattr(APIRoute, "matches", counting)
        first_match(app, scope_for("GET", path))
    return tried


def test_a_request_is_not_tried_against_routes_it_cannot_match(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if FastAPI stops asking an included router's ``matches`` (the gates then do
    nothing, and every request is matched against every route of the API again)."""
    health = routes_tried(app, "/healthz", monkeypatch)
    assert health[-1] == "/healthz" and len(health) < 10, health  # the few outside the API
    plan = routes_tried(app, "/api/v1/clients/abc/plan", monkeypatch)
    assert all(path.startswith("/clients/") or path == "/clients" for path in plan), plan
    assert plan[-1] == "/clients/{client_id}/plan"
    with monkeypatch.context() as patch:
        patch.setattr(PrefixGate, "matches", APIRouter.matches)
        assert len(routes_tried(app, "/healthz", monkeypatch)) > 100


def test_a_gate_reads_routes_added_after_it_was_made() -> None:
    router = APIRouter(prefix="/things")

    @router.get("/{thing_id}")
    async def thing(thing_id: str) -> str:
        return thing_id

    app = FastAPI()
    gate = PrefixGate(router, "/api/v1")
    assert gate.starts() == ("/api/v1/things/",)

    @router.get("")
    async def things() -> list[str]:
        return []

    assert gate.starts() == ("/api/v1/things", "/api/v1/things/")
    app.include_router(gate)
    routes: list[BaseRoute] = app.router.routes
    assert [r.matches(scope_for("GET", "/api/v1/things"))[0] for r in routes][-1] == Match.FULL
