"""Domain events end to end: a write commits, its event's handlers run as jobs on the consumer,
and a handler's real-time message reaches the user. Nothing runs for a rolled-back write."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reelstack.db import utcnow
from reelstack.errors import AppError
from reelstack.events import UserFollowed
from reelstack.infra.events import publish
from reelstack.runtime import Runtime
from reelstack.social.handlers import user_channel
from reelstack.social.models import Follow
from tests.factories import TestUser, make_user


class Abort(RuntimeError):
    """A failure after the event was published, so the transaction rolls back."""


class RevokedButReported(AppError):
    status, code, keep_changes = 401, "test_kept", True


def told_of_follower(message: dict[str, Any] | None) -> str | None:
    """The follower a new_follower notification message names (None for any other message)."""
    if not message or message["type"] != "notification":
        return None
    note = message["notification"]
    assert note["type"] == "new_follower"
    follower_id: str = note["actors"][0]["user_id"]
    return follower_id


def follow_row(session: Any, fan: TestUser, star: TestUser) -> None:
    """A follow as social.service writes it, with its event, in the caller's transaction."""
    session.add(Follow(follower_id=fan.id, followee_id=star.id, created_at=utcnow()))
    publish(session, UserFollowed(follower_id=fan.id, followee_id=star.id))


async def test_following_over_http_pushes_new_follower_to_the_followee(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    star = await make_user(runtime, "star")
    fan = await make_user(runtime, "fan")
    async with (
        runtime.realtime.subscribe(user_channel(star.id)) as star_feed,
        runtime.realtime.subscribe(user_channel(fan.id)) as fan_feed,
    ):
        r = await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
        assert r.json()["is_following"] is True

        assert told_of_follower(await star_feed.get(timeout=5)) == fan.id
        assert await star_feed.get(timeout=5) == {"type": "unread_count", "count": 1}
        assert await fan_feed.get(timeout=0.2) is None  # the follower is not told

        # Following again changes nothing, so nobody is told twice.
        again = await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
        assert again.status_code == 200 and again.json()["is_following"] is True
        assert await star_feed.get(timeout=1) is None


async def test_handlers_run_only_after_the_commit(runtime: Runtime) -> None:
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "early")
    async with runtime.realtime.subscribe(user_channel(star.id)) as feed:
        async with runtime.unit_of_work() as session:
            follow_row(session, fan, star)
            # Still inside the transaction: the job has not been handed to the queue.
            assert await feed.get(timeout=0.5) is None
        assert told_of_follower(await feed.get(timeout=5)) == fan.id


async def test_a_rolled_back_transaction_drops_its_events(runtime: Runtime) -> None:
    star = await make_user(runtime, "star")
    lost, kept = await make_user(runtime, "lost"), await make_user(runtime, "kept")
    async with runtime.realtime.subscribe(user_channel(star.id)) as feed:
        with pytest.raises(Abort):
            async with runtime.unit_of_work() as session:
                follow_row(session, lost, star)
                raise Abort()
        # A committed event published afterwards is delivered: had the rolled-back one been
        # queued, it would have arrived first.
        async with runtime.unit_of_work() as session:
            follow_row(session, kept, star)
        assert told_of_follower(await feed.get(timeout=5)) == kept.id
        assert await feed.get(timeout=5) == {"type": "unread_count", "count": 1}
        assert await feed.get(timeout=1.5) is None
    assert await runtime.jobs.pending("notifications") == 0


async def test_an_error_that_keeps_its_changes_still_runs_their_handlers(runtime: Runtime) -> None:
    """Some failures commit what they wrote (revoking a stolen token family); the events of a
    committed transaction must reach their handlers like any other committed write."""
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "kept")
    async with runtime.realtime.subscribe(user_channel(star.id)) as feed:
        with pytest.raises(RevokedButReported):
            async with runtime.unit_of_work() as session:
                follow_row(session, fan, star)
                raise RevokedButReported("kept, then reported")
        assert told_of_follower(await feed.get(timeout=2.5)) == fan.id


async def test_many_concurrent_follows_each_announce_once(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    star = await make_user(runtime, "popular")
    fans = [await make_user(runtime, f"fan{i}") for i in range(8)]
    async with runtime.realtime.subscribe(user_channel(star.id)) as feed:
        responses = await asyncio.gather(
            *(client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers) for fan in fans)
        )
        assert [r.status_code for r in responses] == [200] * len(fans)
        heard = [await feed.get(timeout=5) for _ in range(2 * len(fans))]  # each, then a count
        assert await feed.get(timeout=0.3) is None
    followers = [told_of_follower(m) for m in heard]
    assert sorted(f for f in followers if f) == sorted(fan.id for fan in fans)
