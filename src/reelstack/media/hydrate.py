"""Videos as a viewer sees them, in a fixed number of queries however many there are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics import service as analytics
from reelstack.interactions import service as interactions
from reelstack.media.models import VIDEO_COUNTERS, Video
from reelstack.media.schemas import VideoOut
from reelstack.media.views import CardOwner, CardVideo, video_out
from reelstack.sounds.cards import sound_cards

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


async def videos_out(
    rt: Runtime,
    session: AsyncSession,
    viewer_id: str | None,
    items: Sequence[tuple[CardVideo, CardOwner]],
) -> list[VideoOut]:
    """Shape videos the viewer may see (call only after `service.may_see`): live counters,
    whether the viewer liked and saved each, and where they stopped watching."""
    videos = [video for video, _ in items]
    ids = [video.id for video in videos]
    counts = await rt.counters.read(VIDEO_COUNTERS, videos)
    states = await interactions.viewer_interactions(session, viewer_id, ids)
    resume = await analytics.resume_positions(session, viewer_id, ids)
    sounds = await sound_cards(session, viewer_id, {v.sound_id for v in videos if v.sound_id})
    return [
        video_out(
            rt.playback,
            rt.media,
            video,
            owner,
            viewer_id,
            counts=counts[video.id],
            interaction=states[video.id],
            resume_position=resume.get(video.id),
            sound=sounds.get(video.sound_id) if video.sound_id else None,
        )
        for video, owner in items
    ]


async def video_out_for(
    rt: Runtime, session: AsyncSession, viewer_id: str | None, video: Video, owner: User
) -> VideoOut:
    return (await videos_out(rt, session, viewer_id, [(video, owner)]))[0]
