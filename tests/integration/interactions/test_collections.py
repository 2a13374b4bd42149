"""Named collections: private to their owner, exact sizes, and a video in one is saved."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from reelstack.interactions.models import Collection, CollectionVideo
from reelstack.interactions.tasks import repair_collection_sizes
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user, make_video
from tests.integration.interactions.helpers import API, get_video


async def create(client: httpx.AsyncClient, user: TestUser, name: str) -> dict[str, Any]:
    r = await client.post(f"{API}/collections", json={"name": name}, headers=user.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def collection(client: httpx.AsyncClient, user: TestUser, cid: str) -> dict[str, Any]:
    r = await client.get(f"{API}/collections/{cid}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def member_ids(client: httpx.AsyncClient, user: TestUser, cid: str) -> list[str]:
    r = await client.get(f"{API}/collections/{cid}/videos", headers=user.headers)
    assert r.status_code == 200, r.text
    return [v["video_id"] for v in r.json()["videos"]]


async def membership_rows(rt: Runtime, cid: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).where(CollectionVideo.collection_id == cid)
        )
        return int(count or 0)


async def test_creating_listing_renaming_and_deleting_collections(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    made = [await create(client, me, name) for name in ("Recipes", "  Travel  ", "Dance")]
    assert made[1]["name"] == "Travel" and made[1]["video_count"] == 0

    names: list[str] = []
    cursor = None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/collections", params=params, headers=me.headers)).json()
        names += [c["name"] for c in page["collections"]]
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["Dance", "Travel", "Recipes"]

    assert_problem(
        await client.post(f"{API}/collections", json={"name": "dance"}, headers=me.headers),
        409,
        "collection_exists",
    )
    for bad in ("", "   ", "x" * 101):
        assert_problem(
            await client.post(f"{API}/collections", json={"name": bad}, headers=me.headers),
            422,
            "validation_failed",
        )

    cid = made[0]["collection_id"]
    r = await client.patch(f"{API}/collections/{cid}", json={"name": "Food"}, headers=me.headers)
    assert r.status_code == 200 and r.json()["name"] == "Food"
    assert (await collection(client, me, cid))["name"] == "Food"
    assert_problem(
        await client.patch(f"{API}/collections/{cid}", json={"name": "TRAVEL"}, headers=me.headers),
        409,
        "collection_exists",
    )
    r = await client.patch(f"{API}/collections/{cid}", json={"name": "food"}, headers=me.headers)
    assert r.status_code == 200 and r.json()["name"] == "food"  # its own name, other case

    assert (await client.delete(f"{API}/collections/{cid}", headers=me.headers)).status_code == 204
    assert_problem(
        await client.get(f"{API}/collections/{cid}", headers=me.headers),
        404,
        "collection_not_found",
    )
    assert_problem(await client.get(f"{API}/collections"), 401, "not_authenticated")


async def test_collections_are_private_to_their_owner(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, other = await make_user(runtime), await make_user(runtime)
    cid = (await create(client, owner, "Mine"))["collection_id"]
    video_id = await make_video(runtime, owner)
    await client.post(f"{API}/collections/{cid}/videos/{video_id}", headers=owner.headers)

    attempts = [
        ("GET", f"{API}/collections/{cid}", None),
        ("PATCH", f"{API}/collections/{cid}", {"name": "Stolen"}),
        ("DELETE", f"{API}/collections/{cid}", None),
        ("GET", f"{API}/collections/{cid}/videos", None),
        ("POST", f"{API}/collections/{cid}/videos/{video_id}", None),
        ("DELETE", f"{API}/collections/{cid}/videos/{video_id}", None),
    ]
    for method, url, body in attempts:
        r = await client.request(method, url, json=body, headers=other.headers)
        assert_problem(r, 404, "collection_not_found")
    listed = (await client.get(f"{API}/collections", headers=other.headers)).json()
    assert listed["collections"] == []
    kept = await collection(client, owner, cid)
    assert (kept["name"], kept["video_count"]) == ("Mine", 1)
    assert await member_ids(client, owner, cid) == [video_id]


async def test_adding_saves_removing_keeps_the_save_and_unsaving_empties_collections(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, me = await make_user(runtime), await make_user(runtime)
    video_id = await make_video(runtime, owner)
    first = (await create(client, me, "First"))["collection_id"]
    second = (await create(client, me, "Second"))["collection_id"]

    for _ in range(2):
        r = await client.post(f"{API}/collections/{first}/videos/{video_id}", headers=me.headers)
        assert r.status_code == 200
        assert r.json() == {
            "collection_id": first,
            "video_id": video_id,
            "in_collection": True,
            "video_count": 1,
            "saved": True,
            "save_count": 1,
        }
    r = await client.post(f"{API}/collections/{second}/videos/{video_id}", headers=me.headers)
    assert r.json()["video_count"] == 1 and r.json()["save_count"] == 1
    seen = await get_video(client, video_id, me)
    assert seen["user_interaction"]["saved"] is True and seen["stats"]["saves"] == 1

    for _ in range(2):
        r = await client.delete(f"{API}/collections/{first}/videos/{video_id}", headers=me.headers)
        assert r.status_code == 200
        assert r.json()["in_collection"] is False and r.json()["video_count"] == 0
        assert r.json()["saved"] is True and r.json()["save_count"] == 1
    assert await member_ids(client, me, first) == []
    assert await member_ids(client, me, second) == [video_id]

    # Unsaving takes the video out of every collection, and their sizes follow.
    r = await client.delete(f"{API}/videos/{video_id}/save", headers=me.headers)
    assert r.json() == {"saved": False, "save_count": 0}
    assert await member_ids(client, me, second) == []
    assert (await collection(client, me, second))["video_count"] == 0

    # Deleting a collection keeps its videos saved.
    await client.post(f"{API}/collections/{second}/videos/{video_id}", headers=me.headers)
    await client.delete(f"{API}/collections/{second}", headers=me.headers)
    assert (await get_video(client, video_id, me))["user_interaction"]["saved"] is True


async def test_concurrent_adds_and_removes_keep_the_size_exact(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner, me = await make_user(runtime), await make_user(runtime)
    videos = [await make_video(runtime, owner) for _ in range(12)]
    cid = (await create(client, me, "Busy"))["collection_id"]

    async def churn(video_id: str, keep: bool) -> None:
        url = f"{API}/collections/{cid}/videos/{video_id}"
        for _ in range(2):
            assert (await client.post(url, headers=me.headers)).status_code == 200
        if not keep:
            assert (await client.delete(url, headers=me.headers)).status_code == 200

    await asyncio.gather(*(churn(v, keep=i % 3 != 0) for i, v in enumerate(videos)))
    kept = [v for i, v in enumerate(videos) if i % 3 != 0]
    assert await membership_rows(runtime, cid) == len(kept)
    assert (await collection(client, me, cid))["video_count"] == len(kept)
    assert sorted(await member_ids(client, me, cid)) == sorted(kept)


async def test_the_collection_list_hides_videos_the_owner_may_no_longer_see(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, me = await make_user(runtime), await make_user(runtime)
    cid = (await create(client, me, "Mixed"))["collection_id"]
    videos = [await make_video(runtime, creator) for _ in range(3)]
    for video_id in videos:
        await client.post(f"{API}/collections/{cid}/videos/{video_id}", headers=me.headers)
    assert await member_ids(client, me, cid) == list(reversed(videos))
    await client.patch(
        f"{API}/videos/{videos[1]}", json={"visibility": "followers"}, headers=creator.headers
    )
    assert await member_ids(client, me, cid) == [videos[2], videos[0]]
    await client.post(f"{API}/users/{creator.id}/follow", headers=me.headers)
    assert await member_ids(client, me, cid) == list(reversed(videos))


async def test_a_deleted_video_leaves_collections_and_the_repair_job_fixes_their_size(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    creator, me = await make_user(runtime), await make_user(runtime)
    cid = (await create(client, me, "Soon shorter"))["collection_id"]
    doomed, kept = await make_video(runtime, creator), await make_video(runtime, creator)
    for video_id in (doomed, kept):
        await client.post(f"{API}/collections/{cid}/videos/{video_id}", headers=me.headers)
    r = await client.delete(f"{API}/videos/{doomed}", headers=creator.headers)
    assert r.status_code == 200, r.text
    assert await member_ids(client, me, cid) == [kept]
    assert await membership_rows(runtime, cid) == 1

    assert await repair_collection_sizes(runtime) == 1
    assert (await collection(client, me, cid))["video_count"] == 1
    assert await repair_collection_sizes(runtime) == 0  # right ones are left alone
    async with runtime.unit_of_work(write=False) as session:
        assert (await session.get_one(Collection, cid)).video_count == 1
