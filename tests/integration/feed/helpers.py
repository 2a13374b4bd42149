"""Shared steps of the feed tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event

from reelstack.db import utcnow
from reelstack.events import VideoProcessed
from reelstack.infra.events import publish
from reelstack.media.models import JobState, Video
from reelstack.runtime import Runtime
from tests.factories import TestUser, jobs_drained


async def publish_video(
    rt: Runtime,
    owner: TestUser,
    *,
    visibility: str = "public",
    hashtags: tuple[str, ...] = (),
    category: str | None = None,
    sound_id: str | None = None,
    age: timedelta = timedelta(0),
    duration: float = 20.0,
) -> str:
    """A video becoming ready, as processing leaves it: the row turns ready and
    `VideoProcessed` is published in the same transaction. Returns its id."""
    from reelstack.accounts import service as accounts

    async with rt.unit_of_work() as session:
        at = utcnow() - age
        video = Video(
            user_id=owner.id,
            caption=" ".join(f"#{t}" for t in hashtags) or "a video",
            hashtags=list(hashtags),
            category=category,
            sound_id=sound_id,
            visibility=visibility,
            status="ready",
            progress=100,
            duration=duration,
            width=360,
            height=640,
            job_state=JobState.DONE.value,
            created_at=at,
            published_at=at,
        )
        session.add(video)
        await session.flush()
        await accounts.adjust_counts(session, owner.id, videos=1)
        publish(session, VideoProcessed(video_id=video.id, user_id=owner.id))
        return video.id


async def follow(client: httpx.AsyncClient, fan: TestUser, creator: TestUser) -> None:
    r = await client.post(f"/api/v1/users/{creator.id}/follow", headers=fan.headers)
    assert r.status_code == 200, r.text


async def unfollow(client: httpx.AsyncClient, fan: TestUser, creator: TestUser) -> None:
    r = await client.delete(f"/api/v1/users/{creator.id}/follow", headers=fan.headers)
    assert r.status_code == 200, r.text


def ids(body: dict[str, Any]) -> list[str]:
    return [video["video_id"] for video in body["videos"]]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 5.0, step: float = 0.05
) -> float:
    """Seconds until `check` holds; fails after `timeout`."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def drain(rt: Runtime, timeout: float = 10.0) -> None:
    """Wait until the feed, default and notification jobs have all run."""
    await jobs_drained(rt, "feed", "default", "notifications", timeout=timeout)


async def count_selects(
    rt: Runtime, request: Callable[[], Awaitable[httpx.Response]]
) -> tuple[int, httpx.Response]:
    """How many SELECTs one request issued (this task's only: jobs share the engine)."""
    statements: list[str] = []
    task = asyncio.current_task()

    def record(*args: object) -> None:
        if asyncio.current_task() is task:
            statements.append(str(args[2]))

    engines = {rt.db.reader.sync_engine, rt.db.writer.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        response = await request()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    return len(selects), response
