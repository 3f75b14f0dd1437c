"""What every HTTP request crosses before and after its route, kept cheap.

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

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


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
