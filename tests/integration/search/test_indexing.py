"""The index follows the platform through jobs on events, each change searchable within 2 s
with the runtime consuming jobs as a deployment does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from reelstack.events import VideoProcessed
from reelstack.infra.events import publish
from reelstack.runtime import Runtime
from reelstack.search.models import SearchDocument, SearchTerm
from tests.factories import make_user, make_video, register_over_http
from tests.integration.search.helpers import found, search

DEADLINE = 2.0


async def within_deadline(check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `check` holds; fails if that takes longer than the deadline."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < DEADLINE, "not searchable within 2 s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_a_processed_video_is_searchable_within_two_seconds(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner, caption="sunset timelapse #golden_hour")
    assert await found(client, "timelapse") == []  # nothing indexes a row on its own
    async with runtime.unit_of_work() as session:
        publish(session, VideoProcessed(video_id=video_id, user_id=owner.id))

    async def searchable() -> bool:
        return await found(client, "timelapse") == [video_id]

    await within_deadline(searchable)
    assert await found(client, "golden hour") == [video_id]
    r = await client.get("/api/v1/hashtags/golden_hour")
    assert r.json() == {"tag": "golden_hour", "video_count": 1, "view_count": 0}


async def test_edits_deletion_and_profile_changes_follow_within_two_seconds(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime, "marta")
    stranger = await make_user(runtime)
    video_id = await make_video(runtime, owner, caption="old words")
    async with runtime.unit_of_work() as session:
        publish(session, VideoProcessed(video_id=video_id, user_id=owner.id))

    async def has(q: str) -> bool:
        return video_id in await found(client, q)

    await within_deadline(lambda: has("old words"))

    r = await client.patch(
        f"/api/v1/videos/{video_id}",
        json={"caption": "fresh caption #Ceramics", "description": "wheel throwing"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    await within_deadline(lambda: has("ceramics wheel"))
    assert not await has("old words")

    r = await client.patch(
        "/api/v1/users/me", json={"display_name": "Potter Extraordinaire"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    await within_deadline(lambda: has("extraordinaire"))

    async def user_found() -> bool:
        r = await search(client, "extraordinaire", path="/api/v1/search/users")
        return [u["username"] for u in r.json()["users"]] == ["marta"]

    await within_deadline(user_found)

    r = await client.patch(
        f"/api/v1/videos/{video_id}", json={"visibility": "private"}, headers=owner.headers
    )
    assert r.status_code == 200
    assert await found(client, "ceramics", stranger) == []  # at once: read from the live row
    assert await found(client, "ceramics", owner) == [video_id]

    r = await client.delete(f"/api/v1/videos/{video_id}", headers=owner.headers)
    assert r.status_code == 200, r.text

    async def dropped() -> bool:
        async with runtime.unit_of_work(write=False) as session:
            docs = await session.scalar(
                select(func.count()).where(SearchDocument.ref_id == video_id)
            )
            ceramics = await session.scalar(
                select(SearchTerm.doc_count).where(SearchTerm.term == "ceramics")
            )
        return docs == 0 and ceramics == 0

    await within_deadline(dropped)
    assert (await client.get("/api/v1/hashtags/ceramics")).json()["video_count"] == 0


async def test_a_new_account_is_findable_and_its_email_is_not(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    r = await register_over_http(client, "zanzibar_cook")
    assert r.status_code == 201, r.text

    async def findable() -> bool:
        r = await search(client, "zanzibar", path="/api/v1/search/users")
        return [u["username"] for u in r.json()["users"]] == ["zanzibar_cook"]

    await within_deadline(findable)
    async with runtime.unit_of_work(write=False) as session:
        stored = " ".join(await session.scalars(select(SearchDocument.terms)))
    assert "example" not in stored  # the address zanzibar_cook@example.com


async def test_the_periodic_refresh_follows_engagement(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from reelstack.media.models import Video
    from reelstack.search import tasks
    from tests.integration.search.helpers import indexed_video

    owner = await make_user(runtime)
    first = await indexed_video(runtime, owner, "yoga flow #calm", views=100)
    second = await indexed_video(runtime, owner, "yoga flow #calm", views=10)
    assert await found(client, "yoga flow") == [first, second]
    async with runtime.unit_of_work() as session:
        (await session.get_one(Video, second)).view_count = 50_000  # likes and views moved

    await tasks.refresh_rankings(runtime)

    assert await found(client, "yoga flow") == [second, first]
    assert (await client.get("/api/v1/hashtags/calm")).json()["view_count"] == 50_100


async def test_two_jobs_dropping_one_video_at_once_take_its_terms_off_once(
    runtime: Runtime,
) -> None:
    """A delete and a re-index racing both drop the document: the word's count must fall by
    one, not two (on PostgreSQL they really run at once; SQLite takes them in turn)."""
    from reelstack.search import indexing, tasks

    owner = await make_user(runtime)
    kept = await make_video(runtime, owner, caption="marquetry inlay")
    gone = await make_video(runtime, owner, caption="marquetry veneer")
    for video_id in (kept, gone):
        await tasks.index_video(runtime, video_id)

    async def count() -> int | None:
        async with runtime.unit_of_work(write=False) as session:
            return await session.scalar(
                select(SearchTerm.doc_count).where(SearchTerm.term == "marquetry")
            )

    assert await count() == 2

    async def drop() -> None:
        async with runtime.unit_of_work() as session:
            await indexing.remove_doc(session, runtime.search, indexing.VIDEO, gone)
            await asyncio.sleep(0.2)  # hold the transaction open while the other one runs

    await asyncio.gather(drop(), drop())
    assert await count() == 1
    assert await found_docs(runtime, gone) == 0


async def found_docs(runtime: Runtime, video_id: str) -> int:
    async with runtime.unit_of_work(write=False) as session:
        return int(
            await session.scalar(select(func.count()).where(SearchDocument.ref_id == video_id)) or 0
        )
