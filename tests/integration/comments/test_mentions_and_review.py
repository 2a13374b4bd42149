"""@mentions and the CommentPosted event they travel in; the word filter that holds a comment
for review, visible to its author only, uncounted and unannounced."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from reelstack.events import CommentPosted
from reelstack.handlers import EVENT_HANDLERS
from reelstack.infra.events import event_handler
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user, make_video
from tests.integration.comments.helpers import (
    comment,
    comment_count,
    listing,
    make_moderator,
    post,
    replies,
    texts,
)

if TYPE_CHECKING:
    from reelstack.infra.realtime import Subscription


def announced(video_id: str) -> str:
    return f"test:comment-posted:{video_id}"


@event_handler(queue="notifications")
async def relay_comment_posted(rt: Runtime, event: CommentPosted) -> None:
    """Stands in for the notifications feature: tells the test what the event carried."""
    # Through JSON, as a job payload travels: the same message on both deployments.
    message = json.loads(json.dumps(dataclasses.asdict(event)))
    await rt.realtime.publish(announced(event.video_id), message)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"comment_held_words": "Spoiler, bad word ,"}


@pytest.fixture(autouse=True)
def relay_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVENT_HANDLERS, CommentPosted, [relay_comment_posted])


async def next_event(feed: Subscription) -> dict[str, Any]:
    message = await feed.get(timeout=10)
    assert message is not None, "no CommentPosted arrived"
    return message


async def test_mentions_name_existing_users_the_author_may_reach(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    author = await make_user(runtime, "author")
    ana, ben = await make_user(runtime, "ana"), await make_user(runtime, "ben.b")
    grumpy, shunned = await make_user(runtime, "grumpy"), await make_user(runtime, "shunned")
    await client.post(f"/api/v1/users/{author.id}/block", headers=grumpy.headers)
    await client.post(f"/api/v1/users/{shunned.id}/block", headers=author.headers)
    video = await make_video(runtime, owner)

    text = (
        "hey @ANA, @ben.b. and @ana again; @ghost, @grumpy, @shunned, @author "
        "and mail@ana.example are not mentions"
    )
    async with runtime.realtime.subscribe(announced(video)) as feed:
        posted = await comment(client, author, video, text)
        assert posted["mentions"] == [
            {"user_id": ana.id, "username": "ana"},
            {"user_id": ben.id, "username": "ben.b"},
        ]
        assert (await listing(client, video))["comments"][0]["mentions"] == posted["mentions"]
        message = await next_event(feed)
        assert message == {
            "comment_id": posted["comment_id"],
            "video_id": video,
            "owner_id": owner.id,
            "author_id": author.id,
            "thread_id": None,
            "reply_to_user_id": None,
            "mentioned_user_ids": [ana.id, ben.id],
        }

        reply = await comment(client, ana, video, "thanks", posted["comment_id"])
        message = await next_event(feed)
        assert message["comment_id"] == reply["comment_id"]
        assert message["thread_id"] == posted["comment_id"]
        assert message["reply_to_user_id"] == author.id
        assert message["mentioned_user_ids"] == []


async def test_a_mention_does_not_reach_someone_outside_the_videos_audience(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime, "owner"), await make_user(runtime, "fan")
    outsider = await make_user(runtime, "outsider")
    await client.post(f"/api/v1/users/{owner.id}/follow", headers=fan.headers)
    video = await make_video(runtime, owner, visibility="followers")
    async with runtime.realtime.subscribe(announced(video)) as feed:
        posted = await comment(client, fan, video, "look @outsider and @owner")
        assert [m["username"] for m in posted["mentions"]] == ["outsider", "owner"]
        assert (await next_event(feed))["mentioned_user_ids"] == [owner.id]
    assert outsider.id


async def test_a_comment_the_word_filter_matches_waits_for_review(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, author, other = (
        await make_user(runtime, "owner"),
        await make_user(runtime, "author"),
        await make_user(runtime, "other"),
    )
    moderator = await make_moderator(runtime)
    video = await make_video(runtime, owner)

    async with runtime.realtime.subscribe(announced(video)) as feed:
        held = await comment(client, author, video, "big SPOILER: he dies")
        assert held["held_for_review"] is True
        phrase = await comment(client, author, video, "what a Bad \n  word!")
        assert phrase["held_for_review"] is True
        clean = await comment(client, author, video, "spoilers ahead, badword")  # no whole word
        assert clean["held_for_review"] is False
        # Only the visible one is announced.
        assert (await next_event(feed))["comment_id"] == clean["comment_id"]
        assert await feed.get(timeout=1.5) is None

    mine = await listing(client, video, author, sort="newest")
    assert texts(mine) == [
        "spoilers ahead, badword",
        "what a Bad \n  word!",
        "big SPOILER: he dies",
    ]
    assert [c["held_for_review"] for c in mine["comments"]] == [False, True, True]
    for viewer in (owner, other, None):
        visible = await listing(client, video, viewer, sort="newest")
        assert texts(visible) == ["spoilers ahead, badword"]
        assert not visible["comments"][0]["held_for_review"]
    assert len((await listing(client, video, moderator))["comments"]) == 3
    assert await comment_count(client, video, owner) == 1

    # For everyone else the held comment does not exist.
    held_url = f"/api/v1/comments/{held['comment_id']}"
    assert_problem(await client.get(held_url, headers=owner.headers), 404, "comment_not_found")
    assert_problem(
        await post(client, other, video, "reply", held["comment_id"]), 404, "comment_not_found"
    )
    # Its author's replies wait with it, and it cannot be pinned.
    reply = await comment(client, author, video, "more details", held["comment_id"])
    assert reply["held_for_review"] is True
    assert texts(await replies(client, held["comment_id"], author)) == ["more details"]
    assert await comment_count(client, video, owner) == 1
    r = await client.post(f"/api/v1/comments/{held['comment_id']}/pin", headers=owner.headers)
    assert_problem(r, 404, "comment_not_found")


async def test_an_edit_that_matches_the_filter_sends_the_comment_to_review(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, author = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "top")
    reply = await comment(client, author, video, "harmless", top["comment_id"])
    assert await comment_count(client, video, owner) == 2

    r = await client.patch(
        f"/api/v1/comments/{reply['comment_id']}",
        json={"text": "harmless spoiler"},
        headers=author.headers,
    )
    assert r.status_code == 200 and r.json()["held_for_review"] is True
    assert await comment_count(client, video, owner) == 1
    thread = (await listing(client, video, owner))["comments"][0]
    assert thread["reply_count"] == 0 and thread["replies"] == []
    own_view = (await listing(client, video, author))["comments"][0]
    assert [r["text"] for r in own_view["replies"]] == ["harmless spoiler"]

    # Deleting it moves no count: it was not counted any more.
    r = await client.delete(f"/api/v1/comments/{reply['comment_id']}", headers=author.headers)
    assert r.status_code == 204
    assert await comment_count(client, video, owner) == 1


async def test_the_creator_cannot_pin_their_own_held_comment(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video = await make_video(runtime, owner)
    held = await comment(client, owner, video, "spoiler inside")
    r = await client.post(f"/api/v1/comments/{held['comment_id']}/pin", headers=owner.headers)
    assert_problem(r, 409, "comment_held")
