"""The processing job: probe, then one or two ffmpeg runs over the upload (`passes`). The lowest
rung is published while it is written. On a machine that encodes the ladder near real time one
run makes every rung and the thumbnails; on a slower one the first run makes the lowest rung
and the thumbnails, and the second the rest of the ladder while the first rung is published
whole. Every rung is published when its run ends (a re-run that only has higher rungs left
makes them in one run).

A job holds a lease on its video and renews it while it works. A worker killed mid-transcode
stops renewing; the sweeper sees the lapsed lease and queues the job again. A finished rung is
published (written to the video row) only after all its files are stored. The one rung shown
while it grows (`live` on the row, an EVENT playlist) lists only stored, complete segments; a
re-run retracts a dead attempt's growing rung and deletes its files before encoding again, so
nothing half-made outlives the attempt that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_object_session

from reelstack.accounts import service as accounts
from reelstack.db import utcnow
from reelstack.events import VideoFailed, VideoProcessed
from reelstack.infra.events import publish as publish_event
from reelstack.infra.storage import ObjectNotFound, content_type_for
from reelstack.media.ffmpeg import FFmpeg, FFmpegError, ProgressCallback, ffmpeg_executable
from reelstack.media.ladder import INIT_SEGMENT, PLAYLIST, HlsRendition, Rung, plan_ladder
from reelstack.media.lease import (
    Claim,
    Heartbeat,
    LeaseLost,
    claim_video,
    heartbeat,
    locked_video,
    release,
)
from reelstack.media.models import JobState, UploadPiece, Video, VideoStatus
from reelstack.media.passes import (
    known_throughput,
    pass_weight,
    plan_passes,
    predicted_speed,
    remember_throughput,
)
from reelstack.media.probe import ProbeRejected, SourceInfo, probe_source
from reelstack.media.progressive import (
    PLAYLIST_POLL_SECONDS,
    LiveRung,
    SoundTrack,
    encode_ladder,
    finish_rung,
    progressive_mp4,
    rung_dir,
)
from reelstack.media.thumbnails import Thumbnails, ThumbnailTaps, finish_taps, plan_taps
from reelstack.media.uploads import direct_key, piece_key
from reelstack.sounds.audio import fetch_reused_sound

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

ENCODE_SHARE = 0.97  # of the progress bar; storing and publishing take the rest


def original_key(video_id: str) -> str:
    """The upload as received; kept for reprocessing, never served."""
    return f"originals/{video_id}/source"


def video_prefix(video_id: str) -> str:
    return f"videos/{video_id}/"


def rung_prefix(video_id: str, rung: str) -> str:
    return f"{video_prefix(video_id)}hls/{rung}/"


def ffmpeg_for(rt: Runtime) -> FFmpeg:
    settings = rt.settings
    return FFmpeg(
        executable=ffmpeg_executable(settings.ffmpeg_path),
        threads=settings.ffmpeg_threads or os.cpu_count() or 2,
        timeout_seconds=settings.ffmpeg_timeout_seconds,
        memory_limit_bytes=settings.ffmpeg_memory_limit_mib * 1024 * 1024,
    )


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
        video = await locked_video(session, claim)
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
    """Move finished files into storage (a rename where it can be: the work dir goes anyway)."""
    gate = asyncio.Semaphore(8)

    async def put(name: str) -> None:
        async with gate:
            await rt.storage.move_file(prefix + name, directory / name, content_type_for(name))

    await asyncio.gather(*(put(name) for name in files))


async def store_rendition(
    rt: Runtime, claim: Claim, hls: HlsRendition, *, stored: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Store a finished rung's files (but `stored`, already there) and describe it for the row."""
    prefix = rung_prefix(claim.video_id, hls.rung.name)
    # The playlist last: a rung stored in part has none, and nothing points at it until
    # `publish_rungs` names it anyway.
    await _store_files(rt, hls.directory, [n for n in hls.files[:-1] if n not in stored], prefix)
    await rt.storage.move_file(
        prefix + hls.playlist, hls.directory / hls.playlist, content_type_for(hls.playlist)
    )
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
        video = await locked_video(session, claim)
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
    names = {r["name"] for r in renditions}
    claim.published = [*(r for r in claim.published if r["name"] not in names), *renditions]


def mark_failed(video: Video, code: str, detail: str) -> None:
    """Processing stops for good; finished rungs already published stay playable, a rung
    that was still growing is withdrawn (it would never end)."""
    video.renditions = [r for r in video.renditions or [] if not r.get("live")]
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
        video = await locked_video(session, claim)
        withdrawn = [r["name"] for r in video.renditions or [] if r.get("live")]
        mark_failed(video, code, detail)
    for name in withdrawn:
        await rt.storage.delete_prefix(rung_prefix(claim.video_id, name))
    log.info("video %s failed: %s (%s)", claim.video_id, code, detail)


