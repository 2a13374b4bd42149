"""Shares over HTTP: to another user or out by link, who may do which, and the count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelstack.events import VideoShared
from reelstack.handlers import EVENT_HANDLERS
from reelstack.infra.events import event_handler
from reelstack.interactions.models import Share
from reelstack.media.models import VIDEO_COUNTERS
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.interactions.helpers import API, get_video, rows_of, stored_video


async def share(
    client: httpx.AsyncClient, video_id: str, body: dict[str, Any], user: TestUser | None = None
) -> httpx.Response:
    return await client.post(
        f"{API}/videos/{video_id}/share", json=body, headers=user.headers if user else {}
    )


async def test_sharing_by_link_returns_the_public_page_and_counts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)

    r = await share(client, video_id, {"type": "external"})  # anyone may, signed in or not
    assert r.status_code == 201, r.text
    assert r.json()["share_url"] == f"http://testserver/v/{video_id}"
    assert r.json()["share_count"] == 1
    r = await share(client, video_id, {"type": "external", "platform": " WhatsApp "}, fan)
    assert r.status_code == 201 and r.json()["share_count"] == 2
    assert (await client.get(r.json()["share_url"])).status_code == 200

    assert (await get_video(client, video_id, fan))["stats"]["shares"] == 2
    assert await rows_of(runtime, Share, video_id) == 2
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored_video(runtime, video_id)).share_count == 2

    unlisted = await make_video(runtime, owner, visibility="unlisted")
    assert (await share(client, unlisted, {"type": "external"})).status_code == 201


async def test_share_requests_are_checked(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    for body in (
        {"type": "internal"},
        {"type": "external", "to_user_id": fan.id},
        {"type": "internal", "to_user_id": fan.id, "platform": "sms"},
        {"type": "external", "platform": "not a platform!"},
        {"type": "external", "platform": "x" * 51},
        {"type": "teleport"},
        {"type": "external", "extra": 1},
    ):
        assert_problem(await share(client, video_id, body, owner), 422, "validation_failed")
    assert_problem(
        await share(client, video_id, {"type": "internal", "to_user_id": fan.id}),
        401,
        "not_authenticated",
    )
    assert await rows_of(runtime, Share, video_id) == 0


async def test_sending_a_video_to_another_user(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner, sender, friend = [await make_user(runtime) for _ in range(3)]
    video_id = await make_video(runtime, owner)

    r = await share(client, video_id, {"type": "internal", "to_user_id": friend.id}, sender)
    assert r.status_code == 201 and r.json()["share_count"] == 1
    r = await share(
        client, video_id, {"type": "internal", "to_user_id": "@" + friend.username}, sender
    )
    assert r.status_code == 201 and r.json()["share_count"] == 2

    assert_problem(
        await share(client, video_id, {"type": "internal", "to_user_id": sender.id}, sender),
        422,
        "cannot_share_to_self",
    )
    assert_problem(
        await share(client, video_id, {"type": "internal", "to_user_id": "0" * 26}, sender),
        404,
        "user_not_found",
    )
    # Blocked either way: the other user is answered as if they did not exist.
    blocker, blocked = await make_user(runtime), await make_user(runtime)
    await client.post(f"{API}/users/{sender.id}/block", headers=blocker.headers)
    await client.post(f"{API}/users/{blocked.id}/block", headers=sender.headers)
    for target in (blocker, blocked):
        assert_problem(
            await share(client, video_id, {"type": "internal", "to_user_id": target.id}, sender),
            404,
            "user_not_found",
        )
    assert await rows_of(runtime, Share, video_id) == 2


async def test_followers_only_videos_go_only_to_those_who_may_watch_them(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, follower, outsider, other_follower = [await make_user(runtime) for _ in range(4)]
    for fan in (follower, other_follower):
        await client.post(f"{API}/users/{owner.id}/follow", headers=fan.headers)
    video_id = await make_video(runtime, owner, visibility="followers")

    assert_problem(
        await share(client, video_id, {"type": "external"}, follower), 403, "video_not_shareable"
    )
    assert_problem(
        await share(client, video_id, {"type": "internal", "to_user_id": outsider.id}, follower),
        403,
        "recipient_cannot_view",
    )
    r = await share(
        client, video_id, {"type": "internal", "to_user_id": other_follower.id}, follower
    )
    assert r.status_code == 201 and r.json()["share_count"] == 1
    # Whom the creator blocks is not the sender's business: that share is taken (and opens
    # nothing for the blocked recipient), exactly like one to anybody else.
    public = await make_video(runtime, owner)
    await client.post(f"{API}/users/{outsider.id}/block", headers=owner.headers)
    r = await share(client, public, {"type": "internal", "to_user_id": outsider.id}, follower)
    assert r.status_code == 201
    assert_problem(
        await client.get(f"{API}/videos/{public}", headers=outsider.headers),
        404,
        "video_not_found",
    )
    # The creator may send their own private video to nobody: nobody else may watch it.
    private = await make_video(runtime, owner, visibility="private")
    assert_problem(
        await share(client, private, {"type": "internal", "to_user_id": follower.id}, owner),
        403,
        "recipient_cannot_view",
    )


SHARE_CHANNEL = "test:video-shared"


@event_handler(queue="notifications")
async def announce_share_for_test(rt: Runtime, event: VideoShared) -> None:
    """Stands in for what reacts to a share (a message to the recipient, a ranking signal)."""
    await rt.realtime.publish(
        SHARE_CHANNEL,
        {
            "video_id": event.video_id,
            "owner_id": event.owner_id,
            "user_id": event.user_id,
            "to_user_id": event.to_user_id,
        },
    )


async def test_every_share_is_announced_and_a_refused_one_is_not(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(EVENT_HANDLERS, VideoShared, [announce_share_for_test])
    owner, sender, friend = [await make_user(runtime) for _ in range(3)]
    video_id = await make_video(runtime, owner)
    async with runtime.realtime.subscribe(SHARE_CHANNEL) as feed:
        r = await share(client, video_id, {"type": "internal", "to_user_id": friend.id}, sender)
        assert r.status_code == 201
        assert await feed.get(timeout=10) == {
            "video_id": video_id,
            "owner_id": owner.id,
            "user_id": sender.id,
            "to_user_id": friend.id,
        }
        assert (await share(client, video_id, {"type": "external"})).status_code == 201
        announced = await feed.get(timeout=10)
        assert announced is not None and announced["user_id"] is None
        refused = await share(
            client, video_id, {"type": "internal", "to_user_id": sender.id}, sender
        )
        assert refused.status_code == 422
        assert await feed.get(timeout=1.5) is None
