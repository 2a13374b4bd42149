"""The processing job: probe, encode the ladder, thumbnails, publish rung by rung.

A job holds a lease on its video and renews it while it works. A worker killed mid-transcode
stops renewing; the sweeper sees the lapsed lease and queues the job again, which resumes after
the rungs already published. A rung is published (written to the video row) only after all its
files are stored, so a half-written rung is never referenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from reelstack.accounts import service as accounts
from reelstack.db import utcnow
from reelstack.events import VideoFailed, VideoProcessed
from reelstack.infra.events import publish as publish_event
from reelstack.infra.ids import new_id
from reelstack.infra.storage import ObjectNotFound, content_type_for
from reelstack.media.ffmpeg import FFmpeg, FFmpegError, ffmpeg_executable
from reelstack.media.ladder import HlsRendition, Rung, encode_rungs, package_hls, plan_ladder
from reelstack.media.models import JobState, UploadPiece, UploadSession, Video, VideoStatus
from reelstack.media.probe import ProbeRejected, SourceInfo, probe_source
from reelstack.media.thumbnails import make_thumbnails
from reelstack.media.uploads import direct_key, piece_key

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

THUMBNAIL_SHARE = 0.04  # of the progress bar


def original_key(video_id: str) -> str:
    """The upload as received; kept for reprocessing, never served."""
    return f"originals/{video_id}/source"


def video_prefix(video_id: str) -> str:
    return f"videos/{video_id}/"


def ffmpeg_for(rt: Runtime) -> FFmpeg:
    settings = rt.settings
    return FFmpeg(
        executable=ffmpeg_executable(settings.ffmpeg_path),
        threads=settings.ffmpeg_threads or os.cpu_count() or 2,
        timeout_seconds=settings.ffmpeg_timeout_seconds,
        memory_limit_bytes=settings.ffmpeg_memory_limit_mib * 1024 * 1024,
    )


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


async def _locked_video(session: AsyncSession, claim: Claim) -> Video:
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


# -- the source --------------------------------------------------------------------------------
async def fetch_source(rt: Runtime, claim: Claim, dest: Path, workdir: Path) -> None:
    """The original, joined from its stored ranges (or the direct upload, or a previous try)."""
    storage = rt.storage
    if claim.source_stored:
        await storage.download(original_key(claim.video_id), dest)
        return
    if claim.upload_id is None:
        raise ProbeRejected("upload_incomplete", "The upload of this video is missing.")
    async with rt.unit_of_work(write=False) as session:
        pieces = [
            (s, e)
            for s, e in await session.execute(
                select(UploadPiece.start, UploadPiece.end)
                .where(UploadPiece.upload_id == claim.upload_id)
                .order_by(UploadPiece.start, UploadPiece.end)
            )
        ]
    if not pieces and claim.direct_upload:
        await storage.download(direct_key(claim.upload_id), dest)
        return
    written = 0
    part = workdir / "piece"
    with dest.open("wb") as out:
        for start, end in pieces:
            if end <= written:
                continue  # wholly covered by ranges already joined
            if start > written:
                raise ProbeRejected("upload_incomplete", f"Bytes from {written} are missing.")
            await storage.download(piece_key(claim.upload_id, start, end), part)
            with part.open("rb") as src:
                src.seek(written - start)
                await asyncio.to_thread(shutil.copyfileobj, src, out, 1024 * 1024)
            written = end
            part.unlink()


async def keep_original(rt: Runtime, claim: Claim, source: Path, info: SourceInfo) -> None:
    """Store the accepted original and its probe, then drop the upload's ranges."""
    await rt.storage.put_file(original_key(claim.video_id), source, "application/octet-stream")
    async with rt.unit_of_work() as session:
        video = await _locked_video(session, claim)
        video.source_info = asdict(info)
        video.duration = round(info.duration, 3)
        video.width = info.width
        video.height = info.height
    # The range rows stay (they are the upload's history); their objects are no longer needed.
    if claim.upload_id:
        await rt.storage.delete_prefix(f"uploads/{claim.upload_id}/")
    claim.source_stored = True


# -- publishing --------------------------------------------------------------------------------
async def _store_files(rt: Runtime, directory: Path, files: list[str], prefix: str) -> None:
    gate = asyncio.Semaphore(8)

    async def put(name: str) -> None:
        async with gate:
            await rt.storage.put_file(prefix + name, directory / name, content_type_for(name))

    await asyncio.gather(*(put(name) for name in files))


async def store_rendition(rt: Runtime, claim: Claim, hls: HlsRendition) -> dict[str, Any]:
    prefix = f"{video_prefix(claim.video_id)}hls/{hls.rung.name}/"
    # In any order: nothing points at these files until `publish_rungs` names the rung.
    await _store_files(rt, hls.directory, hls.files, prefix)
    return {
        "name": hls.rung.name,
        "width": hls.width,
        "height": hls.height,
        "bandwidth": hls.bandwidth,
        "average_bandwidth": hls.average_bandwidth,
        "codecs": hls.codecs,
        "frame_rate": round(hls.frame_rate, 3),
        "playlist_key": prefix + hls.playlist,
    }


