"""Reading comments: order, pages, the first replies of each thread, a fixed number of queries,
and what blocks hide."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import event

from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.comments.helpers import comment, listing, post, replies, texts


async def like(client: httpx.AsyncClient, user: TestUser, comment_id: str) -> None:
    r = await client.post(
        f"/api/v1/comments/{comment_id}/like", json={"action": "like"}, headers=user.headers
    )
    assert r.status_code == 200, r.text


async def every_page(
    client: httpx.AsyncClient, video: str, viewer: TestUser | None, **params: Any
) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = await listing(client, video, viewer, **params, **extra)
        seen += [c["text"] for c in page["comments"]]
        assert page["has_more"] is (page["next_cursor"] is not None)
        if not page["has_more"]:
            return seen
        cursor = page["next_cursor"]


async def test_newest_and_top_orders_page_through_every_comment_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    fans = [await make_user(runtime) for _ in range(3)]
    video = await make_video(runtime, owner)
    posted = [await comment(client, owner, video, f"c{i}") for i in range(7)]
    # c2 gets three likes, c5 two, c0 one: "top" puts them first, in that order.
    for fan in fans:
        await like(client, fan, posted[2]["comment_id"])
    for fan in fans[:2]:
        await like(client, fan, posted[5]["comment_id"])
    await like(client, fans[0], posted[0]["comment_id"])

    newest = await every_page(client, video, None, sort="newest", page_size=3)
    assert newest == [f"c{i}" for i in reversed(range(7))]
    top = await every_page(client, video, fans[0], sort="top", page_size=2)
    assert top == ["c2", "c5", "c0", "c6", "c4", "c3", "c1"]  # then newest first among equals
    assert top == await every_page(client, video, None, page_size=3)  # top is the default

    first = await listing(client, video, fans[0], sort="top", page_size=2)
    assert [c["like_count"] for c in first["comments"]] == [3, 2]
    assert first["comments"][0]["user_interaction"] == {"liked": True, "disliked": False}

    for cursor in ("not-a-cursor", first["next_cursor"]):
        r = await client.get(
            f"/api/v1/videos/{video}/comments", params={"sort": "newest", "cursor": cursor}
        )
        assert_problem(r, 422, "invalid_cursor")  # a "top" cursor means nothing to "newest"
    r = await client.get(f"/api/v1/videos/{video}/comments", params={"sort": "best"})
    assert_problem(r, 422, "validation_failed")


async def test_threads_show_their_count_and_oldest_replies_and_the_rest_page_oldest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "top")
    for i in range(5):
        await comment(client, fan, video, f"r{i}", top["comment_id"])
    quiet = await comment(client, fan, video, "no replies")

    page = await listing(client, video, sort="newest")
    by_text = {c["text"]: c for c in page["comments"]}
    assert by_text["top"]["reply_count"] == 5
    assert [r["text"] for r in by_text["top"]["replies"]] == ["r0", "r1", "r2"]
    assert by_text["no replies"]["reply_count"] == 0 and by_text["no replies"]["replies"] == []
    assert len(page["comments"]) == 2  # replies are not top-level comments

    seen: list[str | None] = []
    cursor = None
    while True:
        part = await replies(
            client, top["comment_id"], page_size=2, **({"cursor": cursor} if cursor else {})
        )
        seen += texts(part)
        if not part["has_more"]:
            break
        cursor = part["next_cursor"]
    assert seen == ["r0", "r1", "r2", "r3", "r4"]
    assert (await replies(client, quiet["comment_id"]))["replies"] == []

    one = await client.get(f"/api/v1/comments/{top['comment_id']}")
    assert one.status_code == 200
    assert one.json()["reply_count"] == 5 and len(one.json()["replies"]) == 3
    missing = await client.get("/api/v1/comments/01hzzzzzzzzzzzzzzzzzzzzzzz/replies")
    assert_problem(missing, 404, "comment_not_found")


async def test_a_page_is_read_in_a_fixed_number_of_queries(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, viewer = await make_user(runtime), await make_user(runtime)
    mentioned = await make_user(runtime, "mentioned")
    video = await make_video(runtime, owner)
    for i in range(12):
        author = await make_user(runtime)
        top = await comment(client, author, video, f"thread {i} @mentioned")
        for j in range(4):
            await comment(client, owner, video, f"reply {i}.{j} @mentioned", top["comment_id"])
        await like(client, viewer, top["comment_id"])
    assert mentioned.id

    async def count_queries(path: str, page_size: int, key: str) -> int:
        statements: list[str] = []
        request_task = asyncio.current_task()

        def record(*args: object) -> None:
            # Only this request's statements: background jobs share the engine.
            if asyncio.current_task() is request_task:
                statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            r = await client.get(path, params={"page_size": page_size}, headers=viewer.headers)
            assert len(r.json()[key]) == page_size
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))])

    threads = f"/api/v1/videos/{video}/comments"
    small, large = (
        await count_queries(threads, 2, "comments"),
        await count_queries(threads, 12, "comments"),
    )
    assert small == large and small >= 6  # the video, the viewer's relation, the page, ...
    first = (await listing(client, video))["comments"][0]
    thread_replies = f"/api/v1/comments/{first['comment_id']}/replies"
    small = await count_queries(thread_replies, 1, "replies")
    assert small == await count_queries(thread_replies, 4, "replies") and small >= 6


async def test_blocks_hide_comments_both_ways_and_refuse_replies_to_them(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime, "owner")
    viewer, troll, shy = [await make_user(runtime, n) for n in ("viewer", "troll", "shy")]
    video = await make_video(runtime, owner)
    by_troll = await comment(client, troll, video, "troll top")
    by_shy = await comment(client, shy, video, "shy top")
    neutral = await comment(client, owner, video, "owner top")
    await comment(client, troll, video, "troll reply", neutral["comment_id"])
    await comment(client, shy, video, "shy reply", neutral["comment_id"])
    await comment(client, owner, video, "owner reply under troll", by_troll["comment_id"])

    # The viewer blocks the troll; shy blocks the viewer.
    await client.post(f"/api/v1/users/{troll.id}/block", headers=viewer.headers)
    await client.post(f"/api/v1/users/{viewer.id}/block", headers=shy.headers)

    page = await listing(client, video, viewer, sort="newest")
    assert texts(page) == ["owner top"]
    assert [r["text"] for r in page["comments"][0]["replies"]] == []
    assert texts(await replies(client, neutral["comment_id"], viewer)) == []
    # Someone else still sees everything.
    everyone = await listing(client, video, owner, sort="newest")
    assert texts(everyone) == ["owner top", "shy top", "troll top"]

    for hidden in (by_troll, by_shy):
        assert_problem(
            await post(client, viewer, video, "reply", hidden["comment_id"]),
            404,
            "comment_not_found",
        )
        r = await client.get(f"/api/v1/comments/{hidden['comment_id']}", headers=viewer.headers)
        assert_problem(r, 404, "comment_not_found")
        r = await client.get(
            f"/api/v1/comments/{hidden['comment_id']}/replies", headers=viewer.headers
        )
        assert_problem(r, 404, "comment_not_found")
    # A reply in a visible thread to a hidden author is refused just the same.
    troll_reply = next(r for r in everyone["comments"][0]["replies"] if r["text"] == "troll reply")
    assert_problem(
        await post(client, viewer, video, "answer", troll_reply["comment_id"]),
        404,
        "comment_not_found",
    )
    await comment(client, viewer, video, "fine", neutral["comment_id"])
