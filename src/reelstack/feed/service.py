"""Feed use cases that write: "not interested"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.db import insert_ignoring_conflicts, utcnow
from reelstack.feed import seen, signals
from reelstack.media import service as media
from reelstack.recommend.models import NotInterested

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


async def not_interested(
    rt: Runtime, session: AsyncSession, viewer: media.Viewer, who: str, video_id: str
) -> None:
    """The viewer does not want this: it never comes back, and its creator and hashtags go
    down in their feed. Signed-in viewers keep it; signed-out ones for their session."""
    await media.visible_video(session, viewer, video_id)
    if viewer.user_id is not None:
        await session.execute(
            insert_ignoring_conflicts(session, NotInterested.__table__).values(
                user_id=viewer.user_id, video_id=video_id, created_at=utcnow()
            )
        )
    await signals.record_video_signal(rt, who, video_id, "not_interested")
    await seen.mark_seen(rt, who, [video_id])
