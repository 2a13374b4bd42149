"""Resumable uploads: sessions, byte ranges stored as objects, completion.

Every stored range is its own object (`uploads/{upload_id}/{start}-{end}`) and its own row, so a
chunk sent twice is stored once, chunks may come in any order or concurrently, and a restart
loses nothing that was acknowledged. The job that processes the video joins the ranges.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from reelstack.accounts import service as accounts
from reelstack.db import insert_ignoring_conflicts, utcnow
from reelstack.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from reelstack.events import VideoUploaded
from reelstack.infra.events import publish
from reelstack.infra.storage import ObjectNotFound, direct_uploads
from reelstack.media.models import (
    JobState,
    UploadPiece,
    UploadProtocol,
    UploadSession,
    UploadState,
    Video,
    VideoStatus,
)
from reelstack.media.schemas import UploadInitRequest, VideoDetails, normalise_hashtags
from reelstack.search.text import CAPTION_HASHTAG

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

S3_MIN_PART = 5 * 1024 * 1024
S3_MAX_PARTS = 10_000
VIDEO_EXTENSIONS = frozenset(
    {
        "mp4", "m4v", "mov", "qt", "3gp", "3g2", "webm", "mkv", "avi", "ts", "mts", "m2ts",
        "mpg", "mpeg", "flv", "ogv", "ogg",
    }
)  # fmt: skip
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def piece_key(upload_id: str, start: int, end: int) -> str:
    return f"uploads/{upload_id}/{start:013d}-{end:013d}"


def direct_key(upload_id: str) -> str:
    """Where a direct (S3 multipart) upload lands."""
    return f"uploads/{upload_id}/original"


# -- byte ranges -------------------------------------------------------------------------------
def merge_ranges(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open [start, end) ranges joined where they touch or overlap."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def missing_ranges(received: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    gaps: list[tuple[int, int]] = []
    at = 0
    for start, end in received:
        if start > at:
            gaps.append((at, start))
        at = max(at, end)
    if at < total:
        gaps.append((at, total))
    return gaps


def contiguous_offset(received: list[tuple[int, int]]) -> int:
    """How many bytes from the start are stored without a gap (tus's Upload-Offset)."""
    return received[0][1] if received and received[0][0] == 0 else 0


def parse_content_range(header: str | None, total_bytes: int) -> tuple[int, int]:
    """`bytes a-b/total` -> half-open [a, b+1), checked against the declared size."""
    match = CONTENT_RANGE.fullmatch((header or "").strip())
    if not match:
        raise BadRequest(
            "Send each chunk with a header `Content-Range: bytes first-last/total`.",
            code="invalid_content_range",
        )
    first, last, total = (int(g) for g in match.groups())
    if total != total_bytes:
        raise BadRequest(
            f"Content-Range says the file has {total} bytes; this upload declared {total_bytes}.",
            code="content_range_mismatch",
        )
    if last < first or last >= total_bytes:
        raise AppError(
            f"Bytes {first}-{last} are outside a file of {total_bytes} bytes.",
            code="range_not_satisfiable",
            status=416,
            headers={"Content-Range": f"bytes */{total_bytes}"},
        )
    return first, last + 1


# -- sessions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewUpload:
    video: Video
    upload: UploadSession
    parts: list[tuple[int, str, int, int]]  # (part number, URL, first byte, last byte)


def _check_declared_file(rt: Runtime, mime_type: str, filename: str, size: int, cap: int) -> None:
    settings = rt.settings
    if size > cap:
        raise PayloadTooLarge(
            f"Videos may be at most {cap} bytes; this one is {size}.",
            code="file_too_large",
            max_bytes=cap,
        )
    mime = mime_type.split(";")[0].strip().lower()
    if mime not in settings.allowed_upload_types:
        raise UnsupportedMediaType(
            f"{mime_type!r} is not a video type we accept.", code="unsupported_media_type"
        )
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in VIDEO_EXTENSIONS:
        raise UnsupportedMediaType(
            f"{filename!r} does not have a video file extension "
            f"({', '.join(sorted(VIDEO_EXTENSIONS))}).",
            code="unsupported_file_type",
        )


async def _check_quota(session: AsyncSession, rt: Runtime, user_id: str) -> None:
    since = utcnow() - timedelta(days=1)
    recent = list(
        await session.scalars(
            select(Video.created_at)
            .where(Video.user_id == user_id, Video.created_at > since)
            .order_by(Video.created_at)
        )
    )
    limit = rt.settings.uploads_per_day
    if len(recent) >= limit:
        frees_at = recent[len(recent) - limit] + timedelta(days=1)
        retry_after = max(1, math.ceil((frees_at - utcnow()).total_seconds()))
        error = RateLimited(retry_after, f"You can upload {limit} videos a day; try again later.")
        error.code = "upload_quota_exceeded"
        raise error


def _hashtags_with_caption(details: VideoDetails) -> list[str]:
    return normalise_hashtags(details.hashtags + CAPTION_HASHTAG.findall(details.caption))


def _part_size(total: int, chunk_size: int) -> int:
    size = max(chunk_size, S3_MIN_PART)
    if math.ceil(total / size) > S3_MAX_PARTS:
        size = math.ceil(total / S3_MAX_PARTS / (1024 * 1024)) * 1024 * 1024
    return size


async def create_upload(
    session: AsyncSession,
    rt: Runtime,
    user_id: str,
    request: UploadInitRequest,
    *,
    protocol: UploadProtocol,
    size_cap: int | None = None,
) -> NewUpload:
    """A video row in `uploading` and a session to send its bytes to (seed 004 `upload/init`)."""
    settings = rt.settings
    _check_declared_file(
        rt, request.mime_type, request.filename, request.file_size,
        size_cap or settings.upload_max_bytes,
    )  # fmt: skip
    # Parallel inits of one user queue here, so none of them counts past the quota.
    await accounts.lock_users(session, [user_id])
    await _check_quota(session, rt, user_id)
    if request.sound_id is not None:
        # Imported here: the sounds feature builds on media's services (404 `sound_not_found`).
        from reelstack.sounds.service import usable_sound

        await usable_sound(session, user_id, request.sound_id)
    video = Video(
        user_id=user_id,
        caption=request.caption,
        description=request.description,
        hashtags=_hashtags_with_caption(request),
        category=request.category,
        visibility=request.visibility.value,
        allow_comments=request.allow_comments,
        sound_id=request.sound_id,
        sound_mode=request.sound_mode.value if request.sound_id is not None else None,
    )
    session.add(video)
    await session.flush()
    upload = UploadSession(
        video_id=video.id,
        user_id=user_id,
        protocol=protocol.value,
        total_bytes=request.file_size,
        mime_type=request.mime_type[:100],
        filename=os.path.basename(request.filename)[:255] or "video",
        chunk_size=settings.upload_chunk_size,
        expires_at=utcnow() + timedelta(seconds=settings.upload_session_ttl_seconds),
    )
    session.add(upload)
    await session.flush()
    parts: list[tuple[int, str, int, int]] = []
    direct = direct_uploads(rt.storage)
    if direct is not None and protocol is UploadProtocol.CHUNKED:
        # Parts go straight to the bucket; they must be 5 MiB or more, except the last.
        upload.chunk_size = _part_size(upload.total_bytes, upload.chunk_size)
        upload.s3_upload_id = await direct.start_multipart(direct_key(upload.id), "video/*")
        ttl = settings.upload_session_ttl_seconds
        for number, start in enumerate(range(0, upload.total_bytes, upload.chunk_size), 1):
            end = min(start + upload.chunk_size, upload.total_bytes) - 1
            url = direct.presign_part(direct_key(upload.id), upload.s3_upload_id, number, ttl)
            parts.append((number, url, start, end))
    return NewUpload(video, upload, parts)


async def owned_upload(
    session: AsyncSession, user_id: str, upload_id: str, *, lock: bool = False
) -> UploadSession:
    """The viewer's own upload session; anybody else's is answered as if it did not exist."""
    query = select(UploadSession).where(UploadSession.id == upload_id)
    if lock:
        query = query.with_for_update()
    upload = await session.scalar(query)
    if upload is None or upload.user_id != user_id:
        raise NotFound("No such upload.", code="upload_not_found")
    return upload


async def received_ranges(session: AsyncSession, upload_id: str) -> list[tuple[int, int]]:
    rows = await session.execute(
        select(UploadPiece.start, UploadPiece.end).where(UploadPiece.upload_id == upload_id)
    )
    return merge_ranges([(s, e) for s, e in rows])


def _check_open(upload: UploadSession) -> None:
    if upload.state != UploadState.OPEN.value:
        raise Conflict(
            "This upload is complete; its video is being processed.",
            code="upload_already_completed",
        )
    if upload.expires_at < utcnow():
        raise AppError("This upload expired; start a new one.", code="upload_expired", status=410)


async def open_upload(rt: Runtime, user_id: str, upload_id: str) -> UploadSession:
    async with rt.unit_of_work(write=False) as session:
        upload = await owned_upload(session, user_id, upload_id)
        _check_open(upload)
        return upload


def spool_dir(rt: Runtime) -> Path:
    """Where request bodies are written before they are moved into storage; leftovers of a
    killed process are swept by `processing.sweep_local_leftovers`."""
    spool = rt.settings.data_dir / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    return spool


async def spool_body(
    rt: Runtime, body: AsyncIterator[bytes], *, limit: int
) -> tuple[Path, int, bool]:
    """Write a request body of at most `limit` bytes to a temporary file beside the stored
    objects; returns the file, its length and whether the body ended normally (False: the
    client went away mid-body)."""
    fd, name = tempfile.mkstemp(prefix="chunk-", dir=spool_dir(rt))
    path = Path(name)
    size = 0
    complete = True
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                async for block in body:
                    size += len(block)
                    if size > limit:
                        raise _TooMuch()
                    out.write(block)
            except _ClientGone:
                complete = False
    except _TooMuch:
        _discard(path)
        raise BadRequest(
            f"The body is longer than the {limit} bytes its range declares.",
            code="content_length_mismatch",
        ) from None
    except BaseException:
        _discard(path)
        raise
    return path, size, complete


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


class _TooMuch(Exception):
    """The body ran past the bytes its range declared."""


class _ClientGone(Exception):
    """The client disconnected before the end of its body."""


async def body_stream(receive_stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Starlette's request stream, with a disconnect turned into `_ClientGone`."""
    try:
        async for block in receive_stream:
            if block:
                yield block
    except ClientDisconnect:
        raise _ClientGone() from None


async def store_piece(
    rt: Runtime, upload: UploadSession, start: int, path: Path, size: int
) -> list[tuple[int, int]]:
    """Move a spooled range into storage, then record it; a range stored twice is one row.
    Returns every range the upload now holds."""
    if size == 0:
        _discard(path)
        async with rt.unit_of_work(write=False) as session:
            return await received_ranges(session, upload.id)
    key = piece_key(upload.id, start, start + size)
    try:
        await rt.storage.move_file(key, path, "application/octet-stream")
    finally:
        _discard(path)
    async with rt.unit_of_work() as session:
        current = await session.scalar(
            select(UploadSession.state).where(UploadSession.id == upload.id)
        )
        if current is None:
            # Terminated or purged while this chunk was in flight: take its object back too.
            await rt.storage.delete(key)
            raise NotFound("No such upload.", code="upload_not_found")
        await session.execute(
            insert_ignoring_conflicts(session, UploadPiece.__table__).values(
                upload_id=upload.id, start=start, end=start + size, created_at=utcnow()
            )
        )
        return await received_ranges(session, upload.id)


async def put_chunk(
    rt: Runtime,
    user_id: str,
    upload_id: str,
    content_range: str | None,
    body: AsyncIterator[bytes],
) -> tuple[UploadSession, list[tuple[int, int]]]:
    """Store one chunk; sending the same range again is harmless."""
    upload = await open_upload(rt, user_id, upload_id)
    start, end = parse_content_range(content_range, upload.total_bytes)
    if end - start > rt.settings.upload_max_chunk_bytes:
        raise PayloadTooLarge(
            f"Chunks may be at most {rt.settings.upload_max_chunk_bytes} bytes.",
            code="chunk_too_large",
            max_bytes=rt.settings.upload_max_chunk_bytes,
        )
    path, size, finished = await spool_body(rt, body_stream(body), limit=end - start)
    if not finished or size != end - start:
        _discard(path)
        raise BadRequest(
            f"Content-Range announces {end - start} bytes but the body had {size}.",
            code="content_length_mismatch",
        )
    return upload, await store_piece(rt, upload, start, path, size)


async def append_tus(
    rt: Runtime, user_id: str, upload_id: str, offset: int, body: AsyncIterator[bytes]
) -> tuple[UploadSession, int]:
    """A tus PATCH: bytes at `offset`, which must be where the upload stands. Whatever arrived
    before a dropped connection is kept, as tus asks."""
    async with rt.unit_of_work(write=False) as session:
        upload = await owned_upload(session, user_id, upload_id)
        _check_open(upload)
        current = contiguous_offset(await received_ranges(session, upload.id))
    if offset != current:
        raise Conflict(
            f"Upload-Offset is {offset} but the upload stands at {current}.",
            code="offset_mismatch",
            headers={"Upload-Offset": str(current)},
        )
    remaining = upload.total_bytes - offset
    path, size, _ = await spool_body(rt, body_stream(body), limit=remaining)
    await store_piece(rt, upload, offset, path, size)
    return upload, offset + size


async def store_whole_file(
    rt: Runtime, user_id: str, request: UploadInitRequest, file: BinaryIO
) -> Video:
    """A one-request upload: session, the file as its only range, completion."""
    async with rt.unit_of_work() as session:
        new = await create_upload(
            session,
            rt,
            user_id,
            request,
            protocol=UploadProtocol.MULTIPART,
            size_cap=rt.settings.upload_simple_max_bytes,
        )
    fd, name = tempfile.mkstemp(prefix="whole-", dir=spool_dir(rt))
    with os.fdopen(fd, "wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, file, out, 1024 * 1024)
    await store_piece(rt, new.upload, 0, Path(name), request.file_size)
    async with rt.unit_of_work() as session:
        return await complete_upload(session, rt, user_id, new.upload.id)


@dataclass(frozen=True)
class Progress:
    upload: UploadSession
    received: list[tuple[int, int]]

    @property
    def bytes_uploaded(self) -> int:
        return sum(end - start for start, end in self.received)

    @property
    def missing(self) -> list[tuple[int, int]]:
        return missing_ranges(self.received, self.upload.total_bytes)


async def _direct_parts(rt: Runtime, upload: UploadSession) -> list[tuple[int, int, str]]:
    """Parts of a direct upload already in the bucket at the size the plan gives them."""
    direct = direct_uploads(rt.storage)
    if direct is None or upload.s3_upload_id is None:
        return []
    try:
        parts = await direct.list_parts(direct_key(upload.id), upload.s3_upload_id)
    except ObjectNotFound:
        return []
    whole = []
    for number, size, etag in parts:
        start = (number - 1) * upload.chunk_size
        if start < upload.total_bytes and size == min(
            upload.chunk_size, upload.total_bytes - start
        ):
            whole.append((number, size, etag))
    return whole


def _part_ranges(upload: UploadSession, parts: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    return [
        ((n - 1) * upload.chunk_size, (n - 1) * upload.chunk_size + size) for n, size, _ in parts
    ]


async def upload_progress(
    session: AsyncSession, rt: Runtime, user_id: str, upload_id: str
) -> Progress:
    """What is stored: ranges sent through the API and, with S3, parts sent to the bucket."""
    upload = await owned_upload(session, user_id, upload_id)
    if upload.state == UploadState.COMPLETE.value:
        return Progress(upload, [(0, upload.total_bytes)])
    received = await received_ranges(session, upload.id)
    if upload.s3_upload_id:
        received = merge_ranges(received + _part_ranges(upload, await _direct_parts(rt, upload)))
    return Progress(upload, received)


async def _finish_direct_upload(
    rt: Runtime, upload: UploadSession, parts: list[tuple[int, int, str]]
) -> bool:
    """With S3 storage: if every planned part is in the bucket, join them into one object."""
    direct = direct_uploads(rt.storage)
    if direct is None or upload.s3_upload_id is None:
        return False
    expected = math.ceil(upload.total_bytes / upload.chunk_size)
    if {number for number, _, _ in parts} != set(range(1, expected + 1)):
        return False
    await direct.complete_multipart(
        direct_key(upload.id), upload.s3_upload_id, [(n, etag) for n, _, etag in parts]
    )
    return True


async def complete_upload(
    session: AsyncSession, rt: Runtime, user_id: str, upload_id: str
) -> Video:
    """Every byte is stored: hand the video to processing. Refused while bytes are missing."""
    upload = await owned_upload(session, user_id, upload_id, lock=True)
    _check_open(upload)
    received = await received_ranges(session, upload.id)
    gaps = missing_ranges(received, upload.total_bytes)
    direct = direct_uploads(rt.storage)
    if upload.s3_upload_id and direct is not None and not gaps:
        # The bytes came through the API: the bucket's multipart upload is not needed.
        await direct.abort_multipart(direct_key(upload.id), upload.s3_upload_id)
    elif gaps and upload.s3_upload_id:
        parts = await _direct_parts(rt, upload)
        if not await _finish_direct_upload(rt, upload, parts):
            received = merge_ranges(received + _part_ranges(upload, parts))
            gaps = missing_ranges(received, upload.total_bytes)
        else:
            gaps = []
    if gaps:
        shown = [{"start": s, "end": e - 1} for s, e in gaps[:20]]
        raise Conflict(
            f"{sum(e - s for s, e in gaps)} of {upload.total_bytes} bytes are still missing.",
            code="upload_incomplete",
            missing=shown,
        )
    video = await session.get_one(Video, upload.video_id, with_for_update=True)
    upload.state = UploadState.COMPLETE.value
    upload.completed_at = utcnow()
    video.status = VideoStatus.PROCESSING.value
    video.job_state = JobState.QUEUED.value
    video.progress = 0
    # If the job is lost before a worker takes it, the sweeper finds the lapsed lease.
    video.lease_until = utcnow() + timedelta(seconds=rt.settings.processing_lease_seconds)
    publish(session, VideoUploaded(video_id=video.id, user_id=video.user_id))
    return video


async def delete_upload(session: AsyncSession, user_id: str, upload_id: str) -> str:
    """tus termination: an upload not yet complete is dropped with its video row."""
    upload = await owned_upload(session, user_id, upload_id, lock=True)
    if upload.state != UploadState.OPEN.value:
        raise Conflict(
            "This upload is complete; delete the video instead.", code="upload_already_completed"
        )
    await session.execute(delete(Video).where(Video.id == upload.video_id))
    return upload.id


async def expired_uploads(session: AsyncSession, now: datetime, limit: int) -> list[UploadSession]:
    return list(
        await session.scalars(
            select(UploadSession)
            .where(UploadSession.state == UploadState.OPEN.value, UploadSession.expires_at < now)
            .limit(limit)
        )
    )
