"""Routers that a request passes by at once when none of their paths could be its path.

FastAPI (0.137 on) keeps each included router whole and matches a request against every
route of every router included before the one that holds its path, with a regular expression
each: a feed page tried ~50 routes before its own (bench/RESULTS.md). A route's path can only
match a request whose path holds the route's literal beginning (its path up to the first
parameter), wherever the router is included and under whatever prefix. So a router whose
literal beginnings are all missing from the request's path answers "no match" without trying
its routes. The gate only ever says "no" when every route would have said it: which route a
request reaches, and every 404, 405 and slash redirect, are as before."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


def literal_beginnings(paths: list[str]) -> tuple[str, ...] | None:
    """The literal beginnings of these paths (each up to its first parameter), less those
    that hold another one; None when a path begins with a parameter."""
    beginnings = {path.split("{", 1)[0] for path in paths}
    if "" in beginnings:
        return None
    # One beginning inside another (`/videos/` in `/videos/upload`) makes the longer needless.
    return tuple(sorted(b for b in beginnings if not any(o != b and o in b for o in beginnings)))


class Router(APIRouter):
    """An `APIRouter` that a request skips when its path holds none of the routes' literal
    beginnings. Routes may be added at any time: the beginnings follow them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate_routes = -1
        self._gate: tuple[str, ...] | None = None

    def _beginnings(self) -> tuple[str, ...] | None:
        if self._gate_routes != len(self.routes):
            paths = [getattr(route, "path", None) for route in self.routes]
            strings = [p for p in paths if isinstance(p, str)]
            # A route without a path (an included router) could match anything: no gate.
            self._gate = literal_beginnings(strings) if len(strings) == len(paths) else None
            self._gate_routes = len(self.routes)
        return self._gate

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        gate = self._beginnings()
        if gate is not None and scope["type"] != "lifespan":
            # The full path: the route's path is its tail, under the app's root path.
            path: str = scope["path"]
            if not any(beginning in path for beginning in gate):
                return Match.NONE, {}
        return super().matches(scope)
