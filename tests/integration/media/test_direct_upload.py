"""With S3 storage a client may send the parts of an upload straight to the bucket, through the
presigned URLs `init` hands out, and only tell the API when it is done."""

from __future__ import annotations

import asyncio
import struct

import boto3
import httpx
import pytest

from reelstack.infra.storage import S3Storage
from reelstack.media.processing import original_key
from reelstack.media.uploads import S3_MIN_PART, direct_key
from reelstack.runtime import Runtime
from tests.conftest import S3_BUCKET
from tests.factories import assert_problem, make_user
from tests.integration.media.uploading import (
    assert_processed,
    complete,
    init_upload,
    send_all,
    upload_state,
)

# Direct uploads exist only where the store can take them: the S3 deployment. The embedded
# deployment has no bucket to send parts to, so these tests are not generated for it at all.
pytestmark = pytest.mark.parametrize("deployment", ["scaleout"])


@pytest.fixture(scope="module")
def two_part_clip(clip: bytes) -> bytes:
    """The clip followed by an ISO `free` box (players skip it) so it spans two S3 parts."""
    pad = S3_MIN_PART + 100_000 - len(clip)
    return clip + struct.pack(">I4s", pad, b"free") + bytes(pad - 8)


async def put_part(part: dict[str, int | str], data: bytes) -> httpx.Response:
    """Real HTTP to the S3 endpoint, as a browser would send it."""
    async with httpx.AsyncClient() as outside:
        return await outside.put(str(part["url"]), content=data)


def part_bytes(part: dict[str, int | str], data: bytes) -> bytes:
    return data[int(part["start"]) : int(part["end"]) + 1]


async def test_parts_sent_to_the_bucket_become_the_video(
    client: httpx.AsyncClient, runtime: Runtime, two_part_clip: bytes
) -> None:
    me = await make_user(runtime)
    data, total = two_part_clip, len(two_part_clip)
    init = await init_upload(client, me, total, caption="Straight to the bucket")
    upload_id, video_id = init["upload_id"], init["video_id"]
    parts = init["parts"]
    assert init["chunk_size"] == S3_MIN_PART
    assert [(p["part_number"], p["start"], p["end"]) for p in parts] == [
        (1, 0, S3_MIN_PART - 1),
        (2, S3_MIN_PART, total - 1),
    ]

    for part in reversed(parts):  # in any order
        r = await put_part(part, part_bytes(part, data))
        assert r.status_code == 200, r.text
        assert r.headers["etag"]

    r = await complete(client, me, upload_id)
    assert r.status_code == 202, r.text
    assert r.json() == {"video_id": video_id, "status": "processing"}
    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == data
    # The joined upload is not kept twice once the original is stored.
    assert not await runtime.storage.exists(direct_key(upload_id))
    state = await upload_state(client, me, upload_id)
    assert state["status"] == "complete"
    assert_problem(await complete(client, me, upload_id), 409, "upload_already_completed")


async def test_complete_waits_for_every_part_at_its_full_size(
    client: httpx.AsyncClient, runtime: Runtime, two_part_clip: bytes
) -> None:
    me = await make_user(runtime)
    data = two_part_clip
    init = await init_upload(client, me, len(data))
    upload_id, video_id = init["upload_id"], init["video_id"]
    first, second = init["parts"]

    assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")
    assert (await put_part(first, part_bytes(first, data))).status_code == 200
    problem = assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")
    assert problem["missing"]
    # The last part cut short by a dropped connection is not enough either.
    assert (await put_part(second, part_bytes(second, data)[:-1000])).status_code == 200
    assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")
    assert (await upload_state(client, me, upload_id))["status"] != "complete"
    status = await client.get(f"/api/v1/videos/{video_id}/status", headers=me.headers)
    assert status.json()["status"] == "uploading"

    # The client sends that part again, whole; now the upload completes.
    assert (await put_part(second, part_bytes(second, data))).status_code == 200
    r = await complete(client, me, upload_id)
    assert r.status_code == 202, r.text
    await assert_processed(client, me, video_id)
    assert await runtime.storage.get_bytes(original_key(video_id)) == data


async def test_progress_counts_the_parts_already_in_the_bucket(
    client: httpx.AsyncClient, runtime: Runtime, two_part_clip: bytes
) -> None:
    me = await make_user(runtime)
    data, total = two_part_clip, len(two_part_clip)
    init = await init_upload(client, me, total)
    upload_id = init["upload_id"]
    first, second = init["parts"]
    assert (await put_part(first, part_bytes(first, data))).status_code == 200

    # A client resuming after a crash learns that only the second part is left to send.
    still_missing = [{"start": S3_MIN_PART, "end": total - 1}]
    problem = assert_problem(await complete(client, me, upload_id), 409, "upload_incomplete")
    assert problem["missing"] == still_missing
    state = await upload_state(client, me, upload_id)
    assert state["bytes_uploaded"] == S3_MIN_PART and state["missing"] == still_missing

    assert (await put_part(second, part_bytes(second, data))).status_code == 200
    assert (await complete(client, me, upload_id)).status_code == 202
    state = await upload_state(client, me, upload_id)
    assert state["bytes_uploaded"] == total and state["missing"] == []


async def test_chunks_sent_through_the_api_leave_no_open_multipart_upload(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes, s3_endpoint: str
) -> None:
    me = await make_user(runtime)
    init = await init_upload(client, me, len(tiny_clip))
    await send_all(client, me, init["upload_id"], tiny_clip)
    assert (await complete(client, me, init["upload_id"])).status_code == 202
    await assert_processed(client, me, init["video_id"])

    assert isinstance(runtime.storage, S3Storage)
    bucket = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = await asyncio.to_thread(
        bucket.list_multipart_uploads, Bucket=S3_BUCKET, Prefix=runtime.storage.prefix
    )
    assert [u["Key"] for u in listed.get("Uploads", [])] == []
