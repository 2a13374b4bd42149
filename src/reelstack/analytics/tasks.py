"""Background work of this feature; imported by every process that runs jobs: the analytics
stream's sink and how view counters are recounted from the rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.analytics.models import WatchEvent
from reelstack.analytics.writer import write_watch_events
from reelstack.infra.counters import register_truth
from reelstack.infra.streams import ANALYTICS, stream_sink
from reelstack.media.models import VIDEO_COUNTERS

stream_sink(ANALYTICS)(write_watch_events)


async def counted_views(session: AsyncSession, video_ids: list[str]) -> dict[str, int]:
    """The truth of `view_count`: how many stored watch events counted, per video."""
    rows = await session.execute(
        select(WatchEvent.video_id, func.count())
        .where(WatchEvent.video_id.in_(video_ids), WatchEvent.counted.is_(True))
        .group_by(WatchEvent.video_id)
    )
    return {video_id: int(count) for video_id, count in rows}


register_truth(VIDEO_COUNTERS, "view_count", counted_views)
