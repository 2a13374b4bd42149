"""Hashtag pages, trending hashtags, categories, hashtag and sound search, and autocomplete."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import event

from reelstack.runtime import Runtime
from reelstack.search import tasks
from tests.factories import assert_problem, make_user
from tests.integration.search.helpers import found, indexed_video, search
from tests.integration.sounds.helpers import add_sound


async def test_hashtag_page_counts_public_videos_and_lists_the_top_recent_ones(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    viewer = await make_user(runtime)
    hot = await indexed_video(runtime, owner, "first #Baking", views=900, likes=40)
    cool = await indexed_video(runtime, owner, "second", hashtags=("baking",), views=100)
    old = await indexed_video(runtime, owner, "third #baking", views=5, age=timedelta(days=20))
    await indexed_video(runtime, owner, "secret #baking", visibility="private", views=10_000)

    r = await client.get("/api/v1/hashtags/%23BAKING")
    assert r.json() == {"tag": "baking", "video_count": 3, "view_count": 1005}

    r = await client.get("/api/v1/hashtags/baking/videos", headers=viewer.headers)
    assert [v["video_id"] for v in r.json()["videos"]] == [hot, cool]  # last 7 days
    r = await client.get("/api/v1/hashtags/baking/videos", params={"days": 30, "page_size": 2})
    body = r.json()
    assert [v["video_id"] for v in body["videos"]] == [hot, cool] and body["has_more"]
    r = await client.get(
        "/api/v1/hashtags/baking/videos",
        params={"days": 30, "page_size": 2, "cursor": body["next_cursor"]},
    )
    assert [v["video_id"] for v in r.json()["videos"]] == [old]
    assert r.json()["next_cursor"] is None

    assert_problem(await client.get("/api/v1/hashtags/nosuchtag"), 404, "hashtag_not_found")
    assert_problem(await client.get("/api/v1/hashtags/no%20tag/videos"), 404, "hashtag_not_found")


async def test_cjk_and_emoji_hashtags_have_pages(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    video = await indexed_video(runtime, owner, "夜景 #東京 #🔥")
    for tag in ("東京", "🔥"):
        r = await client.get(f"/api/v1/hashtags/{tag}")
        assert r.json()["video_count"] == 1, tag
        r = await client.get(f"/api/v1/hashtags/{tag}/videos")
        assert [v["video_id"] for v in r.json()["videos"]] == [video]


async def test_trending_hashtags_rank_this_weeks_public_use(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    for _ in range(3):
        await indexed_video(runtime, owner, "#rising")
    await indexed_video(runtime, owner, "#steady")
    for _ in range(5):
        await indexed_video(runtime, owner, "#faded", age=timedelta(days=10))
        await indexed_video(runtime, owner, "#hidden", visibility="followers")

    r = await client.get("/api/v1/trending/hashtags", params={"limit": 5, "region": "US"})
    assert r.status_code == 200
    assert [h["tag"] for h in r.json()["hashtags"]] == ["rising", "steady"]
    assert r.json()["hashtags"][0]["video_count"] == 3


async def test_categories_count_and_list_public_videos(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    popular = await indexed_video(runtime, owner, "a", category="comedy", views=500)
    other = await indexed_video(runtime, owner, "b", category="Comedy")
    await indexed_video(runtime, owner, "c", category="comedy", visibility="private")
    await indexed_video(runtime, owner, "d", category="Food & Drink")

    categories = {
        c["slug"]: c for c in (await client.get("/api/v1/categories")).json()["categories"]
    }
    assert categories["comedy"] == {"slug": "comedy", "name": "Comedy", "video_count": 2}
    assert categories["food"]["video_count"] == 1
    assert categories["music"]["video_count"] == 0

    r = await client.get("/api/v1/categories/comedy/videos")
    assert [v["video_id"] for v in r.json()["videos"]] == [popular, other]
    assert_problem(await client.get("/api/v1/categories/nope/videos"), 404, "category_not_found")


async def test_hashtag_search_by_prefix_and_typo(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    await indexed_video(runtime, owner, "#photography #photo", views=10)
    await indexed_video(runtime, owner, "#photography")

    def tags(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text
        return [h["tag"] for h in r.json()["hashtags"]]

    path = "/api/v1/search/hashtags"
    assert tags(await search(client, "#PHOTO", path=path)) == ["photography", "photo"]
    assert tags(await search(client, "photogrpahy", path=path)) == ["photography"]
    assert tags(await search(client, "zzz", path=path)) == []


async def test_sound_search_finds_titles_of_sounds_the_viewer_may_list(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime, "dj_nova")
    public = await indexed_video(runtime, owner, "mix")
    private = await indexed_video(runtime, owner, "secret mix", visibility="private")
    public_sound = await add_sound(runtime, owner, public)
    private_sound = await add_sound(runtime, owner, private)
    for sound_id in (public_sound, private_sound):
        await tasks.index_sound(runtime, sound_id)

    r = await search(client, "original sound nova", path="/api/v1/search/sounds")
    assert [s["sound_id"] for s in r.json()["sounds"]] == [public_sound]
    r = await search(client, "dj_nova", owner, path="/api/v1/search/sounds")
    assert {s["sound_id"] for s in r.json()["sounds"]} == {public_sound, private_sound}


async def test_suggest_completes_hashtags_people_and_popular_queries(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    star = await make_user(runtime, "skyler_films")
    blocker = await make_user(runtime, "skydiver_ann")
    viewer = await make_user(runtime)
    for user in (star, blocker):
        await tasks.index_user(runtime, user.id)
    await client.post(f"/api/v1/users/{viewer.id}/block", headers=blocker.headers)
    await indexed_video(runtime, star, "#skyline at night")
    for _ in range(2):  # a query becomes a suggestion once it found something twice
        assert await found(client, "Skyline Night")

    async def suggestions(user: object = None) -> list[tuple[str, str]]:
        r = await search(client, "sky", user, path="/api/v1/search/suggest")  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return [(s["type"], s["text"]) for s in r.json()["suggestions"]]

    for _ in range(40):  # the query counts are written by a job
        if ("query", "skyline night") in await suggestions():
            break
        await asyncio.sleep(0.05)
    assert await suggestions() == [
        ("hashtag", "skyline"),
        ("user", "skydiver_ann"),
        ("user", "skyler_films"),
        ("query", "skyline night"),
    ]
    assert ("user", "skydiver_ann") not in await suggestions(viewer)


async def test_a_search_page_takes_the_same_queries_however_long(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    viewer = await make_user(runtime)
    for i in range(12):
        await indexed_video(runtime, owner, f"counting sheep {i}")

    async def count_queries(page_size: int) -> int:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            r = await client.get(
                "/api/v1/search/videos",
                params={"q": "countng sheep", "page_size": page_size},
                headers=viewer.headers,
            )
            assert len(r.json()["videos"]) == page_size
        finally:
            event.remove(engine, "before_cursor_execute", record)
        await asyncio.sleep(0.5)  # the query-count job of this search reads the same engine
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    await asyncio.sleep(0.5)
    assert await count_queries(2) == await count_queries(12)
