"""Abandoned uploads: refused once expired, then purged with their video row and bytes."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from reelstack.db import utcnow
from reelstack.infra.jobs import JOB_REGISTRY, periodic_slot_key
from reelstack.infra.storage import ObjectNotFound, direct_uploads
from reelstack.media.models import UploadSession
from reelstack.media.processing import original_key
from reelstack.media.tasks import purge_expired_uploads
from reelstack.media.uploads import direct_key, piece_key
from reelstack.runtime import Runtime
from tests.factories import assert_problem, make_user
from tests.integration.media.uploading import (
    API,
    assert_processed,
    complete,
    content_range,
    init_upload,
    piece_rows,
    put_chunk,
    send_all,
    send_range,
    upload_state,
)


async def expire(rt: Runtime, upload_id: str) -> None:
    """Move an upload session's deadline into the past, as a day of silence would."""
    async with rt.unit_of_work() as session:
        await session.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def hold_periodic_purge(rt: Runtime) -> None:
    """Claim this slot's and the next slot's periodic purge, as if another consumer had run it.

    The test's own consumer would otherwise purge on the quarter hour, possibly between the
    test's steps; the purge below is then the only one.
    """
    spec = JOB_REGISTRY["media.purge_expired_uploads"]
    assert spec.every_minutes
    for at in (time.time(), time.time() + spec.every_minutes * 60):
        await rt.cache.add(periodic_slot_key(spec, at), "1", ttl=3600)


async def test_an_expired_upload_is_refused_then_purged_with_its_bytes(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    await hold_periodic_purge(runtime)
    me = await make_user(runtime)
    data, total = tiny_clip, len(tiny_clip)
    init = await init_upload(client, me, total)
    upload_id, video_id = init["upload_id"], init["video_id"]
    await send_range(client, me, upload_id, data, 0, 1000)
    fresh = (await init_upload(client, me, total))["upload_id"]
    await send_range(client, me, fresh, data, 0, 1000)
    await expire(runtime, upload_id)

    r = await put_chunk(client, me, upload_id, data[1000:2000], content_range(1000, 2000, total))
    assert_problem(r, 410, "upload_expired")
    assert_problem(await complete(client, me, upload_id), 410, "upload_expired")
    assert await piece_rows(runtime, upload_id) == 1

    async with runtime.unit_of_work(write=False) as session:
        s3_upload_id = await session.scalar(
            select(UploadSession.s3_upload_id).where(UploadSession.id == upload_id)
        )
    assert await purge_expired_uploads(runtime) == 1
    assert await purge_expired_uploads(runtime) == 0

    r = await client.get(f"{API}/videos/upload/{upload_id}", headers=me.headers)
    assert_problem(r, 404, "upload_not_found")
    r = await client.get(f"{API}/videos/{video_id}/status", headers=me.headers)
    assert_problem(r, 404, "video_not_found")
    assert not await runtime.storage.exists(piece_key(upload_id, 0, 1000))
    assert await piece_rows(runtime, upload_id) == 0
    direct = direct_uploads(runtime.storage)
    if direct is not None:  # the scale-out store also forgets the unused direct upload
        assert s3_upload_id is not None
        with pytest.raises(ObjectNotFound):
            await direct.list_parts(direct_key(upload_id), s3_upload_id)
    # Another upload that is still within its time is untouched.
    assert (await upload_state(client, me, fresh))["bytes_uploaded"] == 1000
    assert await runtime.storage.exists(piece_key(fresh, 0, 1000))


async def test_a_finished_upload_is_never_purged(
    client: httpx.AsyncClient, runtime: Runtime, tiny_clip: bytes
) -> None:
    me = await make_user(runtime)
    init = await init_upload(client, me, len(tiny_clip))
    upload_id, video_id = init["upload_id"], init["video_id"]
    await send_all(client, me, upload_id, tiny_clip)
    assert (await complete(client, me, upload_id)).status_code == 202
    await assert_processed(client, me, video_id)
    await expire(runtime, upload_id)

    assert await purge_expired_uploads(runtime) == 0
    video = await client.get(f"{API}/videos/{video_id}")
    assert video.status_code == 200 and video.json()["status"] == "ready"
    assert await runtime.storage.get_bytes(original_key(video_id)) == tiny_clip
