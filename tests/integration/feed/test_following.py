"""The following feed: hybrid fan-out, visibility on read, a stable cursor, rebuilds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelstack.db import BOUNDED
from reelstack.feed import following
from reelstack.feed.following import inbox_key
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user
from tests.integration.feed.helpers import (
    count_selects,
    drain,
    eventually,
    follow,
    ids,
    publish_video,
    unfollow,
)

URL = "/api/v1/feed/following"


async def page(client: httpx.AsyncClient, user: Any, **params: Any) -> dict[str, Any]:
    r = await client.get(URL, params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_new_video_reaches_followers_within_two_seconds(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator, fan = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    assert (await page(client, fan))["videos"] == []  # builds the (empty) inbox
    await drain(runtime)
    video = await publish_video(runtime, creator)

    async def arrived() -> bool:
        return video in ids(await page(client, fan))

    assert await eventually(arrived, timeout=2.0) < 2.0
    item = (await page(client, fan))["videos"][0]
    assert item["reason"] == f"from @{creator.username}, whom you follow"
    assert item["user"]["user_id"] == creator.id
    assert await runtime.cache.zscores(inbox_key(fan.id), [video]) != [None]  # pushed


async def test_audiences_and_unfollows_are_honoured_on_read(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator = await make_user(runtime)
    fan, stranger = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    public = await publish_video(runtime, creator)
    for_followers = await publish_video(runtime, creator, visibility="followers")
    private = await publish_video(runtime, creator, visibility="private")
    unlisted = await publish_video(runtime, creator, visibility="unlisted")
    await drain(runtime)
    assert ids(await page(client, fan)) == [for_followers, public]
    assert ids(await page(client, stranger)) == []
    assert private not in ids(await page(client, creator))  # nobody's own following feed
    assert unlisted not in ids(await page(client, fan))

    await unfollow(client, fan, creator)
    assert ids(await page(client, fan)) == []  # dropped on read, though still in the inbox
    assert await runtime.cache.zscores(inbox_key(fan.id), [public]) != [None]
    await follow(client, fan, creator)
    assert ids(await page(client, fan)) == [for_followers, public]


async def test_the_cursor_is_stable_while_new_videos_arrive(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator, fan = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    older = [await publish_video(runtime, creator) for _ in range(13)]
    await drain(runtime)
    seen: list[str] = []
    body = await page(client, fan, page_size=5)
    seen += ids(body)
    newer = [await publish_video(runtime, creator) for _ in range(4)]
    await drain(runtime)
    while body["has_more"]:
        body = await page(client, fan, page_size=5, cursor=body["next_cursor"])
        seen += ids(body)
    assert seen == list(reversed(older))  # no duplicate, no gap, none of the new ones
    assert ids(await page(client, fan, page_size=4)) == list(reversed(newer))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"fanout_threshold": 2}


async def test_big_creators_are_pulled_and_merged_in_time_order(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    big, small = await make_user(runtime), await make_user(runtime)
    fan, other, third = [await make_user(runtime) for _ in range(3)]
    for user in (fan, other, third):
        await follow(client, user, big)  # 3 followers: over the threshold of 2
    await follow(client, fan, small)
    order = []
    for n in range(6):
        order.append(await publish_video(runtime, big if n % 2 else small))
    await drain(runtime)
    assert await runtime.cache.zrevrange(inbox_key(fan.id)) != []
    big_videos = {order[n] for n in range(1, 6, 2)}
    pushed = {m for m, _ in await runtime.cache.zrevrange(inbox_key(fan.id))}
    assert not pushed & big_videos  # pulled at read time, never pushed
    first = await page(client, fan, page_size=4)
    rest = await page(client, fan, page_size=4, cursor=first["next_cursor"])
    assert ids(first) + ids(rest) == list(reversed(order))
    assert rest["has_more"] is False


async def test_the_inbox_is_rebuilt_from_the_database_when_the_cache_is_lost(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator, fan = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    videos = [await publish_video(runtime, creator) for _ in range(3)]
    await drain(runtime)
    before = ids(await page(client, fan))
    # The inbox alone goes (it expired, or the cache needed the room): whatever else the cache
    # still holds, the next page must not take the missing inbox for an empty one.
    await runtime.cache.delete(inbox_key(fan.id))
    assert ids(await page(client, fan)) == before == list(reversed(videos))


async def test_someone_who_follows_more_than_one_bounded_read_holds_sees_them_all(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first read of whom the viewer follows stops past BOUNDED_ROWS; here that is 1, and
    # the read stops after 2 of the 3: the page must read the whole list instead.
    monkeypatch.setattr(following, "BOUNDED_ROWS", 1)
    monkeypatch.setattr(
        following, "FEW_FOLLOWEES", following.FOLLOWEES.limit(2).execution_options(**BOUNDED)
    )
    fan = await make_user(runtime)
    creators = [await make_user(runtime) for _ in range(3)]
    for creator in creators:
        await follow(client, fan, creator)
    videos = [await publish_video(runtime, creator) for creator in creators]
    await drain(runtime)
    assert ids(await page(client, fan)) == list(reversed(videos))


async def test_hydration_takes_the_same_queries_for_any_page_size(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator, fan = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    for _ in range(12):
        await publish_video(runtime, creator)
    await drain(runtime)
    await page(client, fan)  # the inbox is built once

    async def selects(size: int) -> int:
        count, r = await count_selects(
            runtime, lambda: client.get(URL, params={"page_size": size}, headers=fan.headers)
        )
        assert len(r.json()["videos"]) == size
        return count

    assert await selects(2) == await selects(10) <= 10


async def test_bad_cursor_and_anonymous_are_problems(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    fan = await make_user(runtime)
    r = await client.get(URL, params={"cursor": "nonsense"}, headers=fan.headers)
    assert_problem(r, 422, "invalid_cursor")
    assert_problem(await client.get(URL), 401, "not_authenticated")


async def test_a_video_opened_to_followers_later_reaches_them(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator, fan = await make_user(runtime), await make_user(runtime)
    await follow(client, fan, creator)
    assert ids(await page(client, fan)) == []
    video = await publish_video(runtime, creator, visibility="private")
    await drain(runtime)
    assert ids(await page(client, fan)) == []
    r = await client.patch(
        f"/api/v1/videos/{video}", json={"visibility": "public"}, headers=creator.headers
    )
    assert r.status_code == 200, r.text

    async def arrived() -> bool:
        return ids(await page(client, fan)) == [video]

    await eventually(arrived, timeout=3.0)