async def retract_unfinished(rt: Runtime, claim: Claim) -> None:
    """Undo what a dead attempt left half-made: its growing rung leaves the row (the video is
    not playable again until this attempt's rung is), then that rung's files go."""
    live = [r["name"] for r in claim.published if r.get("live")]
    if not live:
        return
    async with rt.unit_of_work() as session:
        video = await locked_video(session, claim)
        video.renditions = [r for r in video.renditions or [] if not r.get("live")]
        if not video.renditions:
            video.status = VideoStatus.PROCESSING.value
    claim.published = [r for r in claim.published if not r.get("live")]
    for name in live:
        await rt.storage.delete_prefix(rung_prefix(claim.video_id, name))
    log.info("video %s: withdrew the unfinished %s of an interrupted attempt", claim.video_id, live)


# -- the job -----------------------------------------------------------------------------------
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
    await retract_unfinished(rt, claim)
    ff = ffmpeg_for(rt)
    source = workdir / "source"
    await fetch_source(rt, claim, source, workdir)
    info = await asyncio.to_thread(
        probe_source, source, max_duration=rt.settings.video_max_duration_seconds
    )
    if not claim.source_stored:
        await keep_original(rt, claim, source, info)
    sound = await fetch_reused_sound(rt, claim.video_id, workdir)
    ladder = plan_ladder(info)
    done = {r["name"] for r in claim.published}
    todo = [rung for rung in ladder if rung.name not in done]
    # Files of rungs to encode are referenced by nothing; an earlier attempt may have left some.
    for rung in todo:
        await rt.storage.delete_prefix(rung_prefix(claim.video_id, rung.name))
    mp4_rung = max((r for r in ladder if r.height * r.width <= 1280 * 720), key=_area, default=None)
    mp4_rung = mp4_rung or ladder[0]
    taps = None if claim.has_thumbnails or not todo else plan_taps(info, workdir / "thumbs")
    # A video nobody can play yet has its lowest rung shown while it is written: in the one
    # pass over the source when this machine encodes fast enough for viewers to stay behind
    # it, or else from a pass of its own (with the thumbnails), with one more pass then making
    # the rest while the first rung is published whole (`passes`). One that already plays (a
    # re-run after its first rungs were finished) just gets the rest, in one pass.
    live = None
    throughput = await known_throughput(rt.cache)
    passes = plan_passes(info, todo, first_time=not done, throughput=throughput)
    if not done and todo:
        has_audio = info.has_audio or sound is not None
        live = LiveRung(todo[0], rung_dir(workdir, todo[0]), info.duration, has_audio)
        log.info(
            "video %s: %s (%s)", claim.video_id,
            "one pass" if len(passes) == 1 else "two passes, the lowest rung first",
            "no encode speed known yet" if throughput is None else
            f"this ladder predicted at {predicted_speed(info, todo, throughput):.2f}x",
        )  # fmt: skip
    weights = [pass_weight(info, rungs) for rungs in passes]
    encoding_seconds = 0.0
    finishing: list[asyncio.Task[None]] = []

    async def finish(rungs: list[Rung], *, thumbnails_too: bool, final: bool) -> None:
        finished = [await asyncio.to_thread(finish_rung, workdir, rung) for rung in rungs]

        async def store_ladder() -> tuple[list[dict[str, Any]], str | None]:
            mp4_key = None
            for hls in finished:
                if hls.rung == mp4_rung:  # before its segments move into storage
                    mp4 = await progressive_mp4(ff, hls, workdir / f"{mp4_rung.name}.mp4")
                    mp4_key = f"{video_prefix(claim.video_id)}{mp4_rung.name}.mp4"
                    await rt.storage.move_file(mp4_key, mp4, "video/mp4")
            renditions = [
                await store_rendition(rt, claim, hls, stored=_stored_early(live, hls.rung))
                for hls in finished
            ]
            return renditions, mp4_key

        async def store_thumbnails() -> dict[str, Any] | None:
            if taps is None or not thumbnails_too:
                return None
            return await _store_thumbnails(rt, claim, taps, info)

        # Picking the poster (in a thread) overlaps the MP4 remux and the storing of the rungs.
        (renditions, mp4_key), thumbnails = await asyncio.gather(store_ladder(), store_thumbnails())
        if final:
            beat.stop()
        await publish_rungs(
            rt, claim, renditions, thumbnails=thumbnails, mp4_key=mp4_key, final=final
        )

    try:
        for index, rungs in enumerate(passes):
            before, share = sum(weights[:index]) / sum(weights), weights[index] / sum(weights)
            following = live if index == 0 else None

            async def on_progress(
                fraction: float, before: float = before, share: float = share,
                following: LiveRung | None = following,
            ) -> None:  # fmt: skip
                beat.report(ENCODE_SHARE * (before + share * fraction))
                if following is not None:
                    following.observe(fraction * info.duration)

            pass_started = time.monotonic()
            await _encode_pass(
                rt, claim, ff, source, info, rungs, workdir,
                taps=taps if index == 0 else None, on_progress=on_progress, sound=sound,
                live=following,
            )  # fmt: skip
            encoding_seconds += time.monotonic() - pass_started
            if index < len(passes) - 1:
                # The next pass starts at once; this one's rungs are published meanwhile.
                publish = finish(rungs, thumbnails_too=index == 0, final=False)
                finishing.append(asyncio.create_task(publish))
        for task in finishing:
            await task
    except asyncio.CancelledError:
        for task in finishing:
            task.cancel()
        raise
    except Exception:
        # A later pass failed: a first rung that finished is still published (it plays).
        for task in finishing:
            with contextlib.suppress(Exception):
                await task
        raise
    try:
        await remember_throughput(rt.cache, sum(weights) * info.duration, encoding_seconds)
    except Exception:  # the next video's plan is a guess anyway; this one is done
        log.warning("could not record the encode speed", exc_info=True)
    await finish(passes[-1] if passes else [], thumbnails_too=len(passes) == 1, final=True)


