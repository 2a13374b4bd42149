"""tus 1.0 at /api/v1/uploads/tus/: what Uppy and tus-js-client send, and what they expect."""

from __future__ import annotations

import base64

import httpx

from reelstack.media.processing import original_key
from reelstack.media.uploads import piece_key
from reelstack.runtime import Runtime
from tests.factories import TestUser, assert_problem, make_user
from tests.integration.media.uploading import API, assert_processed, send_then_drop, video_rows

TUS = f"{API}/uploads/tus/"
PATCH_TYPE = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    """Upload-Metadata: `key base64(value)` pairs, comma-separated."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_headers(user: TestUser, **extra: str) -> dict[str, str]:
    return {**user.headers, "Tus-Resumable": "1.0.0", **extra}


async def create(
    client: httpx.AsyncClient, user: TestUser, length: int, **meta: str
) -> httpx.Response:
    headers = tus_headers(user, **{"Upload-Length": str(length)})
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    return await client.post(TUS, headers=headers)


async def created_location(
    client: httpx.AsyncClient, user: TestUser, length: int, **meta: str
) -> str:
    r = await create(client, user, length, **meta)
    assert r.status_code == 201, r.text
    return r.headers["location"]


async def patch(
    client: httpx.AsyncClient, user: TestUser, location: str, offset: int, body: bytes
) -> httpx.Response:
    headers = tus_headers(user, **{"Upload-Offset": str(offset), "Content-Type": PATCH_TYPE})
    return await client.patch(location, headers=headers, content=body)


async def head_offset(client: httpx.AsyncClient, user: TestUser, location: str) -> int:
    r = await client.head(location, headers=tus_headers(user))
    assert r.status_code == 200
    assert r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["cache-control"] == "no-store"
    return int(r.headers["upload-offset"])


def upload_id_of(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


async def video_id_of(client: httpx.AsyncClient, user: TestUser, location: str) -> str:
    """A tus client only learns the upload; the video is found through it."""
    r = await client.get(f"{API}/videos/upload/{upload_id_of(location)}", headers=user.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["video_id"])


async def test_options_advertise_the_server(client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.options(TUS)
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == "1.0.0"
    assert "1.0.0" in r.headers["tus-version"].split(",")
    extensions = {e.strip() for e in r.headers["tus-extension"].split(",")}
    assert {"creation", "termination"} <= extensions
    assert int(r.headers["tus-max-size"]) == runtime.settings.upload_max_bytes


async def test_a_tus_upload_in_pieces_becomes_the_video(
    client: httpx.AsyncClient, runtime: Runtime, clip: bytes
) -> None:
    me = await make_user(runtime)
    total = len(clip)
    r = await create(
        client,
        me,
        total,
        filename="Sunset at the pier.mp4",
        filetype="video/mp4",
        caption="Pier at sunset 🌅 #Golden",
        hashtags="evening,sea",
        visibility="unlisted",
    )
    assert r.status_code == 201, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    location = r.headers["location"]
    assert location.startswith(TUS)
    assert await head_offset(client, me, location) == 0
    r = await client.head(location, headers=tus_headers(me))
    assert int(r.headers["upload-length"]) == total
    video_id = await video_id_of(client, me, location)

    first, second = total // 3, 2 * total // 3
    r = await patch(client, me, location, 0, clip[:first])
    assert r.status_code == 204, r.text
    assert int(r.headers["upload-offset"]) == first
    assert await head_offset(client, me, location) == first

    # A client that lost the last answer and sends the same piece again is told where it is.
    r = await patch(client, me, location, 0, clip[:first])
    problem = assert_problem(r, 409, "offset_mismatch")
    assert int(r.headers["upload-offset"]) == first and problem["detail"]
    r = await patch(client, me, location, second, clip[second:])
    assert_problem(r, 409, "offset_mismatch")
    assert await head_offset(client, me, location) == first

    r = await patch(client, me, location, first, clip[first:second])
    assert r.status_code == 204, r.text
    assert await head_offset(client, me, location) == second
    assert (await client.get(f"{API}/videos/{video_id}/status", headers=me.headers)).json()[
        "status"
    ] == "uploading"

    r = await patch(client, me, location, second, clip[second:])
    assert r.status_code == 204, r.text
    assert int(r.headers["upload-offset"]) == total
    status = (await client.get(f"{API}/videos/{video_id}/status", headers=me.headers)).json()
    assert status["status"] in {"processing", "ready"}

    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == clip
    video = (await client.get(f"{API}/videos/{video_id}", headers=me.headers)).json()
    assert video["caption"] == "Pier at sunset 🌅 #Golden"
    assert video["hashtags"] == ["evening", "sea", "golden"]
    assert video["visibility"] == "unlisted"
    assert (video["width"], video["height"]) == (640, 360)


async def test_a_dropped_connection_keeps_what_arrived_and_the_client_resumes(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    total = len(tiny_clip)
    location = await created_location(client, me, total, filename="a.mp4")
    video_id = await video_id_of(client, me, location)

    headers = tus_headers(me, **{"Upload-Offset": "0", "Content-Type": PATCH_TYPE})
    await send_then_drop(runtime, "PATCH", location, headers, tiny_clip[:5000], total)
    # tus keeps the bytes that arrived: the client resumes there, not from zero.
    assert await head_offset(client, me, location) == 5000
    r = await patch(client, me, location, 5000, tiny_clip[5000:])
    assert r.status_code == 204, r.text
    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == tiny_clip


async def test_tus_requests_a_client_gets_wrong_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    total = len(tiny_clip)
    location = await created_location(client, me, total, filename="a.mp4", filetype="video/mp4")

    # Without Tus-Resumable: 412 on every verb, with the version the server speaks.
    plain = {**me.headers, "Upload-Offset": "0", "Content-Type": PATCH_TYPE}
    for r in (
        await client.patch(location, headers=plain, content=tiny_clip[:100]),
        await client.post(TUS, headers={**me.headers, "Upload-Length": str(total)}),
        await client.delete(location, headers=me.headers),
    ):
        assert_problem(r, 412, "tus_version_unsupported")
        assert r.headers["tus-version"] == "1.0.0"
    r = await client.head(location, headers={**me.headers, "Tus-Resumable": "0.2.2"})
    assert r.status_code == 412

    r = await client.patch(
        location,
        headers=tus_headers(me, **{"Upload-Offset": "0", "Content-Type": "video/mp4"}),
        content=tiny_clip[:100],
    )
    assert_problem(r, 415, "unsupported_media_type")
    r = await client.patch(
        location,
        headers=tus_headers(me, **{"Content-Type": PATCH_TYPE}),
        content=tiny_clip[:100],
    )
    assert_problem(r, 400, "upload_offset_required")
    # More bytes than the upload declared.
    r = await patch(client, me, location, 0, tiny_clip + b"extra")
    assert_problem(r, 400, "content_length_mismatch")
    assert await head_offset(client, me, location) == 0

    assert_problem(await client.post(TUS, headers=tus_headers(me)), 400, "upload_length_required")
    bad_meta = tus_headers(me, **{"Upload-Length": "100", "Upload-Metadata": "caption %%%"})
    assert_problem(await client.post(TUS, headers=bad_meta), 400, "invalid_upload_metadata")
    r = await create(client, me, 100, filename="notes.txt", filetype="text/plain")
    assert_problem(r, 415, "unsupported_media_type")
    r = await create(client, me, 100, filename="notes.txt", filetype="video/mp4")
    assert_problem(r, 415, "unsupported_file_type")
    r = await create(client, me, runtime.settings.upload_max_bytes + 1, filename="a.mp4")
    assert_problem(r, 413, "file_too_large")
    r = await create(client, me, 100, filename="a.mp4", visibility="everyone")
    assert_problem(r, 422, "validation_failed")
    assert await video_rows(runtime, me.id) == 1

    # Signed out, or somebody else: the upload does not exist for them.
    stranger = await make_user(runtime)
    assert (await client.head(location, headers={"Tus-Resumable": "1.0.0"})).status_code == 401
    assert (await client.head(location, headers=tus_headers(stranger))).status_code == 404
    assert_problem(await patch(client, stranger, location, 0, tiny_clip), 404, "upload_not_found")
    r = await client.delete(location, headers=tus_headers(stranger))
    assert_problem(r, 404, "upload_not_found")
    assert await head_offset(client, me, location) == 0


async def test_terminating_an_unfinished_upload_drops_it_and_its_bytes(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    location = await created_location(client, me, len(tiny_clip), filename="a.mp4")
    video_id = await video_id_of(client, me, location)
    assert (await patch(client, me, location, 0, tiny_clip[:1000])).status_code == 204
    upload_id = upload_id_of(location)
    assert await runtime.storage.exists(piece_key(upload_id, 0, 1000))

    r = await client.delete(location, headers=tus_headers(me))
    assert r.status_code == 204, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    assert (await client.head(location, headers=tus_headers(me))).status_code == 404
    assert_problem(
        await patch(client, me, location, 1000, tiny_clip[1000:]), 404, "upload_not_found"
    )
    r = await client.get(f"{API}/videos/{video_id}/status", headers=me.headers)
    assert_problem(r, 404, "video_not_found")
    assert not await runtime.storage.exists(piece_key(upload_id, 0, 1000))
    assert await video_rows(runtime, me.id) == 0
    r = await client.delete(location, headers=tus_headers(me))
    assert_problem(r, 404, "upload_not_found")


async def test_a_finished_upload_cannot_be_terminated(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    location = await created_location(client, me, len(tiny_clip), filename="a.mp4")
    video_id = await video_id_of(client, me, location)
    assert (await patch(client, me, location, 0, tiny_clip)).status_code == 204

    r = await client.delete(location, headers=tus_headers(me))
    assert_problem(r, 409, "upload_already_completed")
    await assert_processed(client, me, video_id)
    assert (await client.get(f"{API}/videos/{video_id}")).status_code == 200


async def test_a_finished_upload_still_reports_its_full_offset(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    """A client resuming after a reload HEADs first; it must see the upload as done, or it
    sends the whole file again and is refused."""
    me = await make_user(runtime)
    total = len(tiny_clip)
    location = await created_location(client, me, total, filename="a.mp4")
    video_id = await video_id_of(client, me, location)
    assert (await patch(client, me, location, 0, tiny_clip)).status_code == 204
    await assert_processed(client, me, video_id)
    assert await head_offset(client, me, location) == total
