"""Who may use and see a sound: it follows its source video's visibility on every path
(upload init by each protocol, the sound page, its videos, trending, video cards)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import event, select

from reelstack.db import utcnow
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from reelstack.sounds.audio import fetch_reused_sound
from reelstack.sounds.models import Sound
from reelstack.sounds.service import sound_doc, sound_titles
from tests.factories import assert_problem, make_user, make_video
from tests.integration.media.test_tus import create as tus_create
from tests.integration.sounds.helpers import add_sound, eventually
from tests.media_helpers import API, init_body


async def init(
    client: httpx.AsyncClient, headers: dict[str, str], **details: object
) -> httpx.Response:
    return await client.post(
        f"{API}/videos/upload/init", json=init_body(1000, **details), headers=headers
    )


async def test_an_unknown_sound_is_refused_by_every_upload_protocol(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    assert_problem(await init(client, me.headers, sound_id="nosuchsound"), 404, "sound_not_found")
    r = await client.post(
        f"{API}/videos/upload",
        files={"file": ("a.mp4", b"not really a video", "video/mp4")},
        data={"sound_id": "nosuchsound"},
        headers=me.headers,
    )
    assert_problem(r, 404, "sound_not_found")
    assert_problem(
        await tus_create(client, me, 1000, sound_id="nosuchsound"), 404, "sound_not_found"
    )
    # A bad mode is a validation error, not silently "replace".
    owner = await make_user(runtime)
    sound_id = await add_sound(runtime, owner, await make_video(runtime, owner))
    assert_problem(
        await init(client, me.headers, sound_id=sound_id, sound_mode="louder"),
        422,
        "validation_failed",
    )
    # Nothing was created by the refused requests.
    r = await client.get(f"{API}/users/{me.id}/videos", headers=me.headers)
    assert r.json()["videos"] == []


async def test_a_sound_is_usable_only_by_those_who_may_see_its_source(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await make_user(runtime)
    fan = await make_user(runtime)
    stranger = await make_user(runtime)
    r = await client.post(f"{API}/users/{alice.id}/follow", headers=fan.headers)
    assert r.status_code in (200, 201), r.text
    private = await add_sound(
        runtime, alice, await make_video(runtime, alice, visibility="private")
    )
    followers = await add_sound(
        runtime, alice, await make_video(runtime, alice, visibility="followers")
    )
    public = await add_sound(runtime, alice, await make_video(runtime, alice))

    for user, sound_id, allowed in [
        (stranger, private, False),
        (fan, private, False),
        (alice, private, True),
        (stranger, followers, False),
        (fan, followers, True),
        (stranger, public, True),
    ]:
        r = await init(client, user.headers, sound_id=sound_id, sound_mode="mix")
        page = await client.get(f"{API}/sounds/{sound_id}", headers=user.headers)
        if allowed:
            assert r.status_code == 201, r.text
            assert page.status_code == 200, page.text
            assert page.json()["audio_url"]
        else:
            assert_problem(r, 404, "sound_not_found")
            assert_problem(page, 404, "sound_not_found")
    # Signed out: only the public one.
    assert (await client.get(f"{API}/sounds/{public}")).status_code == 200
    assert_problem(await client.get(f"{API}/sounds/{followers}"), 404, "sound_not_found")


async def test_deleting_the_source_video_retires_its_sound(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await make_user(runtime)
    source = await make_video(runtime, alice)
    sound_id = await add_sound(runtime, alice, source)
    assert (await client.get(f"{API}/sounds/{sound_id}")).status_code == 200
    r = await client.delete(f"{API}/videos/{source}", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.get(f"{API}/sounds/{sound_id}"), 404, "sound_not_found")
    assert_problem(await init(client, alice.headers, sound_id=sound_id), 404, "sound_not_found")

    async def gone() -> bool:
        async with runtime.unit_of_work(write=False) as session:
            return await session.scalar(select(Sound.id).where(Sound.id == sound_id)) is None

    await eventually(gone, what="the sound row to go")


async def test_sound_videos_lists_only_what_the_viewer_may_list(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await make_user(runtime)
    bob = await make_user(runtime)
    source = await make_video(runtime, alice)
    sound_id = await add_sound(runtime, alice, source)
    shown = [source]
    for visibility in ["public", "private", "unlisted", "public", "public"]:
        video_id = await make_video(runtime, bob, visibility=visibility)
        async with runtime.unit_of_work() as session:
            (await session.get_one(Video, video_id)).sound_id = sound_id
        if visibility == "public":
            shown.append(video_id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{API}/sounds/{sound_id}/videos", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [v["video_id"] for v in body["videos"]]
        assert all(v["sound"]["sound_id"] == sound_id for v in body["videos"])
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert seen == list(reversed(shown))
    # Bob sees his own private and unlisted ones too.
    r = await client.get(
        f"{API}/sounds/{sound_id}/videos", params={"page_size": 50}, headers=bob.headers
    )
    assert len(r.json()["videos"]) == 6
    assert_problem(
        await client.get(f"{API}/sounds/{sound_id}/videos", params={"cursor": "garbage"}),
        422,
        "invalid_cursor",
    )


async def test_trending_sounds_rank_by_uses_in_the_last_seven_days(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await make_user(runtime)
    now = utcnow()
    recent = [now - timedelta(hours=h) for h in (1, 5, 30, 100)]
    old = [now - timedelta(days=d) for d in (8, 9, 10, 11, 12, 13)]
    steady = await add_sound(runtime, alice, await make_video(runtime, alice), uses=recent[:2])
    rising = await add_sound(runtime, alice, await make_video(runtime, alice), uses=recent)
    # The most used of all time, but not lately.
    faded = await add_sound(
        runtime, alice, await make_video(runtime, alice), uses=[*old, recent[0]]
    )
    hidden = await add_sound(
        runtime, alice, await make_video(runtime, alice, visibility="private"), uses=recent * 2
    )
    unlisted = await add_sound(
        runtime, alice, await make_video(runtime, alice, visibility="unlisted"), uses=recent
    )
    await add_sound(runtime, alice, await make_video(runtime, alice))  # never used lately

    r = await client.get(f"{API}/trending/sounds", params={"limit": 10})
    assert r.status_code == 200, r.text
    ids = [s["sound_id"] for s in r.json()["sounds"]]
    assert ids == [rising, steady, faded]
    assert hidden not in ids and unlisted not in ids
    first = r.json()["sounds"][0]
    assert first["usage_count"] == 4 and first["creator"]["user_id"] == alice.id
    r = await client.get(f"{API}/trending/sounds", params={"limit": 1})
    assert [s["sound_id"] for s in r.json()["sounds"]] == [rising]
    assert_problem(
        await client.get(f"{API}/trending/sounds", params={"limit": 0}), 422, "validation_failed"
    )


async def test_video_cards_carry_their_sound_in_one_extra_query(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    plain = await make_user(runtime)
    dj = await make_user(runtime)
    viewer = await make_user(runtime)
    for _ in range(3):
        await make_video(runtime, plain)
    private_source = await make_video(runtime, dj, visibility="private")
    hidden_sound = await add_sound(runtime, dj, private_source)
    for index in range(3):
        video_id = await make_video(runtime, dj)
        sound_id = await add_sound(runtime, dj, video_id)
        if index == 0:
            async with runtime.unit_of_work() as session:
                (await session.get_one(Video, video_id)).sound_id = hidden_sound

    async def selects(user_id: str) -> tuple[int, list[dict[str, object]]]:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        engine = runtime.db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            r = await client.get(f"{API}/users/{user_id}/videos", headers=viewer.headers)
            assert r.status_code == 200, r.text
        finally:
            event.remove(engine, "before_cursor_execute", record)
        count = len([s for s in statements if s.lstrip().upper().startswith("SELECT")])
        return count, r.json()["videos"]

    without, plain_videos = await selects(plain.id)
    with_sounds, dj_videos = await selects(dj.id)
    assert len(plain_videos) == len(dj_videos) == 3
    assert all(v["sound"] is None for v in plain_videos)
    assert with_sounds == without + 1
    cards = [v["sound"] for v in dj_videos]
    # The one using a sound of a private video shows no card for it.
    assert sum(card is None for card in cards) == 1
    assert all(
        card["title"] == f"original sound - @{dj.username}" and card["is_original"]
        for card in cards
        if card is not None
    )
    assert sound_id in {card["sound_id"] for card in cards if card is not None}


async def test_search_reads_titles_and_documents_of_sounds(runtime: Runtime) -> None:
    dj = await make_user(runtime)
    sound_id = await add_sound(
        runtime, dj, await make_video(runtime, dj), uses=[utcnow() - timedelta(hours=1)]
    )
    async with runtime.unit_of_work(write=False) as session:
        titles = await sound_titles(session, [sound_id, "missing"])
        doc = await sound_doc(session, sound_id)
        assert await sound_doc(session, "missing") is None
        assert await sound_titles(session, []) == {}
    assert titles == {sound_id: f"original sound - @{dj.username}"}
    assert doc is not None
    assert (doc.id, doc.creator_username, doc.usage_count) == (sound_id, dj.username, 1)
    assert doc.title == titles[sound_id] and doc.creator_display_name


async def test_processing_drops_a_sound_that_became_unusable_after_upload(
    runtime: Runtime, tmp_path: Path
) -> None:
    alice = await make_user(runtime)
    bob = await make_user(runtime)
    source = await make_video(runtime, alice)
    sound_id = await add_sound(runtime, alice, source)
    upload = await make_video(runtime, bob, status="processing")
    async with runtime.unit_of_work() as session:
        video = await session.get_one(Video, upload)
        video.sound_id, video.sound_mode = sound_id, "mix"
        # The source turns private between the upload and its processing.
        (await session.get_one(Video, source)).visibility = "private"
    assert await fetch_reused_sound(runtime, upload, tmp_path) is None
    async with runtime.unit_of_work(write=False) as session:
        video = await session.get_one(Video, upload)
        assert (video.sound_id, video.sound_mode) == (None, None)
        # Its own original sound is untouched and still the source's.
        assert (await session.get_one(Video, source)).sound_id == sound_id
