"""HTTP for videos: uploads (chunked, one-shot multipart), records, status, a creator's list."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, Header, Request, UploadFile, status

from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.errors import PayloadTooLarge, Unprocessable
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.media import service, uploads
from reelstack.media.hydrate import video_out_for, videos_out
from reelstack.media.models import UploadProtocol, UploadState
from reelstack.media.schemas import (
    ByteRange,
    ChunkResponse,
    CompleteResponse,
    DeletedResponse,
    PresignedPart,
    UpdateVideoRequest,
    UploadInitRequest,
    UploadInitResponse,
    VideoOut,
    VideoPage,
    VideoStatusResponse,
    upload_request_from_fields,
)
from reelstack.media.schemas import UploadState as UploadStateOut
from reelstack.media.views import status_out
from reelstack.middleware import BODY_LIMIT_KEY

router = Router(tags=["videos"])

# The configured caps are enforced by the service; these only let big bodies reach it.
CHUNK_BODY_LIMIT = 1024**3
SIMPLE_BODY_LIMIT = 256 * 1024**2


def _upload_url(upload_id: str) -> str:
    return f"/api/v1/videos/upload/{upload_id}/chunk"


@router.post("/videos/upload/init", status_code=status.HTTP_201_CREATED)
async def init_upload(
    body: UploadInitRequest, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> UploadInitResponse:
    """Start a resumable upload: checks the daily quota, the size and the declared type."""
    new = await uploads.create_upload(
        session, rt, viewer.user_id, body, protocol=UploadProtocol.CHUNKED
    )
    return UploadInitResponse(
        video_id=new.video.id,
        upload_id=new.upload.id,
        upload_url=_upload_url(new.upload.id),
        chunk_size=new.upload.chunk_size,
        expires_at=new.upload.expires_at,
        parts=[PresignedPart(part_number=n, url=u, start=s, end=e) for n, u, s, e in new.parts]
        or None,
    )


@router.put("/videos/upload/{upload_id}/chunk", openapi_extra={BODY_LIMIT_KEY: CHUNK_BODY_LIMIT})
async def put_chunk(
    upload_id: str,
    request: Request,
    viewer: Viewer,
    rt: RuntimeDep,
    content_range: Annotated[str | None, Header(description="bytes first-last/total")] = None,
) -> ChunkResponse:
    """Store one byte range. Ranges may come in any order; sending one again is harmless."""
    upload, received = await uploads.put_chunk(
        rt, viewer.user_id, upload_id, content_range, request.stream()
    )
    uploaded = sum(end - start for start, end in received)
    return ChunkResponse(
        bytes_uploaded=uploaded,
        total_bytes=upload.total_bytes,
        status="uploaded" if uploaded == upload.total_bytes else "uploading",
    )


@router.get("/videos/upload/{upload_id}")
async def upload_state(
    upload_id: str, viewer: Viewer, rt: RuntimeDep, session: ReadSession
) -> UploadStateOut:
    """Which byte ranges are stored, so a client can resume after a dropped connection."""
    progress = await uploads.upload_progress(session, rt, viewer.user_id, upload_id)
    upload = progress.upload
    done = progress.bytes_uploaded == upload.total_bytes
    return UploadStateOut(
        upload_id=upload.id,
        video_id=upload.video_id,
        protocol=upload.protocol,
        status="complete"
        if upload.state == UploadState.COMPLETE.value
        else ("uploaded" if done else "uploading"),
        total_bytes=upload.total_bytes,
        bytes_uploaded=progress.bytes_uploaded,
        chunk_size=upload.chunk_size,
        received=[ByteRange(start=s, end=e - 1) for s, e in progress.received],
        missing=[ByteRange(start=s, end=e - 1) for s, e in progress.missing],
        expires_at=upload.expires_at,
    )


@router.post("/videos/upload/{upload_id}/complete", status_code=status.HTTP_202_ACCEPTED)
async def complete_upload(
    upload_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> CompleteResponse:
    """All bytes are in: processing starts. Refused while any byte is missing."""
    video = await uploads.complete_upload(session, rt, viewer.user_id, upload_id)
    return CompleteResponse(video_id=video.id, status=video.status)


@router.post(
    "/videos/upload",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={BODY_LIMIT_KEY: SIMPLE_BODY_LIMIT},
)
async def upload_in_one_request(
    file: Annotated[UploadFile, File(description="The video, up to 100 MB.")],
    viewer: Viewer,
    rt: RuntimeDep,
    caption: Annotated[str, Form(max_length=2200)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    hashtags: Annotated[str, Form(description="Space- or comma-separated.")] = "",
    category: Annotated[str | None, Form(max_length=50)] = None,
    visibility: Annotated[str, Form()] = "public",
    allow_comments: Annotated[bool, Form()] = True,
    sound_id: Annotated[str | None, Form(max_length=26)] = None,
    sound_mode: Annotated[str | None, Form(description="replace (default) or mix")] = None,
) -> CompleteResponse:
    """The whole video in one multipart request, for simple clients."""
    size = file.size if file.size is not None else 0
    if size == 0:
        raise Unprocessable("The file is empty.", code="empty_file")
    cap = rt.settings.upload_simple_max_bytes
    if size > cap:
        raise PayloadTooLarge(
            f"One-request uploads may be at most {cap} bytes; use the chunked upload.",
            code="file_too_large",
            max_bytes=cap,
        )
    request = upload_request_from_fields(
        "Form field",
        file_size=size,
        mime_type=file.content_type or "application/octet-stream",
        filename=file.filename or "video.mp4",
        caption=caption,
        description=description,
        hashtags=hashtags,
        category=category,
        visibility=visibility,
        allow_comments=allow_comments,
        sound_id=sound_id,
        sound_mode=sound_mode,
    )
    await file.seek(0)
    video = await uploads.store_whole_file(rt, viewer.user_id, request, file.file)
    return CompleteResponse(video_id=video.id, status=video.status)


@router.get("/videos/{video_id}")
async def get_video(
    video_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession
) -> VideoOut:
    """A video with its signed playback URLs, if the viewer may see it."""
    seen = await service.visible_video(session, service.Viewer.of(viewer), video_id)
    viewer_id = viewer.user_id if viewer else None
    return await video_out_for(rt, session, viewer_id, seen.video, seen.owner)


@router.patch("/videos/{video_id}")
async def update_video(
    video_id: str, body: UpdateVideoRequest, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> VideoOut:
    """Change a video's caption, description, hashtags, category, audience or comments."""
    seen = await service.update_video(session, service.Viewer.of(viewer), video_id, body)
    return await video_out_for(rt, session, viewer.user_id, seen.video, seen.owner)


@router.delete("/videos/{video_id}")
async def delete_video(video_id: str, viewer: Viewer, session: WriteSession) -> DeletedResponse:
    """Delete a video (its creator or a moderator); every stored file is removed by a job."""
    await service.delete_video(session, service.Viewer.of(viewer), video_id)
    return DeletedResponse(success=True, message="The video was deleted.")


@router.get("/videos/{video_id}/status")
async def video_status(video_id: str, viewer: Viewer, session: ReadSession) -> VideoStatusResponse:
    """Processing progress, the rungs already playable, and why processing failed."""
    video = await service.video_for_owner(session, service.Viewer.of(viewer), video_id)
    return status_out(video)


@router.get("/users/{user_ref}/videos")
async def user_videos(
    user_ref: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> VideoPage:
    """A creator's videos, newest first."""
    listed = await service.user_videos(session, service.Viewer.of(viewer), user_ref, paging)
    viewer_id = viewer.user_id if viewer else None
    return VideoPage(
        videos=await videos_out(
            rt, session, viewer_id, [(video, listed.owner) for video in listed.videos]
        ),
        next_cursor=listed.next_cursor,
        has_more=listed.next_cursor is not None,
    )
