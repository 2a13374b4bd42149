"""Reactions to social events, each run as a job after the transaction that caused it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import FollowRequested, UserFollowed
from reelstack.infra.events import event_handler

if TYPE_CHECKING:
    from reelstack.runtime import Runtime


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


@event_handler(queue="notifications")
async def announce_new_follower(rt: Runtime, event: UserFollowed) -> None:
    """Tell the followed user's open clients, on whichever API process they are connected."""
    await rt.realtime.publish(
        user_channel(event.followee_id), {"type": "new_follower", "follower_id": event.follower_id}
    )


@event_handler(queue="notifications")
async def announce_follow_request(rt: Runtime, event: FollowRequested) -> None:
    await rt.realtime.publish(
        user_channel(event.target_id),
        {
            "type": "follow_request",
            "request_id": event.request_id,
            "requester_id": event.requester_id,
        },
    )
