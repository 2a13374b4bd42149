"""The whole video in one multipart request (`POST /videos/upload`), for simple clients."""

from __future__ import annotations

import httpx
import pytest

from reelstack.media.processing import original_key
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user
from tests.integration.media.uploading import (
    API,
    assert_processed,
    leftover_spool_files,
    video_rows,
)


async def test_a_video_in_one_multipart_request_is_processed(
    client: httpx.AsyncClient, runtime: Runtime, clip: bytes
) -> None:
    me = await make_user(runtime)
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("IMG_2001.mp4", clip, "video/mp4")},
        data={
            "caption": "Tide pools #Sea",
            "hashtags": "summer, travel",
            "visibility": "followers",
            "allow_comments": "false",
        },
    )
    assert r.status_code == 202, r.text
    video_id = r.json()["video_id"]
    assert r.json()["status"] == "processing"
    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == clip
    video = (await client.get(f"{API}/videos/{video_id}", headers=me.headers)).json()
    assert video["caption"] == "Tide pools #Sea"
    assert video["hashtags"] == ["summer", "travel", "sea"]
    assert video["visibility"] == "followers" and video["allow_comments"] is False
    assert (video["width"], video["height"]) == (640, 360)
    # Followers only: a stranger does not see it.
    assert (await client.get(f"{API}/videos/{video_id}")).status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"upload_simple_max_bytes": 10_000}])
async def test_a_one_request_upload_over_its_cap_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("beach.mp4", tiny_clip, "video/mp4")},
    )
    problem = assert_problem(r, 413, "file_too_large")
    assert problem["max_bytes"] == 10_000
    assert await video_rows(runtime, me.id) == 0
    assert leftover_spool_files(runtime) == []


async def test_a_one_request_upload_of_the_wrong_type_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("notes.txt", b"Shopping list\n- milk\n", "text/plain")},
    )
    assert_problem(r, 415, "unsupported_media_type")
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("notes.txt", b"Shopping list\n- milk\n", "video/mp4")},
    )
    assert_problem(r, 415, "unsupported_file_type")
    assert await video_rows(runtime, me.id) == 0


async def test_an_empty_one_request_upload_is_refused_without_leaving_a_video(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("beach.mp4", b"", "video/mp4")},
    )
    assert_problem(r, 422, "empty_file")
    assert await video_rows(runtime, me.id) == 0
