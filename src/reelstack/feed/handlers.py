"""Reactions of the feeds to domain events: jobs on the feed queue, except the taste signals of
a like, share or comment, which are one cache write each and run in the process that committed
(as a view's signal does)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import (
    CommentPosted,
    UserFollowed,
    VideoLiked,
    VideoProcessed,
    VideoShared,
    VideoUpdated,
)
from reelstack.feed import following, signals
from reelstack.infra.events import event_handler

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


@event_handler(queue="feed")
async def fan_out_new_video(rt: Runtime, event: VideoProcessed) -> None:
    """A ready video goes into the inboxes of its (small) creator's followers."""
    await following.fan_out_to_followers(rt, event.video_id)


@event_handler(queue="feed")
async def backfill_new_follow(rt: Runtime, event: UserFollowed) -> None:
    """Following someone brings their recent videos into the following feed, and is a
    strong signal for For-You."""
    await following.backfill_followed(rt, event.follower_id, event.followee_id)
    await signals.record_creator_signal(rt, event.follower_id, event.followee_id, "follow")


@event_handler(in_process=True)  # a cache write: no job per act
async def like_signal(rt: Runtime, event: VideoLiked) -> None:
    await signals.record_video_signal(rt, signals.user_key(event.user_id), event.video_id, "like")


@event_handler(in_process=True)  # a cache write: no job per act
async def share_signal(rt: Runtime, event: VideoShared) -> None:
    if event.user_id is not None:
        key = signals.user_key(event.user_id)
        await signals.record_video_signal(rt, key, event.video_id, "share")


@event_handler(in_process=True)  # a cache write: no job per act
async def comment_signal(rt: Runtime, event: CommentPosted) -> None:
    key = signals.user_key(event.author_id)
    await signals.record_video_signal(rt, key, event.video_id, "comment")


@event_handler(queue="feed")
async def fan_out_updated_video(rt: Runtime, event: VideoUpdated) -> None:
    """A video opened to followers after it was ready (say private to public) reaches their
    inboxes now; pushing one already there changes nothing, and reads re-check visibility."""
    await following.fan_out_to_followers(rt, event.video_id)
