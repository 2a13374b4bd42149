"""A video the viewer may not see is answered like one that does not exist, by every action."""

from __future__ import annotations

from typing import Any

import httpx

from reelstack.interactions.models import Save, Share, VideoLike
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.interactions.helpers import API, rows_of, set_video, stored_video


async def every_action(
    client: httpx.AsyncClient, viewer: TestUser, video_id: str, collection_id: str
) -> list[httpx.Response]:
    """Each write a viewer can aim at a video."""
    headers = viewer.headers
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{API}/videos/{video_id}/like", None),
        ("DELETE", f"{API}/videos/{video_id}/like", None),
        ("POST", f"{API}/videos/{video_id}/save", None),
        ("DELETE", f"{API}/videos/{video_id}/save", None),
        ("POST", f"{API}/videos/{video_id}/share", {"type": "external"}),
        ("POST", f"{API}/collections/{collection_id}/videos/{video_id}", None),
        ("DELETE", f"{API}/collections/{collection_id}/videos/{video_id}", None),
    ]
    return [
        await client.request(method, url, headers=headers, json=body)
        for method, url, body in requests
    ]


async def assert_untouchable(
    client: httpx.AsyncClient, runtime: Runtime, viewer: TestUser, video_id: str
) -> None:
    made = await client.post(f"{API}/collections", json={"name": "mine"}, headers=viewer.headers)
    collection_id = made.json()["collection_id"]
    for response in await every_action(client, viewer, video_id, collection_id):
        assert_problem(response, 404, "video_not_found")
    internal = await client.post(
        f"{API}/videos/{video_id}/share",
        json={"type": "internal", "to_user_id": viewer.id},
        headers=viewer.headers,
    )
    assert_problem(internal, 404, "video_not_found")
    for model in (VideoLike, Save, Share):
        assert await rows_of(runtime, model, video_id) == 0
    video = await stored_video(runtime, video_id)
    assert (video.like_count, video.save_count, video.share_count) == (0, 0, 0)
    collection = await client.get(f"{API}/collections/{collection_id}", headers=viewer.headers)
    assert collection.json()["video_count"] == 0
    await client.delete(f"{API}/collections/{collection_id}", headers=viewer.headers)


async def test_private_and_followers_only_videos_refuse_outsiders(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, outsider = await make_user(runtime), await make_user(runtime)
    for visibility in ("private", "followers"):
        video_id = await make_video(runtime, owner, visibility=visibility)
        await assert_untouchable(client, runtime, outsider, video_id)


async def test_a_blocked_viewer_cannot_touch_the_blockers_videos(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, blocked = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    r = await client.post(f"{API}/users/{blocked.id}/block", headers=owner.headers)
    assert r.status_code == 200
    await assert_untouchable(client, runtime, blocked, video_id)


async def test_unready_moderated_and_missing_videos_refuse_everyone_else(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, viewer = await make_user(runtime), await make_user(runtime)
    processing = await make_video(runtime, owner, status="processing")
    await assert_untouchable(client, runtime, viewer, processing)
    hidden = await make_video(runtime, owner)
    await set_video(runtime, hidden, hidden_by_moderation=True)
    await assert_untouchable(client, runtime, viewer, hidden)
    made = await client.post(f"{API}/collections", json={"name": "x"}, headers=viewer.headers)
    for response in await every_action(client, viewer, "0" * 26, made.json()["collection_id"]):
        assert_problem(response, 404, "video_not_found")


async def test_a_follower_may_act_on_followers_only_videos(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, follower = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner, visibility="followers")
    await client.post(f"{API}/users/{owner.id}/follow", headers=follower.headers)
    r = await client.post(f"{API}/videos/{video_id}/like", headers=follower.headers)
    assert r.status_code == 200 and r.json()["like_count"] == 1
    r = await client.post(f"{API}/videos/{video_id}/save", headers=follower.headers)
    assert r.status_code == 200 and r.json()["save_count"] == 1
    # Once they stop following, the video is gone for them again.
    await client.delete(f"{API}/users/{owner.id}/follow", headers=follower.headers)
    assert_problem(
        await client.delete(f"{API}/videos/{video_id}/like", headers=follower.headers),
        404,
        "video_not_found",
    )
