"""Posting comments and replies: threads one level deep, the refusals, the duplicate guard and
the video's comment count."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reelstack.comments import service
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user, make_video
from tests.integration.comments.helpers import (
    comment,
    comment_count,
    listing,
    post,
    replies,
)


async def test_a_comment_comes_back_with_its_author_and_counts_on_the_video(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime, "owner"), await make_user(runtime, "fan")
    video = await make_video(runtime, owner)

    r = await post(client, fan, video, "  first!  ")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["text"] == "first!"  # surrounding whitespace is not kept
    assert body["video_id"] == video and body["thread_id"] is None
    assert body["user"] == {
        "user_id": fan.id,
        "username": "fan",
        "display_name": "fan",
        "avatar_url": None,
        "is_verified": False,
    }
    assert body["reply_to"] is None and body["replies"] == []
    assert body["like_count"] == 0 and body["reply_count"] == 0
    assert body["is_edited"] is body["is_pinned"] is body["is_deleted"] is False
    assert body["user_interaction"] == {"liked": False, "disliked": False}
    assert "dislike_count" not in body

    assert await comment_count(client, video, owner) == 1
    await comment(client, owner, video, "thanks")
    assert await comment_count(client, video, fan) == 2


async def test_a_reply_to_a_reply_joins_the_thread_and_answers_its_author(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    ana, ben, cy = [await make_user(runtime, n) for n in ("ana", "ben", "cyd")]
    video = await make_video(runtime, owner)
    top = await comment(client, ana, video, "top comment")
    first = await comment(client, ben, video, "reply to ana", top["comment_id"])
    second = await comment(client, cy, video, "reply to ben", first["comment_id"])

    assert first["thread_id"] == top["comment_id"]
    assert first["reply_to"] == {"user_id": ana.id, "username": "ana"}
    assert second["thread_id"] == top["comment_id"]  # not nested under the reply
    assert second["reply_to"] == {"user_id": ben.id, "username": "ben"}

    page = await listing(client, video, sort="newest")
    assert [c["comment_id"] for c in page["comments"]] == [top["comment_id"]]
    thread = page["comments"][0]
    assert thread["reply_count"] == 2
    assert [r["text"] for r in thread["replies"]] == ["reply to ana", "reply to ben"]
    assert (await replies(client, top["comment_id"]))["replies"][1]["reply_to"]["username"] == "ben"
    assert await comment_count(client, video, owner) == 3


async def test_bad_text_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video = await make_video(runtime, owner)
    for text in ("", "   \n\t ", "x" * 2001, "nul \x00 byte", "bell \x07"):
        assert_problem(await post(client, owner, video, text), 422, "validation_failed")
    r = await client.post(
        f"/api/v1/videos/{video}/comments", json={"text": "hi", "extra": 1}, headers=owner.headers
    )
    assert_problem(r, 422, "validation_failed")
    assert (await listing(client, video))["comments"] == []
    assert await comment_count(client, video, owner) == 0

    longest = await comment(client, owner, video, "y" * 2000)
    assert len(longest["text"]) == 2000
    multiline = await comment(client, owner, video, "line one\r\nline two")
    assert multiline["text"] == "line one\nline two"


async def test_parents_that_do_not_exist_or_sit_on_another_video_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video, other_video = await make_video(runtime, owner), await make_video(runtime, owner)
    elsewhere = await comment(client, owner, other_video, "on the other video")

    assert_problem(
        await post(client, owner, video, "reply", "01hzzzzzzzzzzzzzzzzzzzzzzz"),
        404,
        "comment_not_found",
    )
    assert_problem(await post(client, owner, video, "reply", "nonsense"), 404, "comment_not_found")
    assert_problem(
        await post(client, owner, video, "reply", elsewhere["comment_id"]),
        422,
        "parent_on_other_video",
    )
    assert (await listing(client, video))["comments"] == []
    assert (await listing(client, other_video))["comments"][0]["reply_count"] == 0


async def test_videos_the_viewer_may_not_see_cannot_be_commented_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, stranger = await make_user(runtime), await make_user(runtime)
    private = await make_video(runtime, owner, visibility="private")
    followers_only = await make_video(runtime, owner, visibility="followers")
    processing = await make_video(runtime, owner, status="processing")
    for video in (private, followers_only, processing, "01hzzzzzzzzzzzzzzzzzzzzzzz"):
        assert_problem(await post(client, stranger, video, "hello"), 404, "video_not_found")
        r = await client.get(f"/api/v1/videos/{video}/comments", headers=stranger.headers)
        assert_problem(r, 404, "video_not_found")
    # The owner may comment on their own private video.
    await comment(client, owner, private, "note to self")
    assert_problem(
        await client.post(f"/api/v1/videos/{private}/comments", json={"text": "anon"}),
        401,
        "not_authenticated",
    )


async def test_a_blocked_user_cannot_comment_on_the_blockers_videos(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, pest = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    await client.post(f"/api/v1/users/{pest.id}/block", headers=owner.headers)
    assert_problem(await post(client, pest, video, "hi"), 404, "video_not_found")


async def test_turning_comments_off_refuses_new_ones_and_hides_the_old(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    earlier = await comment(client, fan, video, "before")
    r = await client.patch(
        f"/api/v1/videos/{video}", json={"allow_comments": False}, headers=owner.headers
    )
    assert r.status_code == 200, r.text

    assert_problem(await post(client, fan, video, "after"), 403, "comments_disabled")
    assert_problem(await post(client, owner, video, "mine"), 403, "comments_disabled")
    page = await listing(client, video, fan)
    assert page["comments"] == [] and page["comments_disabled"] is True
    r = await client.post(
        f"/api/v1/comments/{earlier['comment_id']}/like",
        json={"action": "like"},
        headers=owner.headers,
    )
    assert_problem(r, 403, "comments_disabled")

    await client.patch(
        f"/api/v1/videos/{video}", json={"allow_comments": True}, headers=owner.headers
    )
    page = await listing(client, video, fan)
    assert page["comments_disabled"] is False and [c["text"] for c in page["comments"]] == [
        "before"
    ]


async def test_the_same_text_twice_within_a_minute_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan, other = [await make_user(runtime) for _ in range(3)]
    video = await make_video(runtime, owner)
    await comment(client, fan, video, "So   GOOD")

    again = await post(client, fan, video, "so good")  # case and spacing do not matter
    body = assert_problem(again, 429, "duplicate_comment")
    assert 1 <= int(again.headers["Retry-After"]) <= 60 and body["retry_after"]
    assert_problem(await post(client, fan, video, "so good", None), 429, "duplicate_comment")
    # Another user may say the same, and the author may say something else.
    await comment(client, other, video, "so good")
    await comment(client, fan, video, "so good, really")
    assert await comment_count(client, video, owner) == 3


async def test_the_duplicate_mark_expires(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "DUPLICATE_WINDOW_SECONDS", 1)
    owner = await make_user(runtime)
    video = await make_video(runtime, owner)
    await comment(client, owner, video, "again and again")
    assert_problem(await post(client, owner, video, "again and again"), 429, "duplicate_comment")
    await asyncio.sleep(1.2)
    await comment(client, owner, video, "again and again")
    assert await comment_count(client, video, owner) == 2


async def test_a_refused_post_does_not_block_its_retry(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    # Refused after the text was checked (the parent is missing): no mark is left behind.
    assert_problem(await post(client, fan, video, "hello", "nonsense"), 404, "comment_not_found")
    await comment(client, fan, video, "hello")


async def test_identical_posts_sent_at_once_store_one_comment(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    responses = await asyncio.gather(*(post(client, fan, video, "double tap") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 429, 429, 429, 429]
    assert [c["text"] for c in (await listing(client, video))["comments"]] == ["double tap"]
    assert await comment_count(client, video, owner) == 1
