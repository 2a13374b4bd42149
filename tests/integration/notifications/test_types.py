"""Each kind of notification is made by its event's job, and not made for one's own doing, for
a blocked pair, or for a type turned off."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from reelstack.events import VideoFailed
from reelstack.infra.events import publish
from reelstack.media.models import Video
from reelstack.notifications.delivery import user_channel
from reelstack.runtime import Runtime
from tests.factories import make_user, make_video
from tests.integration.notifications.helpers import (
    JOB_TIMEOUT,
    block,
    comment,
    follow,
    jobs_settled,
    like,
    notifications_of,
    of_type,
    video_processed,
    wait_for,
)


async def test_a_follow_tells_the_followed_user_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    star, fan = await make_user(runtime, "star"), await make_user(runtime, "fan")
    await follow(client, fan, star)
    items = await wait_for(client, star, lambda ns: len(ns) == 1)
    (note,) = items
    assert note["type"] == "new_follower"
    assert note["text"] == "fan started following you."
    assert note["actors"] == [
        {"user_id": fan.id, "username": "fan", "display_name": "fan", "avatar_url": None}
    ]
    assert note["actor_count"] == 1 and note["is_read"] is False
    assert note["video"] is None and note["comment"] is None

    # Following again, or unfollowing and following back while it is unread, tells nobody twice.
    await follow(client, fan, star)
    await client.delete(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
    await follow(client, fan, star)
    other = await make_user(runtime, "other")
    await follow(client, other, star)  # a sentinel: once it shows, the jobs before it ran
    items = await wait_for(client, star, lambda ns: len(ns) >= 2)
    await jobs_settled(runtime)
    items = await notifications_of(client, star)
    assert [n["actors"][0]["username"] for n in items] == ["other", "fan"]
    assert await notifications_of(client, fan) == []  # the follower is not told


async def test_a_private_account_hears_of_a_follow_request(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shy, fan = await make_user(runtime, "shy", private=True), await make_user(runtime, "fan")
    await follow(client, fan, shy)
    (note,) = await wait_for(client, shy, lambda ns: len(ns) == 1)
    assert note["type"] == "follow_request"
    assert note["text"] == "fan asked to follow you."


async def test_likes_comments_replies_and_mentions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    ana, ben, cy = [await make_user(runtime, name) for name in ("ana", "ben", "cyd")]
    video_id = await make_video(runtime, owner)

    assert (await like(client, ana, video_id)).status_code == 200
    (liked,) = await wait_for(client, owner, lambda ns: len(ns) == 1)
    assert liked["type"] == "like" and liked["text"] == "ana liked your video."
    assert liked["video"] == {"video_id": video_id, "thumbnail_url": None}

    # ben comments mentioning cy; ana replies to ben mentioning ben and the owner.
    top = await comment(client, ben, video_id, "first! @cyd look")
    await comment(client, ana, video_id, "@ben @owner agreed", parent=top)

    def settled(ns: list[dict[str, object]]) -> bool:
        return len(ns) == 3

    owner_items = await wait_for(client, owner, settled)
    assert [n["type"] for n in owner_items] == ["comment", "comment", "like"]
    assert {n["text"] for n in of_type(owner_items, "comment")} == {
        "ben commented on your video.",
        "ana commented on your video.",
    }
    first = next(n for n in owner_items if n["actors"][0]["username"] == "ben")
    assert first["comment"]["text"] == "first! @cyd look"
    assert first["video"]["video_id"] == video_id

    (ben_note,) = await wait_for(client, ben, lambda ns: len(ns) == 1)
    assert ben_note["type"] == "reply"  # replied to and mentioned: told once, as a reply
    assert ben_note["text"] == "ana replied to your comment."
    (cy_note,) = await wait_for(client, cy, lambda ns: len(ns) == 1)
    assert cy_note["type"] == "mention" and cy_note["text"] == "ben mentioned you in a comment."
    await jobs_settled(runtime)
    assert await notifications_of(client, ana) == []  # nobody hears of their own comment
    assert len(await notifications_of(client, owner)) == 3  # mentioned owner: still one


async def test_nobody_is_told_of_their_own_doing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime, "owner"), await make_user(runtime, "fan")
    video_id = await make_video(runtime, owner)
    assert (await like(client, owner, video_id)).status_code == 200
    await comment(client, owner, video_id, "my own video, @owner")
    await like(client, fan, video_id)  # sentinel
    await wait_for(client, owner, lambda ns: len(ns) == 1)
    await jobs_settled(runtime)
    (only,) = await notifications_of(client, owner)
    assert only["actors"][0]["username"] == "fan"


async def test_a_block_either_way_stops_notifications(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    rude, shunned, friend = (
        await make_user(runtime, "rude"),
        await make_user(runtime, "shunned"),
        await make_user(runtime, "friend"),
    )
    video_id = await make_video(runtime, owner)
    await block(client, owner, shunned)  # the owner blocks shunned: cannot even see the video
    await block(client, rude, owner)  # rude blocks the owner, yet can see and like the video
    assert (await like(client, rude, video_id)).status_code == 200
    assert (await like(client, shunned, video_id)).status_code == 404
    await comment(client, rude, video_id, "meh")
    await like(client, friend, video_id)  # sentinel
    (note,) = await wait_for(client, owner, lambda ns: len(ns) == 1)
    await jobs_settled(runtime)
    (note,) = await notifications_of(client, owner)
    assert note["actor_count"] == 1 and note["text"] == "friend liked your video."

    # A block after the fact hides what the blocked user did from the list and the count.
    await follow(client, rude, friend)
    await wait_for(client, friend, lambda ns: len(ns) == 1)
    await block(client, friend, rude)
    assert await notifications_of(client, friend) == []
    r = await client.get("/api/v1/notifications/unread_count", headers=friend.headers)
    assert r.json() == {"unread_count": 0}


async def test_a_type_turned_off_is_not_notified(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime, "owner"), await make_user(runtime, "fan")
    video_id = await make_video(runtime, owner)
    r = await client.put(
        "/api/v1/notifications/preferences",
        headers=owner.headers,
        json={"like": False, "comment": False},
    )
    assert r.status_code == 200, r.text
    await like(client, fan, video_id)
    await comment(client, fan, video_id, "hello @owner")  # comment off: told as a mention
    await follow(client, fan, owner)  # sentinel
    await wait_for(client, owner, lambda ns: len(ns) == 2)
    await jobs_settled(runtime)
    items = await notifications_of(client, owner)
    assert sorted(n["type"] for n in items) == ["mention", "new_follower"]


# Batches of two: the fan-out takes several rounds, one of them with a follower to skip.
@pytest.mark.parametrize("settings_overrides", [{"notification_fan_out_batch": 2}])
async def test_a_processed_video_tells_its_creator_and_their_followers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator = await make_user(runtime, "creator")
    fans = [await make_user(runtime, f"fan{i}") for i in range(5)]
    quiet, blocked = await make_user(runtime, "quiet"), await make_user(runtime, "blocked")
    for fan in [*fans, quiet, blocked]:
        await follow(client, fan, creator)
    await client.put(
        "/api/v1/notifications/preferences", headers=quiet.headers, json={"new_post": False}
    )
    await block(client, blocked, creator)  # ends the follow too
    video_id = await make_video(runtime, creator, visibility="followers")
    async with runtime.realtime.subscribe(user_channel(fans[-1].id)) as last_fan_feed:
        await video_processed(runtime, creator, video_id)
        pushed = await last_fan_feed.get(timeout=JOB_TIMEOUT)
        count = await last_fan_feed.get(timeout=JOB_TIMEOUT)

    for fan in fans:
        (note,) = await wait_for(client, fan, lambda ns: len(ns) == 1)
        assert note["type"] == "new_post"
        assert note["text"] == "creator posted a new video."
        assert note["video"]["video_id"] == video_id
    # The last fan's open page heard of it as the list shows it, with its own id.
    assert pushed == {"type": "notification", "notification": note}
    assert count == {"type": "unread_count", "count": 1}
    ready = await wait_for(client, creator, lambda ns: bool(of_type(ns, "video_ready")))
    (done,) = of_type(ready, "video_ready")
    assert done["text"] == "Your video is ready to watch." and done["actors"] == []
    assert done["video"]["video_id"] == video_id

    # Published again (a retried job): nobody is told twice.
    await video_processed(runtime, creator, video_id)
    await jobs_settled(runtime)
    for fan in fans:
        assert len(await notifications_of(client, fan)) == 1
    assert await notifications_of(client, quiet) == []
    assert await notifications_of(client, blocked) == []
    assert len(of_type(await notifications_of(client, creator), "video_ready")) == 1


async def test_unlisted_and_private_videos_are_not_announced(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, fan = await make_user(runtime, "creator"), await make_user(runtime, "fan")
    await follow(client, fan, creator)
    for visibility in ("unlisted", "private"):
        await video_processed(
            runtime, creator, await make_video(runtime, creator, visibility=visibility)
        )
    await wait_for(
        client, creator, lambda ns: len(of_type(ns, "video_ready")) == 2, "video_ready twice"
    )
    await jobs_settled(runtime)
    assert await notifications_of(client, fan) == []


@pytest.mark.parametrize("settings_overrides", [{"notify_new_post_max_followers": 1}])
async def test_creators_above_the_threshold_do_not_fan_out(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator = await make_user(runtime, "creator")
    fans = [await make_user(runtime, f"fan{i}") for i in range(2)]
    for fan in fans:
        await follow(client, fan, creator)
    await video_processed(runtime, creator, await make_video(runtime, creator))
    await wait_for(client, creator, lambda ns: bool(of_type(ns, "video_ready")))
    await jobs_settled(runtime)
    for fan in fans:
        assert of_type(await notifications_of(client, fan), "new_post") == []


async def test_a_failed_video_tells_its_creator_why(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from reelstack.media import processing

    creator = await make_user(runtime, "creator")
    video_id = await make_video(runtime, creator, status="processing")
    async with runtime.unit_of_work() as session:
        video = await session.get_one(Video, video_id)
        processing.mark_failed(video, "transcode_failed", "ffmpeg said no")
    (note,) = await wait_for(client, creator, lambda ns: len(ns) == 1)
    assert note["type"] == "video_failed"
    assert note["text"] == "Your video could not be processed."
    assert note["video"]["video_id"] == video_id

    # Failing after some rungs were published: it plays, and the creator is told so.
    playable = await make_video(runtime, creator)
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Video).where(Video.id == playable).values(renditions=[{"name": "360p"}])
        )
        publish(session, VideoFailed(video_id=playable, user_id=creator.id, error_code="timeout"))
    items = await wait_for(client, creator, lambda ns: len(ns) == 2)
    assert items[0]["text"].startswith("Your video plays, but processing stopped")


async def test_a_video_no_longer_visible_drops_out_of_the_notification(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, fan = await make_user(runtime, "creator"), await make_user(runtime, "fan")
    await follow(client, fan, creator)
    video_id = await make_video(runtime, creator)
    posters = {"180": f"videos/{video_id}/poster-180.jpg", "360": f"videos/{video_id}/p-360.jpg"}
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Video).where(Video.id == video_id).values(thumbnails={"posters": posters})
        )
    await video_processed(runtime, creator, video_id)
    (note,) = await wait_for(client, fan, lambda ns: len(ns) == 1)
    assert note["video"]["video_id"] == video_id
    assert "p-360.jpg" in note["video"]["thumbnail_url"]  # a signed link to the 360 poster

    r = await client.patch(
        f"/api/v1/videos/{video_id}", headers=creator.headers, json={"visibility": "private"}
    )
    assert r.status_code == 200, r.text
    (note,) = await notifications_of(client, fan)
    assert note["type"] == "new_post" and note["video"] is None
