"""Video search as people type: typos, several words, prefixes, accents, CJK and emoji."""

from __future__ import annotations

from datetime import timedelta

import httpx

from reelstack.runtime import Runtime
from tests.factories import make_user
from tests.integration.search.helpers import found, indexed_video


async def test_a_typo_still_finds_the_video(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await make_user(runtime)
    dance = await indexed_video(runtime, owner, "Easy dance tutorial for beginners")
    await indexed_video(runtime, owner, "Cooking pasta at home")

    assert await found(client, "dnce tutorial") == [dance]
    assert await found(client, "tutorail") == [dance]  # a transposition
    assert await found(client, "begginers") == [dance]  # a letter too many
    assert await found(client, "cooking pasta") != [dance]


async def test_every_word_counts_and_the_last_is_a_prefix(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    both = await indexed_video(runtime, owner, "street dance battle")
    dance_only = await indexed_video(runtime, owner, "ballet dance class")
    await indexed_video(runtime, owner, "street food tour")

    assert await found(client, "street dance") == [both]
    assert set(await found(client, "dance")) == {both, dance_only}
    assert await found(client, "street da") == [both]
    assert set(await found(client, "bal")) == {dance_only}


async def test_words_in_any_field_are_found(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await make_user(runtime, "skater_jo")
    by_tag = await indexed_video(runtime, owner, "look at this", hashtags=("kickflip",))
    by_description = await indexed_video(
        runtime, owner, "new clip", description="filmed at the harbour skatepark"
    )

    assert await found(client, "kickflip") == [by_tag]
    assert await found(client, "harbour") == [by_description]
    assert set(await found(client, "skater")) == {by_tag, by_description}


def full_width(ascii_text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in ascii_text)


async def test_accents_case_and_width_are_folded(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    cafe = await indexed_video(runtime, owner, "Le meilleur CAFÉ de Paris")
    naive = await indexed_video(runtime, owner, "a naive question")

    assert await found(client, "cafe") == [cafe]
    assert await found(client, "Café") == [cafe]
    assert await found(client, full_width("PARIS")) == [cafe]
    assert await found(client, "naïve") == [naive]


async def test_cjk_and_emoji_are_searchable(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await make_user(runtime)
    dance = await indexed_video(runtime, owner, "今日の舞蹈教学", hashtags=("舞蹈",))
    fire = await indexed_video(runtime, owner, "so hot 🔥 today", hashtags=("🔥",))
    await indexed_video(runtime, owner, "nothing to see")

    assert await found(client, "舞蹈") == [dance]
    assert await found(client, "教学") == [dance]
    assert await found(client, "舞") == [dance]  # a prefix of the bigram
    assert await found(client, "🔥") == [fire]
    assert await found(client, "#🔥") == [fire]


async def test_relevance_blends_match_engagement_and_recency(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    old = await indexed_video(runtime, owner, "guitar lesson", views=50, age=timedelta(days=90))
    popular = await indexed_video(runtime, owner, "guitar lesson", views=100_000, likes=5000)
    quiet = await indexed_video(runtime, owner, "guitar lesson", views=10)
    weak_match = await indexed_video(
        runtime, owner, "my day", description="a guitar lesson", views=2000
    )

    # More engagement wins among equal matches; a caption match beats a description match
    # with 200 times the views; three months of age outweigh the better match.
    assert await found(client, "guitar lesson") == [popular, quiet, weak_match, old]
    assert await found(client, "guitar lesson", sort="views") == [popular, weak_match, old, quiet]
    assert (await found(client, "guitar lesson", sort="recent"))[-1] == old


async def test_filters_by_category_and_duration(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await make_user(runtime)
    short = await indexed_video(runtime, owner, "workout", category="fitness", duration=20)
    medium = await indexed_video(runtime, owner, "workout", category="Fitness", duration=120)
    long = await indexed_video(runtime, owner, "workout", category="music", duration=900)

    assert set(await found(client, "workout", category="fitness")) == {short, medium}
    assert await found(client, "workout", duration="short") == [short]
    assert await found(client, "workout", duration="medium") == [medium]
    assert await found(client, "workout", duration="long") == [long]


async def test_pages_follow_each_other(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await make_user(runtime)
    ids = {await indexed_video(runtime, owner, f"surfing day {i}", views=i) for i in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "surfing", "page_size": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/search/videos", params=params)).json()
        seen += [v["video_id"] for v in body["videos"]]
        cursor = body["next_cursor"]
        assert body["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert len(seen) == 5
    assert set(seen) == ids
