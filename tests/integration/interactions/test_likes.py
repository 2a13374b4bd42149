"""Likes over HTTP: exact counts under concurrency, idempotence, and what the viewer sees."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reelstack.events import VideoLiked
from reelstack.handlers import EVENT_HANDLERS
from reelstack.infra.events import event_handler
from reelstack.interactions.models import VideoLike
from reelstack.media.models import VIDEO_COUNTERS
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user, make_video
from tests.integration.interactions.helpers import API, get_video, rows_of, stored_video

FANS = 200


async def test_two_hundred_users_liking_at_once_are_counted_exactly(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    fans = await asyncio.gather(*(make_user(runtime) for _ in range(FANS)))

    liked = await asyncio.gather(
        *(client.post(f"{API}/videos/{video_id}/like", headers=fan.headers) for fan in fans)
    )
    assert [r.status_code for r in liked] == [200] * FANS
    assert all(r.json()["liked"] is True and 1 <= r.json()["like_count"] <= FANS for r in liked)
    assert (await get_video(client, video_id))["stats"]["likes"] == FANS
    assert await rows_of(runtime, VideoLike, video_id) == FANS

    # Liking again, even all at once, changes nothing.
    again = await asyncio.gather(
        *(client.post(f"{API}/videos/{video_id}/like", headers=fan.headers) for fan in fans[:40])
    )
    assert {(r.status_code, r.json()["like_count"]) for r in again} == {(200, FANS)}
    assert (await get_video(client, video_id))["stats"]["likes"] == FANS

    # Written back into the column (scale-out: by the flush job; embedded: in the transaction).
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored_video(runtime, video_id)).like_count == FANS
    assert (await get_video(client, video_id))["stats"]["likes"] == FANS

    # Fifty take their like back, each twice, all at once.
    leaving = fans[:50] * 2
    unliked = await asyncio.gather(
        *(client.delete(f"{API}/videos/{video_id}/like", headers=fan.headers) for fan in leaving)
    )
    assert all(r.status_code == 200 and r.json()["liked"] is False for r in unliked)
    assert (await get_video(client, video_id))["stats"]["likes"] == FANS - 50
    assert await rows_of(runtime, VideoLike, video_id) == FANS - 50
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored_video(runtime, video_id)).like_count == FANS - 50
    assert (await get_video(client, video_id))["stats"]["likes"] == FANS - 50


async def test_the_liker_sees_their_like_and_the_count_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan, other = [await make_user(runtime) for _ in range(3)]
    video_id = await make_video(runtime, owner)

    for _ in range(2):
        r = await client.post(f"{API}/videos/{video_id}/like", headers=fan.headers)
        assert r.status_code == 200 and r.json() == {"liked": True, "like_count": 1}
    seen = await get_video(client, video_id, fan)
    assert seen["user_interaction"]["liked"] is True and seen["stats"]["likes"] == 1
    for viewer in (other, None):
        seen = await get_video(client, video_id, viewer)
        assert seen["user_interaction"]["liked"] is False and seen["stats"]["likes"] == 1

    r = await client.post(f"{API}/videos/{video_id}/like", headers=other.headers)
    assert r.json() == {"liked": True, "like_count": 2}
    for _ in range(2):
        r = await client.delete(f"{API}/videos/{video_id}/like", headers=fan.headers)
        assert r.status_code == 200 and r.json() == {"liked": False, "like_count": 1}
    seen = await get_video(client, video_id, fan)
    assert seen["user_interaction"]["liked"] is False and seen["stats"]["likes"] == 1
    assert (await get_video(client, video_id, other))["user_interaction"]["liked"] is True


async def test_liking_needs_a_signed_in_user(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    for method in ("POST", "DELETE"):
        r = await client.request(method, f"{API}/videos/{video_id}/like")
        assert_problem(r, 401, "not_authenticated")
    assert (await get_video(client, video_id))["stats"]["likes"] == 0


LIKE_CHANNEL = "test:video-liked"


@event_handler(queue="notifications")
async def announce_like_for_test(rt: Runtime, event: VideoLiked) -> None:
    """Stands in for the notification a like causes: it tells a channel the test listens on."""
    await rt.realtime.publish(
        LIKE_CHANNEL,
        {"video_id": event.video_id, "owner_id": event.owner_id, "user_id": event.user_id},
    )


async def test_a_like_is_announced_once_and_an_unlike_not_at_all(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(EVENT_HANDLERS, VideoLiked, [announce_like_for_test])
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    async with runtime.realtime.subscribe(LIKE_CHANNEL) as feed:
        for _ in range(3):
            r = await client.post(f"{API}/videos/{video_id}/like", headers=fan.headers)
            assert r.status_code == 200
        assert await feed.get(timeout=10) == {
            "video_id": video_id,
            "owner_id": owner.id,
            "user_id": fan.id,
        }
        await client.delete(f"{API}/videos/{video_id}/like", headers=fan.headers)
        assert await feed.get(timeout=1.5) is None
