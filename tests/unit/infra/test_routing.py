"""A request passes by a router none of whose paths could be its own, and reaches exactly the
route, 404, 405 or slash redirect it reached before."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from reelstack.app import create_app
from reelstack.infra.routing import Router, literal_beginnings


def test_literal_beginnings_keep_the_shortest_that_any_path_holds() -> None:
    paths = ["/videos/{video_id}", "/videos/upload", "/videos/{video_id}/like", "/feed/for-you"]
    assert literal_beginnings(paths) == ("/feed/for-you", "/videos/")
    # A path with a parameter at once lets every request through, as it may match any.
    assert literal_beginnings(["/{username}", "/about"]) == ("/",)


class Tried:
    """Counts the routes a request was matched against, by path."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def route_class(self) -> type[APIRoute]:
        tried = self.paths

        class Counted(APIRoute):
            def matches(self, scope: Scope) -> tuple[Match, Scope]:
                tried.append(self.path)
                return super().matches(scope)

        return Counted


def build(router_class: type[APIRouter], tried: Tried) -> FastAPI:
    """Two routers under one prefix whose paths overlap (`/videos/`), as the app's do."""
    likes = router_class(route_class=tried.route_class())
    feeds = router_class(route_class=tried.route_class())

    @likes.post("/videos/{video_id}/like")
    async def like(video_id: str) -> dict[str, Any]:
        return {"liked": video_id}

    @likes.get("/collections/")
    async def collections() -> dict[str, Any]:
        return {"collections": []}

    @feeds.get("/feed/for-you")
    async def for_you() -> dict[str, Any]:
        return {"feed": "for-you"}

    @feeds.get("/videos/{video_id}/related")
    async def related(video_id: str) -> dict[str, Any]:
        return {"related": video_id}

    app = FastAPI()
    app.include_router(likes, prefix="/api/v1")
    app.include_router(feeds, prefix="/api/v1")
    return app


REQUESTS = [
    ("GET", "/api/v1/feed/for-you"),
    ("GET", "/api/v1/videos/v1/related"),
    ("POST", "/api/v1/videos/v1/like"),
    ("GET", "/api/v1/videos/v1/like"),  # a 405: the path is there, not for GET
    ("GET", "/api/v1/collections"),  # a redirect to the path with its slash
    ("GET", "/api/v1/feed/nowhere"),  # a 404
    ("GET", "/feed/for-you"),  # not under the prefix: a 404
]


async def answers(app: FastAPI) -> list[tuple[int, str, str]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        out = []
        for method, path in REQUESTS:
            response = await client.request(method, path)
            out.append((response.status_code, response.headers.get("location", ""), response.text))
        return out


async def test_gated_routers_answer_every_request_as_plain_ones_do() -> None:
    gated = await answers(build(Router, Tried()))
    assert gated == await answers(build(APIRouter, Tried()))
    assert [status for status, _, _ in gated] == [200, 200, 200, 405, 307, 404, 404]
    assert gated[0][2] == '{"feed":"for-you"}'
    assert gated[1][2] == '{"related":"v1"}'
    assert gated[4][1] == "http://test/api/v1/collections/"


@pytest.mark.parametrize(
    ("router_class", "tried_first"),
    [(Router, []), (APIRouter, ["/videos/{video_id}/like", "/collections/"])],
)
async def test_a_feed_page_tries_no_route_of_a_router_it_cannot_be_in(
    router_class: type[APIRouter], tried_first: list[str]
) -> None:
    tried = Tried()
    app = build(router_class, tried)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/v1/feed/for-you")).status_code == 200
    # Routes are matched by their path in their router (FastAPI keeps them unprefixed); the
    # feed router's own route is matched twice, once to pick the router and once to handle.
    assert tried.paths == [*tried_first, "/feed/for-you", "/feed/for-you"]


def test_every_router_the_app_includes_is_gated() -> None:
    app = create_app()
    included = [r.original_router for r in app.routes if hasattr(r, "original_router")]
    assert len(included) >= 15
    assert all(isinstance(router, Router) for router in included)
