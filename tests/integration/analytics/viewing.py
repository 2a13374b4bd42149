"""What the analytics tests share: reporting a view, reading a video, the stored rows."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from reelstack.analytics.models import WatchEvent
from reelstack.runtime import Runtime
from tests.factories import TestUser


async def report_view(
    client: httpx.AsyncClient,
    video_id: str,
    *,
    user: TestUser | None = None,
    session_id: str | None = None,
    watched_ms: int = 5000,
    duration_ms: int = 30000,
    source: str = "for_you",
) -> httpx.Response:
    body: dict[str, Any] = {"watched_ms": watched_ms, "duration_ms": duration_ms, "source": source}
    if session_id is not None:
        body["session_id"] = session_id
    return await client.post(
        f"/api/v1/videos/{video_id}/views", json=body, headers=user.headers if user else {}
    )


async def counted(client: httpx.AsyncClient, video_id: str, **kwargs: Any) -> bool:
    """Report a view that must be accepted; whether it counted."""
    r = await report_view(client, video_id, **kwargs)
    assert r.status_code == 202, r.text
    return bool(r.json()["counted"])


async def video(
    client: httpx.AsyncClient, video_id: str, viewer: TestUser | None = None
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/videos/{video_id}", headers=viewer.headers if viewer else {})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def watch_events(rt: Runtime, video_id: str) -> tuple[int, int]:
    """(all stored watch events, the ones that counted) of a video."""
    async with rt.unit_of_work(write=False) as session:
        rows = (
            await session.execute(
                select(func.count(), func.count().filter(WatchEvent.counted.is_(True))).where(
                    WatchEvent.video_id == video_id
                )
            )
        ).one()
    return int(rows[0]), int(rows[1])
