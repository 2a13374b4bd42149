"""Background jobs of the media feature: processing retries, sweeps and file removal."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from reelstack.db import enqueue_after_commit, utcnow
from reelstack.infra.jobs import job
from reelstack.infra.storage import direct_uploads
from reelstack.media import processing
from reelstack.media.models import JobState, Video
from reelstack.media.uploads import direct_key, expired_uploads

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
SWEEP_BATCH = 100


@job("media.process_video", queue="media", retries=2, retry_delay=5.0)
async def process_video(rt: Runtime, video_id: str) -> None:
    await processing.process_video(rt, video_id)


@job("media.delete_video_files", queue="maintenance", retries=5)
async def delete_video_files(
    rt: Runtime, video_id: str, upload_id: str | None = None, s3_upload_id: str | None = None
) -> None:
    """Remove every stored file of a deleted video: renditions, thumbnails, original, upload."""
    await processing.delete_video_files(rt, video_id)
    if upload_id:
        await rt.storage.delete_prefix(f"uploads/{upload_id}/")
        direct = direct_uploads(rt.storage)
        if direct is not None and s3_upload_id:
            await direct.abort_multipart(direct_key(upload_id), s3_upload_id)


async def requeue_stalled(rt: Runtime) -> int:
    """Videos whose job lapsed (a worker died, or the job was lost before a worker took it)
    are queued again; after too many attempts they fail for good."""
    now = utcnow()
    lease = timedelta(seconds=rt.settings.processing_lease_seconds)
    async with rt.unit_of_work() as session:
        stalled = list(
            await session.scalars(
                select(Video)
                .where(
                    Video.job_state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                    Video.lease_until < now,
                )
                .limit(SWEEP_BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        for video in stalled:
            if video.attempts >= rt.settings.processing_max_attempts:
                processing.mark_failed(
                    video, "processing_failed", f"Processing stopped {video.attempts} times."
                )
                continue
            video.job_state = JobState.QUEUED.value
            video.lease_owner = None
            video.lease_until = now + lease
            enqueue_after_commit(session, "media.process_video", {"video_id": video.id})
    if stalled:
        log.warning("requeued %d stalled video jobs", len(stalled))
    return len(stalled)


@job("media.requeue_stalled", queue="maintenance", every_minutes=1)
async def requeue_stalled_job(rt: Runtime) -> None:
    await requeue_stalled(rt)


@job("media.recover_stalled_work", queue="maintenance", retries=0)
async def recover_stalled_work(rt: Runtime) -> None:
    """Queued by every job consumer as it starts."""
    await requeue_stalled(rt)


async def purge_expired_uploads(rt: Runtime) -> int:
    """Abandoned uploads: their video row, stored ranges and any direct upload go."""
    purged = 0
    while True:
        async with rt.unit_of_work() as session:
            batch = await expired_uploads(session, utcnow(), SWEEP_BATCH)
            gone = [(u.id, u.video_id, u.s3_upload_id) for u in batch]
            if gone:
                await session.execute(delete(Video).where(Video.id.in_([v for _, v, _ in gone])))
        for upload_id, video_id, s3_upload_id in gone:
            await delete_video_files(rt, video_id, upload_id, s3_upload_id)
        purged += len(gone)
        if len(gone) < SWEEP_BATCH:
            return purged


@job("media.purge_expired_uploads", queue="maintenance", every_minutes=15)
async def purge_expired_uploads_job(rt: Runtime) -> None:
    if purged := await purge_expired_uploads(rt):
        log.info("purged %d expired uploads", purged)
