"""Index updates as jobs on domain events: a change is searchable a moment after its commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import (
    ProfileUpdated,
    SoundCreated,
    UserRegistered,
    VideoDeleted,
    VideoProcessed,
    VideoUpdated,
)
from reelstack.infra.events import event_handler
from reelstack.search import tasks

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@event_handler()
async def index_processed_video(rt: Runtime, event: VideoProcessed) -> None:
    await tasks.index_video(rt, event.video_id)


@event_handler()
async def index_updated_video(rt: Runtime, event: VideoUpdated) -> None:
    await tasks.index_video(rt, event.video_id)


@event_handler()
async def unindex_deleted_video(rt: Runtime, event: VideoDeleted) -> None:
    await tasks.remove_video(rt, event.video_id)


@event_handler()
async def index_new_user(rt: Runtime, event: UserRegistered) -> None:
    await tasks.index_user(rt, event.user_id)


@event_handler()
async def index_updated_profile(rt: Runtime, event: ProfileUpdated) -> None:
    await tasks.index_user(rt, event.user_id)
    await tasks.index_user_videos(rt, event.user_id)


@event_handler()
async def index_new_sound(rt: Runtime, event: SoundCreated) -> None:
    """A new sound is searchable, and its video is found by the sound's title."""
    await tasks.index_sound(rt, event.sound_id)
    await tasks.index_video(rt, event.video_id)
