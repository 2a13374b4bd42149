"""Views, watch positions and history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.analytics.models import WatchHistory


async def resume_positions(
    session: AsyncSession, viewer_id: str | None, video_ids: list[str]
) -> dict[str, float]:
    """Where the viewer stopped in each video they have a position for, in seconds."""
    if viewer_id is None or not video_ids:
        return {}
    rows = await session.execute(
        select(WatchHistory.video_id, WatchHistory.position_ms).where(
            WatchHistory.user_id == viewer_id, WatchHistory.video_id.in_(video_ids)
        )
    )
    return {video_id: position / 1000 for video_id, position in rows}
