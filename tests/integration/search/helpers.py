"""Search test data: videos with the fields search reads, indexed the way the jobs index them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from reelstack.db import utcnow
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from reelstack.search import tasks
from tests.factories import TestUser, make_video


async def indexed_video(
    rt: Runtime,
    owner: TestUser,
    caption: str,
    *,
    description: str = "",
    hashtags: tuple[str, ...] = (),
    category: str | None = None,
    visibility: str = "public",
    status: str = "ready",
    duration: float = 30.0,
    views: int = 0,
    likes: int = 0,
    age: timedelta = timedelta(0),
    hidden: bool = False,
) -> str:
    """A video row as processing leaves it, then indexed as the `video.processed` job does."""
    video_id = await make_video(
        rt, owner, visibility=visibility, status=status, caption=caption, duration=duration
    )
    async with rt.unit_of_work() as session:
        video = await session.get_one(Video, video_id)
        video.description = description
        video.hashtags = list(hashtags)
        video.category = category
        video.view_count = views
        video.like_count = likes
        video.hidden_by_moderation = hidden
        video.created_at = utcnow() - age
        video.published_at = video.created_at if status == "ready" else None
    await tasks.index_video(rt, video_id)
    return video_id


async def search(
    client: httpx.AsyncClient,
    q: str,
    user: TestUser | None = None,
    path: str = "/api/v1/search/videos",
    **params: Any,
) -> httpx.Response:
    headers = user.headers if user else {}
    return await client.get(path, params={"q": q, **params}, headers=headers)


async def found(
    client: httpx.AsyncClient, q: str, user: TestUser | None = None, **params: Any
) -> list[str]:
    """Ids of the videos a search returns on its first page."""
    r = await search(client, q, user, **params)
    assert r.status_code == 200, r.text
    return [v["video_id"] for v in r.json()["videos"]]