async def _encode_pass(
    rt: Runtime,
    claim: Claim,
    ff: FFmpeg,
    source: Path,
    info: SourceInfo,
    rungs: list[Rung],
    workdir: Path,
    *,
    taps: ThumbnailTaps | None,
    on_progress: ProgressCallback,
    sound: SoundTrack | None,
    live: LiveRung | None,
) -> None:
    """One ffmpeg run over the source for `rungs`, following the live rung while it runs."""
    encode = asyncio.create_task(
        encode_ladder(
            ff, source, info, rungs, workdir, taps=taps, on_progress=on_progress, sound=sound
        )
    )
    try:
        if live is not None:
            live.started = time.monotonic()
            await _follow_live(rt, claim, live, encode)
        await encode
    finally:
        if not encode.done():  # the job is being cancelled, or following the rung failed
            encode.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await encode


async def _follow_live(
    rt: Runtime, claim: Claim, live: LiveRung, encode: asyncio.Task[None]
) -> None:
    """While ffmpeg runs: store each segment of the lowest rung as soon as it is complete, and
    publish the rung once viewers starting now would not catch up with the encoder."""
    prefix = rung_prefix(claim.video_id, live.rung.name)
    while not encode.done():
        await asyncio.wait({encode}, timeout=PLAYLIST_POLL_SECONDS)
        if encode.done():
            return  # finished or failed: the end of the job takes it from here
        new = await asyncio.to_thread(live.finished_segments)
        if new and not live.segments:
            init = live.directory / INIT_SEGMENT
            await rt.storage.put_file(prefix + INIT_SEGMENT, init, content_type_for(INIT_SEGMENT))
            await asyncio.to_thread(live.read_codecs)
        for name, seconds in new:
            # A copy: the finished rung is measured (and maybe joined into the MP4) at the end.
            await rt.storage.put_file(prefix + name, live.directory / name, content_type_for(name))
            live.segments.append((name, seconds))
        if (new and live.playable) or (not live.playable and live.can_play()):
            await publish_rungs(rt, claim, [live.rendition(prefix + PLAYLIST)])
            if not live.playable:
                live.playable = True
                log.info(
                    "video %s playable after %.1f s of %.1f s encoded at %.2fx",
                    claim.video_id, live.encoded, live.duration, live.speed(),
                )  # fmt: skip


def _stored_early(live: LiveRung | None, rung: Rung) -> frozenset[str]:
    """The files of `rung` already stored while it was being written."""
    if live is None or live.rung != rung or not live.segments:
        return frozenset()
    return frozenset([INIT_SEGMENT, *(name for name, _ in live.segments)])


def _area(rung: Rung) -> int:
    return rung.width * rung.height


async def _store_thumbnails(
    rt: Runtime, claim: Claim, taps: ThumbnailTaps, info: SourceInfo
) -> dict[str, Any]:
    thumbs: Thumbnails = await asyncio.to_thread(finish_taps, taps, info)
    prefix = f"{video_prefix(claim.video_id)}thumbs/"
    posters = {}
    for width, path in thumbs.posters.items():
        key = f"{prefix}poster-{width}.webp"
        await rt.storage.move_file(key, path, "image/webp")
        posters[str(width)] = key
    await rt.storage.move_file(prefix + thumbs.sprite.name, thumbs.sprite, "image/jpeg")
    await rt.storage.move_file(prefix + "storyboard.vtt", thumbs.sprite_vtt, "text/vtt")
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
