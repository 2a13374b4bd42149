"""The processing lease: one worker at a time holds a video's job, renews it while it works,
and loses it (the job is cancelled) when the video is deleted or a sweeper hands it on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.db import utcnow
from reelstack.infra.ids import new_id
from reelstack.media.models import JobState, UploadSession, Video

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker owns the video now, or it was deleted: stop without publishing."""


@dataclass
class Claim:
    video_id: str
    token: str
    attempt: int
    published: list[dict[str, Any]]
    has_thumbnails: bool
    source_stored: bool
    upload_id: str | None
    direct_upload: bool


# -- the lease ---------------------------------------------------------------------------------
async def claim_video(rt: Runtime, video_id: str) -> Claim | None:
    """Take the video's lease if its job is due and nobody holds a live lease on it."""
    token = new_id()
    now = utcnow()
    lease = timedelta(seconds=rt.settings.processing_lease_seconds)
    async with rt.unit_of_work() as session:
        taken = await session.execute(
            update(Video)
            .where(
                Video.id == video_id,
                Video.job_state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                or_(Video.lease_owner.is_(None), Video.lease_until < now),
            )
            .values(
                job_state=JobState.RUNNING.value,
                lease_owner=token,
                lease_until=now + lease,
                attempts=Video.attempts + 1,
            )
            .returning(Video.id)
        )
        if taken.first() is None:
            return None
        video = await session.get_one(Video, video_id, populate_existing=True)
        upload = await session.scalar(
            select(UploadSession).where(UploadSession.video_id == video_id)
        )
        claim = Claim(
            video_id=video.id,
            token=token,
            attempt=video.attempts,
            published=list(video.renditions or []),
            has_thumbnails=bool(video.thumbnails),
            source_stored=video.source_info is not None,
            upload_id=upload.id if upload else None,
            direct_upload=bool(upload and upload.s3_upload_id),
        )
    return claim


async def locked_video(session: AsyncSession, claim: Claim) -> Video:
    video = await session.scalar(
        select(Video)
        .where(Video.id == claim.video_id, Video.lease_owner == claim.token)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if video is None:
        raise LeaseLost(claim.video_id)
    return video


class Heartbeat:
    """Renews the lease and writes progress about once a second; cancels the job if the lease
    is lost (the video was deleted, or a sweeper gave it to another worker)."""

    def __init__(self, rt: Runtime, claim: Claim, job: asyncio.Task[Any]) -> None:
        self._rt = rt
        self._claim = claim
        self._job = job
        self.progress = 0
        self.lost = False
        self.stopped = False

    def stop(self) -> None:
        """The job is about to give the lease up itself; stop renewing it."""
        self.stopped = True

    def report(self, fraction: float) -> None:
        self.progress = max(self.progress, min(99, int(fraction * 100)))

    async def run(self) -> None:
        lease = self._rt.settings.processing_lease_seconds
        interval = min(1.0, lease / 4)
        while True:
            await asyncio.sleep(interval)
            if self.stopped:
                return
            try:
                async with self._rt.unit_of_work() as session:
                    renewed = await session.execute(
                        update(Video)
                        .where(
                            Video.id == self._claim.video_id,
                            Video.lease_owner == self._claim.token,
                        )
                        .values(
                            lease_until=utcnow() + timedelta(seconds=lease),
                            progress=self.progress,
                        )
                        .returning(Video.id)
                    )
                    held = renewed.first() is not None
            except Exception:  # a database hiccup: try again next beat, the lease has slack
                log.warning("could not renew the lease of video %s", self._claim.video_id)
                continue
            if not held and not self.stopped:
                self.lost = True
                self._job.cancel()
                return


@contextlib.asynccontextmanager
async def heartbeat(rt: Runtime, claim: Claim) -> AsyncIterator[Heartbeat]:
    current = asyncio.current_task()
    assert current is not None
    beat = Heartbeat(rt, claim, current)
    task = asyncio.create_task(beat.run())
    try:
        yield beat
    except asyncio.CancelledError:
        if beat.lost:
            current.uncancel()  # our own cancellation, consumed here: the task goes on
            raise LeaseLost(claim.video_id) from None
        raise
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def release(rt: Runtime, claim: Claim) -> None:
    """Give the lease back after an unexpected error so the job's retry can claim it at once."""
    async with rt.unit_of_work() as session:
        await session.execute(
            update(Video)
            .where(Video.id == claim.video_id, Video.lease_owner == claim.token)
            .values(lease_owner=None, lease_until=utcnow(), job_state=JobState.QUEUED.value)
        )
