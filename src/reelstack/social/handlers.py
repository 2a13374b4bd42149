"""Reactions to social events, each run as a job after the transaction that caused it: the
user followed (or asked to be) gets a notification, pushed to their open clients on whichever
API process they are connected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstack.events import FollowRequested, UserFollowed
from reelstack.infra.events import event_handler
from reelstack.notifications import delivery
from reelstack.notifications import service as notifications
from reelstack.notifications.models import NotificationType
from reelstack.notifications.service import NewNotification
from reelstack.social import service

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

user_channel = delivery.user_channel  # where a user's open clients listen


@event_handler(queue="notifications")
async def announce_new_follower(rt: Runtime, event: UserFollowed) -> None:
    """A new_follower notification, unless the follow ended (or a block came) since."""
    async with rt.unit_of_work() as session:
        relation = await service.relationship(session, event.follower_id, event.followee_id)
        if not relation.is_following:
            return
        note = NewNotification(
            event.followee_id,
            NotificationType.NEW_FOLLOWER,
            subject=event.follower_id,
            actor_id=event.follower_id,
        )
        notification_id = await notifications.create(session, note)
    if notification_id:
        await delivery.push(rt, event.followee_id, [notification_id])


@event_handler(queue="notifications")
async def announce_follow_request(rt: Runtime, event: FollowRequested) -> None:
    """A follow_request notification, while the request still waits."""
    async with rt.unit_of_work() as session:
        relation = await service.relationship(session, event.requester_id, event.target_id)
        if not relation.follow_requested:
            return
        note = NewNotification(
            event.target_id,
            NotificationType.FOLLOW_REQUEST,
            subject=event.request_id,
            actor_id=event.requester_id,
        )
        notification_id = await notifications.create(session, note)
    if notification_id:
        await delivery.push(rt, event.target_id, [notification_id])
