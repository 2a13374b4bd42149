"""Real-time delivery: a user's open clients, on whichever API process they are connected, hear
of each new or grown notification and of their unread count, through the realtime adapter.

Messages on the channel `user:{user_id}`:
  {"type": "notification", "notification": {...as in the list...}}  (an aggregated one comes
      again, with the same id, each time it grows: clients replace it by id)
  {"type": "unread_count", "count": n}
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from reelstack.notifications import repository
from reelstack.notifications.schemas import NotificationOut
from reelstack.notifications.views import notifications_out

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

PUBLISH_CONCURRENCY = 100


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


def notification_message(notification: NotificationOut) -> dict[str, Any]:
    return {"type": "notification", "notification": notification.model_dump(mode="json")}


def unread_message(count: int) -> dict[str, Any]:
    return {"type": "unread_count", "count": count}


@dataclass(frozen=True)
class StreamIdentity:
    """Who a WebSocket or event stream belongs to, and until when their token holds."""

    user_id: str
    expires_at: float  # Unix time


def authenticate(rt: Runtime, token: str) -> StreamIdentity:
    """Check an access token as every API request does; raises NotAuthenticated."""
    claims = rt.token_policy.tokens.decode(token)
    # The signature and expiry were just verified; this only reads when it expires.
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    return StreamIdentity(claims.user_id, float(expires))


async def current_unread(rt: Runtime, user_id: str) -> int:
    """The unread count, in a read transaction of its own (streams hold no session open)."""
    async with rt.unit_of_work(write=False) as session:
        return await repository.unread_count(session, user_id)


# A process's pushes to one user take turns: each reads the unread count and publishes it
# holding the user's lock, so a count read earlier is never published after one read later.
# (Two digests finishing together, a like's and a comment's, left the older count on a badge.)
_PUSHING: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _turn(user_id: str) -> asyncio.Lock:
    lock = _PUSHING.get(user_id)
    if lock is None:
        lock = _PUSHING[user_id] = asyncio.Lock()
    return lock


async def push(rt: Runtime, user_id: str, notification_ids: Sequence[str]) -> None:
    """After the commit: the notifications as the user sees them, then their unread count.
    Nothing is built for a user with no open client: one who connects later reads the count
    after subscribing, so misses nothing."""
    channel = user_channel(user_id)
    if not await rt.realtime.listening([channel]):
        return
    async with _turn(user_id):
        async with rt.unit_of_work(write=False) as session:
            rows = await repository.by_ids(session, user_id, notification_ids)
            shaped = await notifications_out(rt, session, user_id, rows)
            count = await repository.unread_count(session, user_id)
        for notification in shaped:
            await rt.realtime.publish(channel, notification_message(notification))
        await rt.realtime.publish(channel, unread_message(count))


async def push_unread_count(rt: Runtime, user_id: str) -> None:
    """Every open client of the user learns the count changed (read on another device)."""
    channel = user_channel(user_id)
    if await rt.realtime.listening([channel]):
        async with _turn(user_id):
            count = await current_unread(rt, user_id)
            await rt.realtime.publish(channel, unread_message(count))


async def push_fan_out(rt: Runtime, created: Sequence[tuple[str, str]]) -> None:
    """One batch of a fan-out: the same notification to many users, each with its own id and
    unread count; shaped once, since every follower sees the same actor and video."""
    online = await rt.realtime.listening([user_channel(user_id) for _, user_id in created])
    created = [(nid, uid) for nid, uid in created if user_channel(uid) in online]
    if not created:
        return
    first_id, first_user = created[0]
    async with rt.unit_of_work(write=False) as session:
        rows = await repository.by_ids(session, first_user, [first_id])
        shaped = await notifications_out(rt, session, first_user, rows)
        counts = await repository.unread_counts(session, [user_id for _, user_id in created])
    if not shaped:
        return
    template = shaped[0]

    async def tell(notification_id: str, user_id: str) -> None:
        own = template.model_copy(update={"notification_id": notification_id})
        await rt.realtime.publish(user_channel(user_id), notification_message(own))
        await rt.realtime.publish(user_channel(user_id), unread_message(counts[user_id]))

    for start in range(0, len(created), PUBLISH_CONCURRENCY):
        chunk = created[start : start + PUBLISH_CONCURRENCY]
        await asyncio.gather(*(tell(nid, uid) for nid, uid in chunk))
