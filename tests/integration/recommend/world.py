"""A small demo world for the For-You tests, and a viewer that swipes through the feed."""

from __future__ import annotations

from typing import Any

import httpx

from reelstack.feed import trending
from reelstack.feed.demo import World, build_world
from reelstack.runtime import Runtime

URL = "/api/v1/feed/for-you"


async def small_world(rt: Runtime, *, videos: int = 240, users: int = 24) -> World:
    """The world `reelstack demo` builds, trending computed on it as the command does (a
    periodic refresh that ran before the world existed would otherwise leave it empty)."""
    world = await build_world(rt, users=users, videos=videos, seed=11, clips=0)
    await trending.refresh_all(rt)
    return world


async def for_you(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    r = await client.get(URL, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def report_view(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    video_id: str,
    watched_ms: int,
    *,
    duration_ms: int = 15000,
    session_id: str | None = None,
) -> None:
    body: dict[str, Any] = {
        "duration_ms": duration_ms,
        "watched_ms": watched_ms,
        "source": "for_you",
    }
    if session_id:
        body["session_id"] = session_id
    r = await client.post(f"/api/v1/videos/{video_id}/views", json=body, headers=headers)
    assert r.status_code == 202, r.text
