"""Likes, saves and collections, shares."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.interactions.models import Save, VideoLike
from reelstack.media.schemas import UserInteraction


async def viewer_interactions(
    session: AsyncSession, viewer_id: str | None, video_ids: list[str]
) -> dict[str, UserInteraction]:
    """Whether the viewer liked and saved each video: two queries for any number of videos."""
    if viewer_id is None or not video_ids:
        return {video_id: UserInteraction() for video_id in video_ids}
    liked = set(
        await session.scalars(
            select(VideoLike.video_id).where(
                VideoLike.user_id == viewer_id, VideoLike.video_id.in_(video_ids)
            )
        )
    )
    saved = set(
        await session.scalars(
            select(Save.video_id).where(Save.user_id == viewer_id, Save.video_id.in_(video_ids))
        )
    )
    return {
        video_id: UserInteraction(liked=video_id in liked, saved=video_id in saved)
        for video_id in video_ids
    }
