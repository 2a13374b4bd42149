"""Resumable chunked uploads: ranges in any order, resuming, a restart, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reelstack.config import Settings
from reelstack.media.processing import original_key
from reelstack.media.uploads import piece_key
from reelstack.runtime import Runtime, open_runtime
from tests.conftest import reset_state
from tests.factories import assert_problem, make_user
from tests.integration.media.uploading import (
    API,
    assert_processed,
    complete,
    content_range,
    leftover_spool_files,
    piece_rows,
    put_chunk,
    send_all,
    send_range,
    send_then_drop,
    serve,
    split,
    upload_state,
    video_rows,
    video_status,
)
from tests.media_helpers import init_body, init_upload


# -- the happy path ----------------------------------------------------------------------------
async def test_chunks_in_any_order_resume_and_become_the_video(
    client: httpx.AsyncClient, runtime: Runtime, clip: bytes
) -> None:
    me = await make_user(runtime)
    total = len(clip)
    init = await init_upload(
        client, me, total, caption="Dusk #Beach", hashtags=["travel"], category="nature"
    )
    upload_id, video_id = init["upload_id"], init["video_id"]
    assert init["upload_url"] == f"{API}/videos/upload/{upload_id}/chunk"
    assert init["chunk_size"] > 0 and init["expires_at"]
    assert (await video_status(client, me, video_id))["status"] == "uploading"

    ranges = split(total, 5)
    sizes = [end - start for start, end in ranges]
    # Out of order, and chunk 3 twice (a retry after a lost response): counted once.
    assert (await send_range(client, me, upload_id, clip, *ranges[3]))["bytes_uploaded"] == sizes[3]
    got = await send_range(client, me, upload_id, clip, *ranges[0])
    assert got == {
        "bytes_uploaded": sizes[0] + sizes[3],
        "total_bytes": total,
        "status": "uploading",
    }
    again = await send_range(client, me, upload_id, clip, *ranges[3])
    assert again["bytes_uploaded"] == sizes[0] + sizes[3]
    got = await send_range(client, me, upload_id, clip, *ranges[4])
    assert got["bytes_uploaded"] == sizes[0] + sizes[3] + sizes[4]
    assert got["status"] == "uploading"

    # The connection dropped; the client asks what is missing and sends only that.
    state = await upload_state(client, me, upload_id)
    assert state["status"] == "uploading" and state["protocol"] == "chunked"
    assert state["video_id"] == video_id and state["total_bytes"] == total
    assert state["bytes_uploaded"] == sizes[0] + sizes[3] + sizes[4]
    assert state["received"] == [
        {"start": 0, "end": ranges[0][1] - 1},
        {"start": ranges[3][0], "end": total - 1},
    ]
    assert state["missing"] == [{"start": ranges[1][0], "end": ranges[2][1] - 1}]
    for gap in state["missing"]:
        last = await send_range(client, me, upload_id, clip, gap["start"], gap["end"] + 1)
    assert last == {"bytes_uploaded": total, "total_bytes": total, "status": "uploaded"}
    state = await upload_state(client, me, upload_id)
    assert state["status"] == "uploaded" and state["missing"] == []
    assert state["received"] == [{"start": 0, "end": total - 1}]

    r = await complete(client, me, upload_id)
    assert r.status_code == 202, r.text
    assert r.json() == {"video_id": video_id, "status": "processing"}
    assert (await upload_state(client, me, upload_id))["status"] == "complete"

    await assert_processed(client, me, video_id)
    state = await upload_state(client, me, upload_id)
    assert state["status"] == "complete" and state["bytes_uploaded"] == total
    assert state["missing"] == []
    # What processing read and kept is, byte for byte, the file the creator sent.
    assert await runtime.storage.get_bytes(original_key(video_id)) == clip
    video = (await client.get(f"{API}/videos/{video_id}", headers=me.headers)).json()
    assert video["status"] == "ready"
    assert video["caption"] == "Dusk #Beach" and video["category"] == "nature"
    assert video["hashtags"] == ["travel", "beach"]
    assert (video["width"], video["height"]) == (640, 360)
    assert video["duration"] == pytest.approx(2.0, abs=0.1)
    # Published: everybody can see it now.
    assert (await client.get(f"{API}/videos/{video_id}")).status_code == 200


async def test_parallel_overlapping_and_streamed_chunks_join_into_the_file(
    client: httpx.AsyncClient, runtime: Runtime, clip: bytes
) -> None:
    """What Uppy-style clients do: several chunks at once, a retry that overlaps, a body
    streamed without Content-Length. The video is the file, each byte taken once."""
    me = await make_user(runtime)
    total = len(clip)
    init = await init_upload(client, me, total)
    upload_id, video_id = init["upload_id"], init["video_id"]
    ranges = split(total, 8)
    answers = await asyncio.gather(
        *(send_range(client, me, upload_id, clip, start, end) for start, end in ranges[:6]),
        send_range(client, me, upload_id, clip, *ranges[2]),
    )
    # Each answer counts what had committed when it was made; concurrent commits may not see
    # one another, so the stored state, read afterwards, is what must hold every byte.
    assert max(a["bytes_uploaded"] for a in answers) <= ranges[5][1]
    assert (await upload_state(client, me, upload_id))["bytes_uploaded"] == ranges[5][1]
    # A retry with other boundaries, overlapping what is stored on both sides.
    overlap = (ranges[5][0] + 7, ranges[6][1] + 11)
    got = await send_range(client, me, upload_id, clip, *overlap)
    assert got["bytes_uploaded"] == overlap[1]

    async def streamed() -> AsyncIterator[bytes]:
        for at in range(overlap[1], total, 4096):
            yield clip[at : min(at + 4096, total)]

    headers = {**me.headers, "Content-Range": content_range(overlap[1], total, total)}
    r = await client.put(
        f"{API}/videos/upload/{upload_id}/chunk", headers=headers, content=streamed()
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes_uploaded": total, "total_bytes": total, "status": "uploaded"}

    assert (await complete(client, me, upload_id)).status_code == 202
    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == clip


async def test_a_restart_mid_upload_loses_no_acknowledged_chunk(
    settings: Settings, clip: bytes
) -> None:
    total = len(clip)
    ranges = split(total, 4)
    async with open_runtime(settings) as before_restart:
        await reset_state(before_restart)
        me = await make_user(before_restart)
        async with serve(before_restart) as client:
            init = await init_upload(client, me, total)
            upload_id, video_id = init["upload_id"], init["video_id"]
            await send_range(client, me, upload_id, clip, *ranges[2])
            await send_range(client, me, upload_id, clip, *ranges[0])

    # A new process on the same database and storage; the creator's app resumes.
    async with open_runtime(settings, consume_jobs=True) as after_restart:
        try:
            async with serve(after_restart) as client:
                state = await upload_state(client, me, upload_id)
                assert state["bytes_uploaded"] == (ranges[0][1] - ranges[0][0]) + (
                    ranges[2][1] - ranges[2][0]
                )
                assert state["missing"] == [
                    {"start": ranges[1][0], "end": ranges[1][1] - 1},
                    {"start": ranges[3][0], "end": total - 1},
                ]
                for gap in state["missing"]:
                    await send_range(client, me, upload_id, clip, gap["start"], gap["end"] + 1)
                r = await complete(client, me, upload_id)
                assert r.status_code == 202, r.text
                await assert_processed(client, me, video_id)
                assert await after_restart.storage.get_bytes(original_key(video_id)) == clip
        finally:
            await after_restart.jobs.stop_consumer()
            await reset_state(after_restart)


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"upload_max_chunk_bytes": 16 * 1024}])
async def test_a_chunk_with_a_wrong_range_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    data, total = tiny_clip, len(tiny_clip)
    upload_id = (await init_upload(client, me, total))["upload_id"]
    await send_range(client, me, upload_id, data, 0, 1000)
    before = await upload_state(client, me, upload_id)

    refused: list[tuple[str | None, bytes, int, str]] = [
        # The body is shorter, or longer, than the range it claims to be.
        (content_range(1000, 2000, total), data[1000:1500], 400, "content_length_mismatch"),
        (content_range(1000, 2000, total), data[1000:2500], 400, "content_length_mismatch"),
        (content_range(1000, 2000, total), b"", 400, "content_length_mismatch"),
        # Bytes past the end of the file the upload declared.
        (content_range(total - 10, total + 10, total), b"x" * 20, 416, "range_not_satisfiable"),
        (f"bytes 2000-1000/{total}", b"", 416, "range_not_satisfiable"),
        # A different file than the one declared.
        (content_range(1000, 2000, total + 1), data[1000:2000], 400, "content_range_mismatch"),
        # Not a Content-Range a client could mean.
        ("bytes=1000-1999", data[1000:2000], 400, "invalid_content_range"),
        ("bytes 1000-1999/*", data[1000:2000], 400, "invalid_content_range"),
        ("1000-1999", data[1000:2000], 400, "invalid_content_range"),
        (None, data[1000:2000], 400, "invalid_content_range"),
        # More than one chunk may carry.
        (content_range(1000, 17385, total), data[1000:17385], 413, "chunk_too_large"),
    ]
    for header, body, status, code in refused:
        r = await put_chunk(client, me, upload_id, body, header)
        problem = assert_problem(r, status, code)
        assert problem["instance"] == f"{API}/videos/upload/{upload_id}/chunk"
        if status == 416:
            assert r.headers["content-range"] == f"bytes */{total}"

    assert await upload_state(client, me, upload_id) == before
    assert await piece_rows(runtime, upload_id) == 1
    assert not await runtime.storage.exists(piece_key(upload_id, 1000, 1500))
    assert not await runtime.storage.exists(piece_key(upload_id, 1000, 2000))
    assert leftover_spool_files(runtime) == []
    # The upload is still usable.
    assert (await send_range(client, me, upload_id, data, 1000, 2000))["bytes_uploaded"] == 2000


async def test_a_chunk_cut_off_by_a_dropped_connection_is_not_kept(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    """Half a chunk is not acknowledged, so it must not count: the client sends it again."""
    me = await make_user(runtime)
    total = len(tiny_clip)
    upload_id = (await init_upload(client, me, total))["upload_id"]
    headers = {**me.headers, "Content-Range": content_range(0, 10_000, total)}
    path = f"{API}/videos/upload/{upload_id}/chunk"
    status = await send_then_drop(runtime, "PUT", path, headers, tiny_clip[:5000], 10_000)
    assert status == 400
    state = await upload_state(client, me, upload_id)
    assert state["bytes_uploaded"] == 0 and state["received"] == []
    assert await piece_rows(runtime, upload_id) == 0
    assert not await runtime.storage.exists(piece_key(upload_id, 0, 5000))
    assert leftover_spool_files(runtime) == []
    assert (await send_range(client, me, upload_id, tiny_clip, 0, 10_000))["bytes_uploaded"] == (
        10_000
    )


async def test_complete_is_refused_while_bytes_are_missing(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    data, total = tiny_clip, len(tiny_clip)
    init = await init_upload(client, me, total)
    upload_id, video_id = init["upload_id"], init["video_id"]
    assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")

    half = total // 2
    await send_range(client, me, upload_id, data, 0, half)
    await send_range(client, me, upload_id, data, total - 100, total)
    problem = assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")
    assert problem["missing"] == [{"start": half, "end": total - 101}]
    assert (await video_status(client, me, video_id))["status"] == "uploading"
    assert (await upload_state(client, me, upload_id))["status"] == "uploading"

    await send_range(client, me, upload_id, data, half, total - 100)
    assert (await complete(client, me, upload_id)).status_code == 202
    await assert_processed(client, me, video_id)


async def test_complete_twice_is_refused_and_processing_runs_once(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    init = await init_upload(client, me, len(tiny_clip))
    upload_id, video_id = init["upload_id"], init["video_id"]
    await send_all(client, me, upload_id, tiny_clip)

    # A double tap on "Post": exactly one of the two starts processing.
    first, second = await asyncio.gather(
        complete(client, me, upload_id), complete(client, me, upload_id)
    )
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    accepted, refused = (first, second) if first.status_code == 202 else (second, first)
    assert accepted.json() == {"video_id": video_id, "status": "processing"}
    assert_problem(refused, 409, "upload_already_completed")
    assert (await video_status(client, me, video_id))["status"] in {"processing", "ready"}

    # Nor may bytes be added to an upload that is being processed.
    r = await put_chunk(client, me, upload_id, tiny_clip[:10], content_range(0, 10, len(tiny_clip)))
    assert_problem(r, 409, "upload_already_completed")

    await assert_processed(client, me, video_id)
    assert_problem(await complete(client, me, upload_id), 409, "upload_already_completed")
    status = await video_status(client, me, video_id)
    assert status["status"] == "ready" and status["progress"] == 100


async def test_someone_elses_upload_does_not_exist_for_you(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    owner, stranger = await make_user(runtime), await make_user(runtime)
    data, total = tiny_clip, len(tiny_clip)
    upload_id = (await init_upload(client, owner, total))["upload_id"]
    await send_range(client, owner, upload_id, data, 0, total - 10)
    before = await upload_state(client, owner, upload_id)

    header = content_range(total - 10, total, total)
    for upload in (upload_id, "01JAAAAAAAAAAAAAAAAAAAAAAA"):
        r = await put_chunk(client, stranger, upload, data[-10:], header)
        assert_problem(r, 404, "upload_not_found")
        r = await client.get(f"{API}/videos/upload/{upload}", headers=stranger.headers)
        assert_problem(r, 404, "upload_not_found")
        assert_problem(await complete(client, stranger, upload), 404, "upload_not_found")

    assert await upload_state(client, owner, upload_id) == before
    assert not await runtime.storage.exists(piece_key(upload_id, total - 10, total))


@pytest.mark.parametrize(
    "settings_overrides", [{"uploads_per_day": 2, "upload_max_bytes": 10_000_000}]
)
async def test_a_refused_declaration_creates_nothing_and_costs_no_quota(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    init = f"{API}/videos/upload/init"
    refused: list[tuple[dict[str, Any], int, str]] = [
        ({"file_size": 10_000_001}, 413, "file_too_large"),
        ({"mime_type": "image/png", "filename": "cat.png"}, 415, "unsupported_media_type"),
        ({"mime_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"filename": "notes.txt"}, 415, "unsupported_file_type"),
        ({"filename": "beach.mp4.exe"}, 415, "unsupported_file_type"),
        ({"filename": "beach"}, 415, "unsupported_file_type"),
        ({"hashtags": ["two words"]}, 422, "validation_failed"),
        ({"caption": "x" * 2201}, 422, "validation_failed"),
        ({"file_size": 0}, 422, "validation_failed"),
    ]
    for overrides, status, code in refused:
        r = await client.post(init, headers=me.headers, json=init_body(5000, **overrides))
        problem = assert_problem(r, status, code)
        if code == "file_too_large":
            assert problem["max_bytes"] == 10_000_000
    assert await video_rows(runtime, me.id) == 0

    # Exactly at the cap, and a type with parameters, are fine.
    r = await client.post(init, headers=me.headers, json=init_body(10_000_000))
    assert r.status_code == 201, r.text
    r = await client.post(
        init,
        headers=me.headers,
        json=init_body(5000, mime_type="Video/QuickTime; codecs=hvc1", filename="IMG_0001.MOV"),
    )
    assert r.status_code == 201, r.text

    # The third video of the day: every way of uploading is refused until a slot frees.
    r = await client.post(init, headers=me.headers, json=init_body(5000))
    problem = assert_problem(r, 429, "upload_quota_exceeded")
    retry_after = int(r.headers["retry-after"])
    assert 86_000 < retry_after <= 86_400 and problem["retry_after"] == retry_after
    r = await client.post(
        f"{API}/videos/upload",
        headers=me.headers,
        files={"file": ("beach.mp4", b"\x00" * 100, "video/mp4")},
    )
    assert_problem(r, 429, "upload_quota_exceeded")
    r = await client.post(
        f"{API}/uploads/tus/",
        headers={**me.headers, "Tus-Resumable": "1.0.0", "Upload-Length": "5000"},
    )
    assert_problem(r, 429, "upload_quota_exceeded")
    assert await video_rows(runtime, me.id) == 2
    # The quota is per creator.
    other = await make_user(runtime)
    r = await client.post(init, headers=other.headers, json=init_body(5000))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("settings_overrides", [{"uploads_per_day": 1}])
async def test_parallel_inits_cannot_beat_the_daily_quota(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_user(runtime)
    answers = await asyncio.gather(
        *(
            client.post(f"{API}/videos/upload/init", headers=me.headers, json=init_body(5000))
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 429, 429, 429]
    assert await video_rows(runtime, me.id) == 1


async def test_uploads_need_a_signed_in_creator(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    upload_id = (await init_upload(client, me, len(tiny_clip)))["upload_id"]
    header = content_range(0, len(tiny_clip), len(tiny_clip))
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        requests = [
            client.post(f"{API}/videos/upload/init", headers=headers, json=init_body(5000)),
            client.put(
                f"{API}/videos/upload/{upload_id}/chunk",
                headers={**headers, "Content-Range": header},
                content=tiny_clip,
            ),
            client.get(f"{API}/videos/upload/{upload_id}", headers=headers),
            client.post(f"{API}/videos/upload/{upload_id}/complete", headers=headers),
            client.post(
                f"{API}/videos/upload",
                headers=headers,
                files={"file": ("beach.mp4", tiny_clip, "video/mp4")},
            ),
        ]
        for request in requests:
            r = await request
            assert r.status_code == 401, (r.request.url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert (await upload_state(client, me, upload_id))["bytes_uploaded"] == 0
    assert await video_rows(runtime, me.id) == 1