async def publish_rungs(
    rt: Runtime,
    claim: Claim,
    renditions: list[dict[str, Any]],
    *,
    thumbnails: dict[str, Any] | None = None,
    mp4_key: str | None = None,
    final: bool = False,
) -> None:
    """Make stored rungs playable: one short transaction, only while we hold the lease."""
    async with rt.unit_of_work() as session:
        video = await _locked_video(session, claim)
        by_name = {r["name"]: r for r in video.renditions or []}
        by_name.update({r["name"]: r for r in renditions})
        video.renditions = sorted(by_name.values(), key=lambda r: r["height"] * r["width"])
        if thumbnails is not None:
            video.thumbnails = thumbnails
        if mp4_key is not None:
            video.mp4_key = mp4_key
        video.status = VideoStatus.READY.value
        if video.published_at is None:
            video.published_at = utcnow()
            await accounts.adjust_counts(session, video.user_id, videos=1)
        if final:
            video.job_state = JobState.DONE.value
            video.progress = 100
            video.lease_owner = None
            video.lease_until = None
            video.error_code = video.error_detail = None
            publish_event(session, VideoProcessed(video_id=video.id, user_id=video.user_id))
    claim.published = [*claim.published, *renditions]


def mark_failed(video: Video, code: str, detail: str) -> None:
    """Processing stops for good; rungs already published stay playable."""
    if not video.renditions:
        video.status = VideoStatus.FAILED.value
    video.job_state = JobState.FAILED.value
    video.error_code = code
    video.error_detail = detail[:500]
    video.lease_owner = None
    video.lease_until = None
    # Both callers hold the video in their transaction: the event commits with the failure.
    session = async_object_session(video)
    if session is not None:
        publish_event(
            session, VideoFailed(video_id=video.id, user_id=video.user_id, error_code=code)
        )


async def fail(rt: Runtime, claim: Claim, code: str, detail: str) -> None:
    async with rt.unit_of_work() as session:
        mark_failed(await _locked_video(session, claim), code, detail)
    log.info("video %s failed: %s (%s)", claim.video_id, code, detail)


async def release(rt: Runtime, claim: Claim) -> None:
    """Give the lease back after an unexpected error so the job's retry can claim it at once."""
    async with rt.unit_of_work() as session:
        await session.execute(
            update(Video)
            .where(Video.id == claim.video_id, Video.lease_owner == claim.token)
            .values(lease_owner=None, lease_until=utcnow(), job_state=JobState.QUEUED.value)
        )


# -- the job -----------------------------------------------------------------------------------
def _cost(rungs: list[Rung]) -> float:
    return float(sum(r.width * r.height * r.fps for r in rungs))


def _scaled(
    report: Callable[[float], None], start: float, share: float
) -> Callable[[float], Awaitable[None]]:
    async def on_progress(fraction: float) -> None:
        report(start + share * max(0.0, min(1.0, fraction)))

    return on_progress


