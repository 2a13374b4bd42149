"""Saves over HTTP, and the saved list: newest first, paged, only what the viewer may still see,
in a fixed number of queries."""

from __future__ import annotations

import asyncio

import httpx

from reelstack.interactions.models import Save
from reelstack.media.models import VIDEO_COUNTERS
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.interactions.helpers import (
    API,
    counting_selects,
    get_video,
    rows_of,
    stored_video,
)


async def saved_ids(client: httpx.AsyncClient, user: TestUser, **params: str | int) -> list[str]:
    r = await client.get(f"{API}/users/me/saved", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return [video["video_id"] for video in r.json()["videos"]]


async def test_saving_is_idempotent_and_shows_on_the_video(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan, other = [await make_user(runtime) for _ in range(3)]
    video_id = await make_video(runtime, owner)
    for _ in range(2):
        r = await client.post(f"{API}/videos/{video_id}/save", headers=fan.headers)
        assert r.status_code == 200 and r.json() == {"saved": True, "save_count": 1}
    seen = await get_video(client, video_id, fan)
    assert seen["user_interaction"] == {"liked": False, "saved": True}
    assert seen["stats"]["saves"] == 1
    assert (await get_video(client, video_id, other))["user_interaction"]["saved"] is False

    r = await client.post(f"{API}/videos/{video_id}/save", headers=other.headers)
    assert r.json() == {"saved": True, "save_count": 2}
    for _ in range(2):
        r = await client.delete(f"{API}/videos/{video_id}/save", headers=fan.headers)
        assert r.status_code == 200 and r.json() == {"saved": False, "save_count": 1}
    assert (await get_video(client, video_id, fan))["user_interaction"]["saved"] is False
    assert await rows_of(runtime, Save, video_id) == 1
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored_video(runtime, video_id)).save_count == 1
    assert_problem(await client.post(f"{API}/videos/{video_id}/save"), 401, "not_authenticated")


async def test_many_users_saving_at_once_are_counted_exactly(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    fans = await asyncio.gather(*(make_user(runtime) for _ in range(40)))
    responses = await asyncio.gather(
        *(client.post(f"{API}/videos/{video_id}/save", headers=f.headers) for f in fans * 2)
    )
    assert {r.status_code for r in responses} == {200}
    assert (await get_video(client, video_id))["stats"]["saves"] == 40
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored_video(runtime, video_id)).save_count == 40


async def test_the_saved_list_is_newest_first_and_pages_without_gaps(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    videos = [await make_video(runtime, owner, caption=f"v{i}") for i in range(5)]
    for video_id in videos:
        await client.post(f"{API}/videos/{video_id}/save", headers=fan.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"{API}/users/me/saved", params=params, headers=fan.headers)
        ).json()
        seen += [v["video_id"] for v in page["videos"]]
        assert page["has_more"] == (page["next_cursor"] is not None)
        assert all(v["user_interaction"]["saved"] for v in page["videos"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(videos))
    assert await saved_ids(client, owner) == []  # a list of one's own, nobody else's
    assert_problem(
        await client.get(f"{API}/users/me/saved", params={"cursor": "nope"}, headers=fan.headers),
        422,
        "invalid_cursor",
    )
    assert_problem(await client.get(f"{API}/users/me/saved"), 401, "not_authenticated")


async def test_a_video_that_turns_private_leaves_other_peoples_saved_lists(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, fan = await make_user(runtime), await make_user(runtime)
    kept, hidden = await make_video(runtime, owner), await make_video(runtime, owner)
    for video_id in (kept, hidden):
        await client.post(f"{API}/videos/{video_id}/save", headers=fan.headers)
        await client.post(f"{API}/videos/{video_id}/save", headers=owner.headers)
    r = await client.patch(
        f"{API}/videos/{hidden}", json={"visibility": "private"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert await saved_ids(client, fan) == [kept]
    assert await saved_ids(client, owner) == [hidden, kept]  # the creator still sees theirs
    await client.patch(
        f"{API}/videos/{hidden}", json={"visibility": "public"}, headers=owner.headers
    )
    assert await saved_ids(client, fan) == [hidden, kept]
    # Blocking the fan hides all of the owner's videos from them.
    await client.post(f"{API}/users/{fan.id}/block", headers=owner.headers)
    assert await saved_ids(client, fan) == []


async def test_video_lists_take_a_fixed_number_of_queries(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fan = await make_user(runtime)
    creators = [await make_user(runtime) for _ in range(4)]
    made = await client.post(f"{API}/collections", json={"name": "all"}, headers=fan.headers)
    collection_id = made.json()["collection_id"]
    for index in range(12):
        video_id = await make_video(runtime, creators[index % 4])
        r = await client.post(
            f"{API}/collections/{collection_id}/videos/{video_id}", headers=fan.headers
        )
        assert r.status_code == 200, r.text
        await client.post(f"{API}/videos/{video_id}/like", headers=fan.headers)

    async def count_queries(path: str, page_size: int) -> int:
        async with counting_selects(runtime) as selects:
            r = await client.get(path, params={"page_size": page_size}, headers=fan.headers)
        assert len(r.json()["videos"]) == page_size
        assert all(v["user_interaction"]["liked"] for v in r.json()["videos"])
        assert selects, "the listener saw none of the request's queries"
        return len(selects)

    for path in ("/users/me/saved", f"/collections/{collection_id}/videos"):
        assert await count_queries(API + path, 2) == await count_queries(API + path, 12)
