"""What the interaction tests share: reading a video as a viewer and as the database has it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import httpx
from sqlalchemy import event, func, select, update

from reelstack.interactions.models import Save, Share, VideoLike
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests.factories import TestUser

API = "/api/v1"


async def get_video(
    client: httpx.AsyncClient, video_id: str, viewer: TestUser | None = None
) -> dict[str, Any]:
    r = await client.get(f"{API}/videos/{video_id}", headers=viewer.headers if viewer else {})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def stored_video(rt: Runtime, video_id: str) -> Video:
    async with rt.unit_of_work(write=False) as session:
        return await session.get_one(Video, video_id)


async def set_video(rt: Runtime, video_id: str, **values: Any) -> None:
    """Change a video row as another feature would (moderation, processing, the creator)."""
    async with rt.unit_of_work() as session:
        await session.execute(update(Video).where(Video.id == video_id).values(**values))


async def rows_of(rt: Runtime, model: type[VideoLike | Save | Share], video_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.video_id == video_id)
        )
        return int(count or 0)


_counting: ContextVar[list[str] | None] = ContextVar("counting_selects", default=None)


@asynccontextmanager
async def counting_selects(rt: Runtime) -> AsyncIterator[list[str]]:
    """The SELECTs the code inside the block runs on the reader engine. Only this task's:
    jobs running meanwhile on the same engine (a notification for a like) are not counted."""
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        mine = _counting.get()
        if mine is not None and statement.lstrip().upper().startswith("SELECT"):
            mine.append(statement)

    engine = rt.db.reader.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    token = _counting.set(selects)
    try:
        yield selects
    finally:
        _counting.reset(token)
        event.remove(engine, "before_cursor_execute", record)