async def process_video(rt: Runtime, video_id: str) -> None:
    """Run (or resume) the processing of one video. Safe to run twice: only the lease holder
    works, and rungs already published are not encoded again."""
    claim = await claim_video(rt, video_id)
    if claim is None:
        return
    if claim.attempt > rt.settings.processing_max_attempts:
        await fail(rt, claim, "processing_failed", f"Processing failed {claim.attempt - 1} times.")
        return
    work_root = rt.settings.data_dir / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=work_root))
    try:
        async with heartbeat(rt, claim) as beat:
            await _run(rt, claim, beat, workdir)
    except ProbeRejected as rejected:
        await fail(rt, claim, rejected.code, rejected.detail)
    except FFmpegError as error:
        code = "transcode_timeout" if error.code == "ffmpeg_timeout" else "transcode_failed"
        await fail(rt, claim, code, "The video could not be transcoded: " + error.detail)
    except LeaseLost:
        log.info("video %s: lease lost, stopping", video_id)
        await _clean_if_deleted(rt, video_id)
    except Exception:
        with contextlib.suppress(Exception):
            await release(rt, claim)
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _run(rt: Runtime, claim: Claim, beat: Heartbeat, workdir: Path) -> None:
    ff = ffmpeg_for(rt)
    source = workdir / "source"
    await fetch_source(rt, claim, source, workdir)
    info = await asyncio.to_thread(
        probe_source, source, max_duration=rt.settings.video_max_duration_seconds
    )
    if not claim.source_stored:
        await keep_original(rt, claim, source, info)
    ladder = plan_ladder(info)
    done = {r["name"] for r in claim.published}
    todo = [rung for rung in ladder if rung.name not in done]
    # Fast publish: the lowest rung alone first, so a short clip plays within seconds; the rest
    # in one pass that decodes the source once.
    passes = [todo[:1], todo[1:]] if not done else [todo]
    total = _cost(todo) or 1.0
    at = 0.0
    mp4_rung = max((r for r in ladder if r.height * r.width <= 1280 * 720), key=_area, default=None)
    mp4_rung = mp4_rung or ladder[0]
    for index, rungs in enumerate(p for p in passes if p):
        share = (1 - THUMBNAIL_SHARE) * _cost(rungs) / total
        outputs = await encode_rungs(
            ff, source, info, rungs, workdir, on_progress=_scaled(beat.report, at, share)
        )
        at += share
        renditions = []
        for rung in rungs:
            hls = await package_hls(ff, outputs[rung.name], rung, workdir / "hls" / rung.name)
            renditions.append(await store_rendition(rt, claim, hls))
        mp4_key = None
        if mp4_rung.name in outputs:
            mp4_key = f"{video_prefix(claim.video_id)}{mp4_rung.name}.mp4"
            await rt.storage.put_file(mp4_key, outputs[mp4_rung.name], "video/mp4")
        # Playable first; the poster and storyboard follow a couple of seconds later.
        await publish_rungs(rt, claim, renditions, mp4_key=mp4_key)
        if index == 0 and not claim.has_thumbnails:
            smallest = outputs[rungs[0].name]  # the sprite decodes this, not the whole upload
            thumbnails = await _thumbnails(rt, ff, claim, source, smallest, info, workdir)
            await publish_rungs(rt, claim, [], thumbnails=thumbnails)
            claim.has_thumbnails = True
            at += THUMBNAIL_SHARE
            beat.report(at)
        for path in outputs.values():
            path.unlink(missing_ok=True)
    beat.stop()
    await publish_rungs(rt, claim, [], final=True)


def _area(rung: Rung) -> int:
    return rung.width * rung.height


async def _thumbnails(
    rt: Runtime,
    ff: FFmpeg,
    claim: Claim,
    source: Path,
    smallest_rung: Path,
    info: SourceInfo,
    workdir: Path,
) -> dict[str, Any]:
    thumbs = await make_thumbnails(
        ff, source, info, workdir / "thumbs", sprite_source=smallest_rung
    )
    prefix = f"{video_prefix(claim.video_id)}thumbs/"
    posters = {}
    for width, path in thumbs.posters.items():
        key = f"{prefix}poster-{width}.webp"
        await rt.storage.put_file(key, path, "image/webp")
        posters[str(width)] = key
    await rt.storage.put_file(prefix + thumbs.sprite.name, thumbs.sprite, "image/jpeg")
    await rt.storage.put_file(prefix + "storyboard.vtt", thumbs.sprite_vtt, "text/vtt")
    return {
        "posters": posters,
        "poster_time": thumbs.poster_time,
        "sprite_key": prefix + thumbs.sprite.name,
        "storyboard_key": prefix + "storyboard.vtt",
    }


async def _clean_if_deleted(rt: Runtime, video_id: str) -> None:
    """A video deleted while we worked: remove whatever we stored after its files were swept."""
    async with rt.unit_of_work(write=False) as session:
        exists = await session.scalar(select(Video.id).where(Video.id == video_id))
    if exists is None:
        await delete_video_files(rt, video_id)


async def delete_video_files(rt: Runtime, video_id: str) -> None:
    await rt.storage.delete_prefix(video_prefix(video_id))
    with contextlib.suppress(ObjectNotFound):
        await rt.storage.delete_prefix(f"originals/{video_id}/")


STALE_SPOOL_SECONDS = 3600


async def sweep_local_leftovers(rt: Runtime) -> int:
    """What a killed process leaves on this machine's disk: work folders of jobs no longer
    running under a live lease, and half-received chunks. Run as a job consumer starts."""
    data_dir = rt.settings.data_dir
    work = data_dir / "work"
    entries = await asyncio.to_thread(lambda: list(work.iterdir()) if work.is_dir() else [])
    removed = 0
    if entries:
        owners = {entry.name.split("-", 1)[0] for entry in entries}
        async with rt.unit_of_work(write=False) as session:
            live = set(
                await session.scalars(
                    select(Video.id).where(
                        Video.id.in_(owners),
                        Video.job_state == JobState.RUNNING.value,
                        Video.lease_until > utcnow(),
                    )
                )
            )
        for entry in entries:
            if entry.name.split("-", 1)[0] not in live:
                await asyncio.to_thread(shutil.rmtree, entry, True)
                removed += 1

    def stale_spools() -> int:
        spool = data_dir / "tmp"
        if not spool.is_dir():
            return 0
        cutoff = time.time() - STALE_SPOOL_SECONDS
        stale = [p for p in spool.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    removed += await asyncio.to_thread(stale_spools)
    if removed:
        log.info("removed %d leftovers of interrupted work", removed)
    return removed
