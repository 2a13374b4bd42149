"""Background jobs of likes, saves, shares and collections, and how their video counters are
recounted from the rows; imported by every process that runs jobs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.infra.counters import register_truth
from reelstack.infra.jobs import job
from reelstack.interactions import collections
from reelstack.interactions.models import Save, Share, VideoLike
from reelstack.media.models import VIDEO_COUNTERS

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)


async def _rows_per_video(
    session: AsyncSession, column: Any, video_ids: list[str]
) -> dict[str, int]:
    rows = await session.execute(
        select(column, func.count()).where(column.in_(video_ids)).group_by(column)
    )
    return {video_id: int(count) for video_id, count in rows}


async def count_likes(session: AsyncSession, video_ids: list[str]) -> dict[str, int]:
    return await _rows_per_video(session, VideoLike.video_id, video_ids)


async def count_saves(session: AsyncSession, video_ids: list[str]) -> dict[str, int]:
    return await _rows_per_video(session, Save.video_id, video_ids)


async def count_shares(session: AsyncSession, video_ids: list[str]) -> dict[str, int]:
    return await _rows_per_video(session, Share.video_id, video_ids)


register_truth(VIDEO_COUNTERS, "like_count", count_likes)
register_truth(VIDEO_COUNTERS, "save_count", count_saves)
register_truth(VIDEO_COUNTERS, "share_count", count_shares)


async def repair_collection_sizes(rt: Runtime) -> int:
    """Recount every collection whose size drifted from its rows; returns how many were wrong."""
    repaired = 0
    after: str | None = ""
    while after is not None:
        async with rt.unit_of_work(write=False) as session:
            drifted, after = await collections.drifted_collections(session, after)
        for collection_id in drifted:
            async with rt.unit_of_work() as session:
                repaired += await collections.recount_collection(session, collection_id)
    return repaired


@job("interactions.repair_collection_sizes", queue="maintenance", every_minutes=10)
async def repair_collection_sizes_job(rt: Runtime) -> None:
    """A deleted video leaves its collections by cascade, without moving their sizes."""
    if repaired := await repair_collection_sizes(rt):
        log.info("repaired the size of %d collections", repaired)
