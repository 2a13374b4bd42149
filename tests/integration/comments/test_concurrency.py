"""Comments written at the same moment: counts stay exact, nothing deadlocks, and a thread
removed while replies arrive ends up consistent."""

from __future__ import annotations

import asyncio

import httpx

from reelstack.runtime import Runtime
from tests.factories import make_user, make_video
from tests.integration.comments.helpers import comment, comment_count, listing, post, replies


async def test_replies_pins_and_likes_at_once_keep_every_count_exact(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    fans = await asyncio.gather(*(make_user(runtime) for _ in range(15)))
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "top")
    other = await comment(client, owner, video, "other")
    tid = top["comment_id"]

    async def pin_back_and_forth() -> list[int]:
        codes = []
        for target in (tid, other["comment_id"]) * 3:
            r = await client.post(f"/api/v1/comments/{target}/pin", headers=owner.headers)
            codes.append(r.status_code)
        return codes

    posting = asyncio.gather(
        *(post(client, fan, video, f"reply {i}", tid) for i, fan in enumerate(fans))
    )
    liking = asyncio.gather(
        *(
            client.post(f"/api/v1/comments/{tid}/like", json={"action": "like"}, headers=f.headers)
            for f in fans
        )
    )
    posted, liked, pins = await asyncio.gather(posting, liking, pin_back_and_forth())
    assert [r.status_code for r in posted] == [201] * len(fans)
    assert [r.status_code for r in liked] == [200] * len(fans)
    assert pins == [200] * 6

    page = await listing(client, video, sort="newest")
    thread = next(c for c in page["comments"] if c["comment_id"] == tid)
    assert thread["reply_count"] == len(fans) and thread["like_count"] == len(fans)
    assert len((await replies(client, tid, page_size=100))["replies"]) == len(fans)
    assert [c["is_pinned"] for c in page["comments"]].count(True) == 1
    assert page["comments"][0]["comment_id"] == other["comment_id"]  # pinned last
    assert await comment_count(client, video, owner) == 2 + len(fans)


async def test_a_thread_removed_while_replies_arrive_stays_consistent(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    fans = await asyncio.gather(*(make_user(runtime) for _ in range(10)))
    video = await make_video(runtime, owner)
    top = await comment(client, owner, video, "going away")
    tid = top["comment_id"]

    async def remove_soon() -> httpx.Response:
        await asyncio.sleep(0.01)
        return await client.delete(f"/api/v1/comments/{tid}", headers=owner.headers)

    posted, removed = await asyncio.gather(
        asyncio.gather(
            *(post(client, fan, video, f"reply {i}", tid) for i, fan in enumerate(fans))
        ),
        remove_soon(),
    )
    assert removed.status_code == 204
    accepted = [r.json()["text"] for r in posted if r.status_code == 201]
    assert {r.status_code for r in posted} <= {201, 404}

    page = await listing(client, video, sort="newest")
    if accepted:
        (placeholder,) = page["comments"]
        assert placeholder["is_deleted"] is True and placeholder["reply_count"] == len(accepted)
        listed = (await replies(client, tid, page_size=100))["replies"]
        assert sorted(r["text"] for r in listed) == sorted(accepted)
    else:
        assert page["comments"] == []
    assert await comment_count(client, video, owner) == len(accepted)
