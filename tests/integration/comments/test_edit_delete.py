"""Editing and deleting comments: who may, what readers see afterwards, and the counts."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from reelstack.infra.counters import reconcile
from reelstack.media.models import VIDEO_COUNTERS, Video
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


async def test_the_author_edits_and_the_comment_shows_as_edited(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    posted = await comment(client, fan, video, "frist")
    url = f"/api/v1/comments/{posted['comment_id']}"

    r = await client.patch(url, json={"text": " first "}, headers=fan.headers)
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "first" and r.json()["is_edited"] is True
    shown = (await listing(client, video))["comments"][0]
    assert shown["text"] == "first" and shown["is_edited"] is True

    for other in (owner, await make_moderator(runtime)):
        r = await client.patch(url, json={"text": "hijacked"}, headers=other.headers)
        assert_problem(r, 403, "not_comment_author")
    assert_problem(
        await client.patch(url, json={"text": "  "}, headers=fan.headers), 422, "validation_failed"
    )
    assert_problem(
        await client.patch(url, json={"text": "x" * 2001}, headers=fan.headers),
        422,
        "validation_failed",
    )
    assert_problem(await client.patch(url, json={"text": "anon"}), 401, "not_authenticated")
    assert texts(await listing(client, video)) == ["first"]
    assert await comment_count(client, video, owner) == 1  # an edit is not a new comment


async def test_a_comment_without_replies_disappears_when_deleted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    keep = await comment(client, fan, video, "keep")
    gone = await comment(client, fan, video, "gone")
    url = f"/api/v1/comments/{gone['comment_id']}"

    r = await client.delete(url, headers=fan.headers)
    assert r.status_code == 204, r.text
    assert texts(await listing(client, video)) == ["keep"]
    assert_problem(await client.get(url), 404, "comment_not_found")
    assert_problem(await client.delete(url, headers=fan.headers), 404, "comment_not_found")
    assert_problem(
        await client.patch(url, json={"text": "back"}, headers=fan.headers),
        404,
        "comment_not_found",
    )
    assert await comment_count(client, video, owner) == 1
    assert (await client.get(f"/api/v1/comments/{keep['comment_id']}")).status_code == 200


async def test_a_thread_start_with_replies_stays_as_comment_removed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    ana, ben = await make_user(runtime, "ana"), await make_user(runtime, "ben")
    video = await make_video(runtime, owner)
    top = await comment(client, ana, video, "secret opinion @ben")
    first = await comment(client, ben, video, "reply one", top["comment_id"])
    second = await comment(client, owner, video, "reply two", top["comment_id"])
    assert await comment_count(client, video, owner) == 3

    r = await client.delete(f"/api/v1/comments/{top['comment_id']}", headers=ana.headers)
    assert r.status_code == 204
    placeholder = (await listing(client, video))["comments"][0]
    assert placeholder["comment_id"] == top["comment_id"]
    assert placeholder["is_deleted"] is True
    assert placeholder["text"] is None and placeholder["user"] is None
    assert placeholder["mentions"] == []
    assert "secret" not in str(placeholder)
    assert placeholder["reply_count"] == 2
    assert [c["text"] for c in placeholder["replies"]] == ["reply one", "reply two"]
    assert texts(await replies(client, top["comment_id"])) == ["reply one", "reply two"]
    assert await comment_count(client, video, owner) == 2

    # Nobody can answer, like or edit the removed comment itself; its replies can be answered.
    assert_problem(
        await post(client, owner, video, "to the void", top["comment_id"]),
        404,
        "comment_not_found",
    )
    r = await client.post(
        f"/api/v1/comments/{top['comment_id']}/like", json={"action": "like"}, headers=ben.headers
    )
    assert_problem(r, 404, "comment_not_found")
    third = await comment(client, ana, video, "reply three", first["comment_id"])
    assert third["thread_id"] == top["comment_id"]

    # Once its last reply goes, the placeholder goes too.
    for reply, author in ((first, ben), (second, owner), (third, ana)):
        r = await client.delete(f"/api/v1/comments/{reply['comment_id']}", headers=author.headers)
        assert r.status_code == 204
    assert (await listing(client, video))["comments"] == []
    assert_problem(
        await client.get(f"/api/v1/comments/{top['comment_id']}"), 404, "comment_not_found"
    )
    assert await comment_count(client, video, owner) == 0


async def test_the_creator_and_moderators_may_delete_others_may_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan, stranger = [await make_user(runtime) for _ in range(3)]
    moderator = await make_moderator(runtime)
    video = await make_video(runtime, owner)
    by_creator = await comment(client, fan, video, "creator removes this")
    by_moderator = await comment(client, fan, video, "moderator removes this")
    survivor = await comment(client, fan, video, "stays")

    for target in (by_creator, by_moderator, survivor):
        r = await client.delete(
            f"/api/v1/comments/{target['comment_id']}", headers=stranger.headers
        )
        assert_problem(r, 403, "cannot_delete_comment")
    r = await client.delete(f"/api/v1/comments/{by_creator['comment_id']}", headers=owner.headers)
    assert r.status_code == 204
    r = await client.delete(
        f"/api/v1/comments/{by_moderator['comment_id']}", headers=moderator.headers
    )
    assert r.status_code == 204
    assert texts(await listing(client, video)) == ["stays"]
    assert await comment_count(client, video, owner) == 1


async def test_deleting_a_reply_lowers_its_threads_reply_count(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "top")
    doomed = await comment(client, fan, video, "doomed", top["comment_id"])
    await comment(client, fan, video, "kept", top["comment_id"])
    await client.delete(f"/api/v1/comments/{doomed['comment_id']}", headers=fan.headers)
    thread = (await listing(client, video))["comments"][0]
    assert thread["reply_count"] == 1 and [r["text"] for r in thread["replies"]] == ["kept"]
    assert await comment_count(client, video, owner) == 2


async def test_the_recount_repairs_a_drifted_comment_count(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "one")
    await comment(client, owner, video, "two", top["comment_id"])
    removed = await comment(client, owner, video, "three")
    await client.delete(f"/api/v1/comments/{removed['comment_id']}", headers=owner.headers)
    await client.delete(f"/api/v1/comments/{top['comment_id']}", headers=owner.headers)
    assert await comment_count(client, video, owner) == 1  # "two"; the placeholder does not count

    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    async with runtime.unit_of_work() as session:  # drift, e.g. a crash between two writes
        await session.execute(update(Video).where(Video.id == video).values(comment_count=42))
    assert await comment_count(client, video, owner) == 42
    assert await reconcile(runtime, VIDEO_COUNTERS, [video]) == 1
    assert await comment_count(client, video, owner) == 1
