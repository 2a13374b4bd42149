"""Reactions of sounds to media events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import VideoDeleted, VideoProcessed
from reelstack.infra.events import event_handler
from reelstack.sounds.tasks import create_original_sound, credit_reused_sound, forget_video

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@event_handler(queue="media", retries=3)
async def give_video_its_sound(rt: Runtime, event: VideoProcessed) -> None:
    """A ready video either credits the sound it reused or becomes the source of its own."""
    if not await credit_reused_sound(rt, event.video_id):
        await create_original_sound(rt, event.video_id)


@event_handler(queue="maintenance", retries=5)
async def forget_deleted_video(rt: Runtime, event: VideoDeleted) -> None:
    await forget_video(rt, event.video_id)
