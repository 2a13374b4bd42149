"""Who may play what: every media path asks the one visibility function, guessed paths get
nothing, and a change of audience takes effect on the next playlist fetch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from reelstack.accounts.models import User
from reelstack.infra.storage import LocalStorage
from reelstack.media.models import Video
from reelstack.media.playback import mint_token
from reelstack.runtime import Runtime
from tests import clips
from tests.factories import assert_problem, make_user
from tests.media_helpers import API, fetch, playlist_uris, upload_video, wait_processed


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clips.make_clip(
        tmp_path_factory.mktemp("playback") / "clip.mp4", width=640, height=360, seconds=1.0
    )


async def processed(
    client: httpx.AsyncClient, runtime: Runtime, clip: Path, visibility: str
) -> tuple[Any, str]:
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, clip, visibility=visibility)
    assert (await wait_processed(client, creator, video_id))["status"] == "ready"
    return creator, video_id


async def media_urls(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], video_id: str
) -> list[str]:
    """Every URL a player would fetch for this video: playlists, segments, images, track."""
    video = (await client.get(f"{API}/videos/{video_id}", headers=viewer_headers)).json()
    urls = [video["video_urls"]["hls"], video["video_urls"]["mp4"]]
    for name in ("360p",):
        playlist = await fetch(client, video["video_urls"][name])
        urls.append(video["video_urls"][name])
        urls += playlist_uris(playlist.text)
    urls += list(video["thumbnails"]["posters"].values())
    urls.append(video["thumbnails"]["storyboard_vtt"])
    return urls


async def test_a_private_video_is_unreachable_for_anyone_else(
    runtime: Runtime, client: httpx.AsyncClient, clip: Path
) -> None:
    owner, video_id = await processed(client, runtime, clip, "private")
    stranger = await make_user(runtime)
    urls = await media_urls(client, owner.headers, video_id)
    for url in urls:
        assert (await fetch(client, url)).status_code == 200, url

    for headers in ({}, stranger.headers):
        assert_problem(
            await client.get(f"{API}/videos/{video_id}", headers=headers), 404, "video_not_found"
        )
        listed = await client.get(f"{API}/users/{owner.id}/videos", headers=headers)
        assert listed.json()["videos"] == []
    assert_problem(
        await client.get(f"{API}/videos/{video_id}/status", headers=stranger.headers),
        404,
        "video_not_found",
    )

    # Guessed playlist paths: no token, a forged token, a token of another video or viewer.
    guesses = [
        f"{API}/videos/{video_id}/hls/master.m3u8",
        f"{API}/videos/{video_id}/hls/360p.m3u8?t=9999999999.{stranger.id}.forged",
        f"{API}/videos/{video_id}/hls/master.m3u8?t="
        + mint_token(runtime.signer, "someothervideo", owner.id, 60).replace(owner.id, stranger.id),
        f"{API}/videos/{video_id}/storyboard.vtt?t=1.-.x",
    ]
    for guess in guesses:
        assert_problem(await client.get(guess), 404, "media_not_found")
    # Guessed storage paths: the object exists, but not without a signature of ours.
    storage = runtime.storage
    segment_key = f"videos/{video_id}/hls/360p/init.mp4"
    assert await storage.exists(segment_key)
    if isinstance(storage, LocalStorage):
        for path in (f"/media/{segment_key}", f"/media/{segment_key}?expires=9999999999&sig=AAAA"):
            assert_problem(await client.get(path), 404, "media_not_found")
        # Originals are never served, even under a valid signature.
        original = storage.signed_url(f"originals/{video_id}/source", 60)
        assert_problem(await client.get(original), 404, "media_not_found")
    else:
        endpoint = runtime.settings.s3_endpoint_url
        bucket_path = runtime.settings.storage_url.removeprefix("s3://")  # type: ignore[union-attr]
        async with httpx.AsyncClient() as outside:
            unsigned = await outside.get(f"{endpoint}/{bucket_path}/{segment_key}")
        assert unsigned.status_code == 403


async def test_followers_only_media_follows_the_graph_and_a_change_of_audience(
    runtime: Runtime, client: httpx.AsyncClient, clip: Path
) -> None:
    owner, video_id = await processed(client, runtime, clip, "followers")
    follower = await make_user(runtime)
    outsider = await make_user(runtime)
    followed = await client.post(f"{API}/users/{owner.id}/follow", headers=follower.headers)
    assert followed.status_code == 200, followed.text

    assert_problem(
        await client.get(f"{API}/videos/{video_id}", headers=outsider.headers),
        404,
        "video_not_found",
    )
    video = (await client.get(f"{API}/videos/{video_id}", headers=follower.headers)).json()
    master_url = video["video_urls"]["hls"]
    rung_url = video["video_urls"]["360p"]
    assert (await client.get(master_url)).status_code == 200
    listed = (await client.get(f"{API}/users/{owner.id}/videos", headers=follower.headers)).json()
    assert [v["video_id"] for v in listed["videos"]] == [video_id]

    # The creator narrows the audience: the follower's playlists stop at once.
    narrowed = await client.patch(
        f"{API}/videos/{video_id}", json={"visibility": "private"}, headers=owner.headers
    )
    assert narrowed.status_code == 200 and narrowed.json()["visibility"] == "private"
    for url in (master_url, rung_url):
        assert_problem(await client.get(url), 404, "media_not_found")
    assert_problem(
        await client.get(f"{API}/videos/{video_id}", headers=follower.headers),
        404,
        "video_not_found",
    )

    # A block works the same way for a public video.
    await client.patch(
        f"{API}/videos/{video_id}", json={"visibility": "public"}, headers=owner.headers
    )
    public_master = (await client.get(f"{API}/videos/{video_id}", headers=follower.headers)).json()
    assert (await client.get(public_master["video_urls"]["hls"])).status_code == 200
    blocked = await client.post(f"{API}/users/{follower.id}/block", headers=owner.headers)
    assert blocked.status_code in (200, 204), blocked.text
    assert_problem(await client.get(public_master["video_urls"]["hls"]), 404, "media_not_found")


async def test_unlisted_videos_play_by_link_but_are_never_listed(
    runtime: Runtime, client: httpx.AsyncClient, clip: Path
) -> None:
    owner, video_id = await processed(client, runtime, clip, "unlisted")
    anyone = await make_user(runtime)
    video = await client.get(f"{API}/videos/{video_id}", headers=anyone.headers)
    assert video.status_code == 200
    assert (await client.get(video.json()["video_urls"]["hls"])).status_code == 200
    listed = await client.get(f"{API}/users/{owner.id}/videos", headers=anyone.headers)
    assert listed.json()["videos"] == []


async def test_owner_edits_and_deletes_and_the_files_go(
    runtime: Runtime, client: httpx.AsyncClient, clip: Path
) -> None:
    owner, video_id = await processed(client, runtime, clip, "public")
    other = await make_user(runtime)
    edit = {"caption": "new words #Edited", "hashtags": ["kept"], "category": "music"}
    assert_problem(
        await client.patch(f"{API}/videos/{video_id}", json=edit, headers=other.headers),
        403,
        "not_video_owner",
    )
    changed = await client.patch(f"{API}/videos/{video_id}", json=edit, headers=owner.headers)
    assert changed.status_code == 200
    assert changed.json()["hashtags"] == ["kept", "edited"]
    assert changed.json()["category"] == "music"
    assert_problem(
        await client.patch(
            f"{API}/videos/{video_id}", json={"visibility": "everyone"}, headers=owner.headers
        ),
        422,
        "validation_failed",
    )
    profile = (await client.get(f"{API}/users/{owner.id}")).json()
    assert profile["stats"]["videos"] == 1

    assert_problem(
        await client.delete(f"{API}/videos/{video_id}", headers=other.headers), 403, "forbidden"
    )
    urls = await media_urls(client, owner.headers, video_id)
    deleted = await client.delete(f"{API}/videos/{video_id}", headers=owner.headers)
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert_problem(
        await client.get(f"{API}/videos/{video_id}", headers=owner.headers), 404, "video_not_found"
    )
    assert (await client.get(f"{API}/users/{owner.id}")).json()["stats"]["videos"] == 0
    for _ in range(100):  # the files are removed by a job
        if not await runtime.storage.exists(f"originals/{video_id}/source"):
            break
        await asyncio.sleep(0.1)
    assert not await runtime.storage.exists(f"videos/{video_id}/hls/360p/init.mp4")
    assert not await runtime.storage.exists(f"originals/{video_id}/source")
    for url in urls:
        assert (await fetch(client, url)).status_code in (403, 404)


async def test_a_moderator_may_delete_anyones_video(
    runtime: Runtime, client: httpx.AsyncClient, clip: Path
) -> None:
    owner, video_id = await processed(client, runtime, clip, "private")
    moderator = await make_user(runtime)
    async with runtime.unit_of_work() as session:
        await session.execute(update(User).where(User.id == moderator.id).values(role="moderator"))
    login = await client.post(
        f"{API}/auth/login", json={"login": moderator.username, "password": "correct horse battery"}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get(f"{API}/videos/{video_id}", headers=headers)).status_code == 200
    assert (await client.delete(f"{API}/videos/{video_id}", headers=headers)).status_code == 200
    assert_problem(
        await client.get(f"{API}/videos/{video_id}", headers=owner.headers), 404, "video_not_found"
    )


async def test_a_creators_videos_page_newest_first(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    creator = await make_user(runtime)
    ids = []
    async with runtime.unit_of_work() as session:
        for n in range(5):
            video = Video(user_id=creator.id, caption=f"v{n}", status="ready", visibility="public")
            session.add(video)
            await session.flush()
            ids.append(video.id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/users/@{creator.username}/videos", params=params)).json()
        seen += [v["video_id"] for v in page["videos"]]
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert_problem(
        await client.get(f"{API}/users/{creator.id}/videos", params={"cursor": "garbage"}),
        422,
        "invalid_cursor",
    )
