"""Liking and disliking comments: idempotent, switching moves both counts, exact under load."""

from __future__ import annotations

import asyncio
import random

import httpx
from sqlalchemy import select

from reelstack.comments.models import Comment, CommentReaction
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.comments.helpers import comment, listing


async def react(
    client: httpx.AsyncClient, user: TestUser, comment_id: str, action: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/comments/{comment_id}/like", json={"action": action}, headers=user.headers
    )


async def stored_counts(rt: Runtime, comment_id: str) -> tuple[int, int, int, int]:
    """(like_count, dislike_count) on the comment and the likes and dislikes among its rows."""
    async with rt.unit_of_work(write=False) as session:
        row = await session.get_one(Comment, comment_id)
        values = list(
            await session.scalars(
                select(CommentReaction.value).where(CommentReaction.comment_id == comment_id)
            )
        )
    return row.like_count, row.dislike_count, values.count(1), values.count(-1)


async def test_like_dislike_and_remove_are_idempotent_and_switch_both_counts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    video = await make_video(runtime, owner)
    posted = await comment(client, owner, video, "rate me")
    cid = posted["comment_id"]

    for _ in range(2):
        r = await react(client, fan, cid, "like")
        assert r.status_code == 200, r.text
        assert r.json() == {"liked": True, "disliked": False, "like_count": 1}
    assert await stored_counts(runtime, cid) == (1, 0, 1, 0)
    shown = (await listing(client, video, fan))["comments"][0]
    assert shown["like_count"] == 1 and shown["user_interaction"]["liked"] is True
    assert (await listing(client, video, owner))["comments"][0]["user_interaction"] == {
        "liked": False,
        "disliked": False,
    }

    for _ in range(2):
        r = await react(client, fan, cid, "dislike")
        assert r.json() == {"liked": False, "disliked": True, "like_count": 0}
    assert await stored_counts(runtime, cid) == (0, 1, 0, 1)
    shown = (await listing(client, video, fan))["comments"][0]
    assert shown["user_interaction"] == {"liked": False, "disliked": True}

    for _ in range(2):
        r = await react(client, fan, cid, "remove")
        assert r.json() == {"liked": False, "disliked": False, "like_count": 0}
    assert await stored_counts(runtime, cid) == (0, 0, 0, 0)

    assert_problem(await react(client, fan, cid, "love"), 422, "validation_failed")
    assert_problem(
        await client.post(f"/api/v1/comments/{cid}/like", json={"action": "like"}),
        401,
        "not_authenticated",
    )
    assert_problem(
        await react(client, fan, "01hzzzzzzzzzzzzzzzzzzzzzzz", "like"), 404, "comment_not_found"
    )


async def test_reactions_sent_at_once_keep_the_counts_exact(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video = await make_video(runtime, owner)
    cid = (await comment(client, owner, video, "popular"))["comment_id"]
    fans = await asyncio.gather(*(make_user(runtime) for _ in range(20)))
    rng = random.Random(11)

    async def fiddle(fan: TestUser) -> None:
        # Each fan changes their mind a few times, overlapping with everyone else.
        for _ in range(rng.randint(1, 4)):
            r = await react(client, fan, cid, rng.choice(["like", "dislike", "remove"]))
            assert r.status_code == 200, r.text

    await asyncio.gather(*(fiddle(f) for f in fans))
    # And one fan sends all three at once, twice over.
    same = fans[0]
    await asyncio.gather(*(react(client, same, cid, a) for a in ["like", "dislike", "remove"] * 2))

    likes, dislikes, like_rows, dislike_rows = await stored_counts(runtime, cid)
    assert (likes, dislikes) == (like_rows, dislike_rows)
    assert (await listing(client, video))["comments"][0]["like_count"] == like_rows
