"""Reactions to media events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import VideoUploaded
from reelstack.infra.events import event_handler
from reelstack.media.processing import process_video

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@event_handler(queue="media", retries=2)
async def process_uploaded_video(rt: Runtime, event: VideoUploaded) -> None:
    """Every byte is in: probe, transcode and publish it, on the media queue so a long
    transcode never holds up notifications."""
    await process_video(rt, event.video_id)
