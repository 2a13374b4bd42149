"""tus 1.0 (core, creation, termination) at /api/v1/uploads/tus/, so Uppy and tus-js-client
work unchanged. Caption and the rest travel in Upload-Metadata; the upload is the same session
as a chunked one, and reaching its last byte completes it."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Header, Request, Response, status

from reelstack.deps import RuntimeDep, Viewer
from reelstack.errors import AppError, BadRequest, UnsupportedMediaType
from reelstack.infra.routing import Router
from reelstack.media import uploads
from reelstack.media.models import UploadProtocol
from reelstack.media.schemas import UploadInitRequest, upload_request_from_fields
from reelstack.middleware import BODY_LIMIT_KEY

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
PATCH_TYPE = "application/offset+octet-stream"
# One PATCH may carry the whole file (tus-js-client's default); the service caps it at what is
# left of the declared Upload-Length.
PATCH_BODY_LIMIT = 64 * 1024**3

router = Router(prefix="/uploads/tus", tags=["uploads (tus)"])


def _check_version(tus_resumable: str | None) -> None:
    if tus_resumable != TUS_VERSION:
        raise AppError(
            f"This server speaks tus {TUS_VERSION}; send `Tus-Resumable: {TUS_VERSION}`.",
            code="tus_version_unsupported",
            status=412,
            headers={"Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION},
        )


def parse_metadata(header: str | None) -> dict[str, str]:
    """`key base64value,key2 base64value2` -> dict; values must be UTF-8."""
    found: dict[str, str] = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        try:
            found[key] = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text.",
                code="invalid_upload_metadata",
            ) from None
    return found


def _init_request(length: int, meta: dict[str, str]) -> UploadInitRequest:
    return upload_request_from_fields(
        "Upload-Metadata",
        file_size=length,
        mime_type=meta.get("filetype") or meta.get("type") or "application/octet-stream",
        filename=meta.get("filename") or meta.get("name") or "video.mp4",
        caption=meta.get("caption"),
        description=meta.get("description"),
        hashtags=meta.get("hashtags"),
        category=meta.get("category"),
        visibility=meta.get("visibility"),
        allow_comments=meta.get("allow_comments", "true").lower() not in {"false", "0", "no"},
        sound_id=meta.get("sound_id"),
        sound_mode=meta.get("sound_mode"),
    )


def _headers(**values: str | int) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION}
    headers.update({k.replace("_", "-"): str(v) for k, v in values.items()})
    return headers


@router.options("/", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def tus_options(rt: RuntimeDep) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers=_headers(
            Tus_Version=TUS_VERSION,
            Tus_Extension=TUS_EXTENSIONS,
            Tus_Max_Size=rt.settings.upload_max_bytes,
        ),
    )


@router.post("/", status_code=status.HTTP_201_CREATED, response_class=Response)
async def tus_create(
    viewer: Viewer,
    rt: RuntimeDep,
    upload_length: Annotated[int | None, Header(ge=1)] = None,
    upload_metadata: Annotated[str | None, Header(max_length=20000)] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """Creation: a video row and an upload session; Location is where to PATCH bytes."""
    _check_version(tus_resumable)
    if upload_length is None:
        raise BadRequest(
            "Send Upload-Length; deferred lengths are not supported.", code="upload_length_required"
        )
    request = _init_request(upload_length, parse_metadata(upload_metadata))
    async with rt.unit_of_work() as session:
        new = await uploads.create_upload(
            session, rt, viewer.user_id, request, protocol=UploadProtocol.TUS
        )
    return Response(
        status_code=201,
        headers=_headers(Location=f"/api/v1/uploads/tus/{new.upload.id}", Upload_Offset=0),
    )


@router.head("/{upload_id}", response_class=Response)
async def tus_head(
    upload_id: str,
    viewer: Viewer,
    rt: RuntimeDep,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """How many bytes are stored from the start, so the client resumes there."""
    _check_version(tus_resumable)
    async with rt.unit_of_work(write=False) as session:
        progress = await uploads.upload_progress(session, rt, viewer.user_id, upload_id)
    return Response(
        status_code=200,
        headers=_headers(
            Upload_Offset=uploads.contiguous_offset(progress.received),
            Upload_Length=progress.upload.total_bytes,
            Cache_Control="no-store",
        ),
    )


@router.patch(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    openapi_extra={BODY_LIMIT_KEY: PATCH_BODY_LIMIT},
)
async def tus_patch(
    upload_id: str,
    request: Request,
    viewer: Viewer,
    rt: RuntimeDep,
    upload_offset: Annotated[int | None, Header(ge=0)] = None,
    content_type: Annotated[str | None, Header()] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """Append bytes at Upload-Offset; the last byte completes the upload."""
    _check_version(tus_resumable)
    if (content_type or "").split(";")[0].strip() != PATCH_TYPE:
        raise UnsupportedMediaType(
            f"PATCH bodies must be sent as {PATCH_TYPE}.", code="unsupported_media_type"
        )
    if upload_offset is None:
        raise BadRequest("Send Upload-Offset.", code="upload_offset_required")
    upload, offset = await uploads.append_tus(
        rt, viewer.user_id, upload_id, upload_offset, request.stream()
    )
    if offset == upload.total_bytes:
        async with rt.unit_of_work() as session:
            await uploads.complete_upload(session, rt, viewer.user_id, upload_id)
    return Response(status_code=204, headers=_headers(Upload_Offset=offset))


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def tus_terminate(
    upload_id: str,
    viewer: Viewer,
    rt: RuntimeDep,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """Termination: the unfinished upload and its video are dropped, its bytes removed."""
    _check_version(tus_resumable)
    async with rt.unit_of_work() as session:
        await uploads.delete_upload(session, viewer.user_id, upload_id)
    await rt.storage.delete_prefix(f"uploads/{upload_id}/")
    return Response(status_code=204, headers=_headers())
