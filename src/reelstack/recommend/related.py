"""Related videos for the watch page: the same hashtags, creator, category or sound, and what
the video's likers also liked; scored by how much they share with it."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.interactions.models import VideoLike
from reelstack.media.models import Video
from reelstack.recommend.candidates import _playable, has_hashtag

LIMIT = 100


async def related_ids(session: AsyncSession, video: Video) -> list[str]:
    """Up to 100 ids, most related first (the video itself excluded)."""
    score: dict[str, float] = defaultdict(float)
    base = _playable(select(Video.id)).where(Video.id != video.id)
    newest = base.order_by(Video.published_at.desc())
    for tag in (video.hashtags or [])[:5]:
        for vid in await session.scalars(newest.where(has_hashtag(session, tag)).limit(50)):
            score[vid] += 2.0
    for vid in await session.scalars(newest.where(Video.user_id == video.user_id).limit(30)):
        score[vid] += 1.5
    if video.category:
        for vid in await session.scalars(newest.where(Video.category == video.category).limit(50)):
            score[vid] += 1.0
    if video.sound_id:
        for vid in await session.scalars(newest.where(Video.sound_id == video.sound_id).limit(30)):
            score[vid] += 1.0
    likers = select(VideoLike.user_id).where(VideoLike.video_id == video.id).limit(300)
    also = await session.execute(
        select(VideoLike.video_id, func.count())
        .where(VideoLike.user_id.in_(likers), VideoLike.video_id != video.id)
        .group_by(VideoLike.video_id)
        .order_by(func.count().desc())
        .limit(50)
    )
    for vid, count in also:
        score[vid] += min(3.0, 0.5 * count)
    return [vid for vid, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))][:LIMIT]
