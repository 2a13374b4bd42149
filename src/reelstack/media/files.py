"""Serving stored files in embedded mode: only through a signed, unexpired URL, with Range."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import Message, Receive, Scope, Send

from reelstack.deps import RuntimeDep
from reelstack.errors import PROBLEM_JSON, NotFound, problem_body
from reelstack.infra.routing import Router
from reelstack.infra.storage import LocalStorage, StorageError, content_type_for

router = Router(tags=["media"], include_in_schema=False)


class StoredFileResponse(FileResponse):
    """A file that may be deleted while we answer (a replaced avatar, a removed video): if it
    disappears before the first byte is sent, the client gets a clean 404 instead of a 500."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await super().__call__(scope, receive, tracking_send)
        except (FileNotFoundError, RuntimeError) as exc:
            # Starlette reports a file that vanished after routing as a RuntimeError.
            if started or (isinstance(exc, RuntimeError) and "does not exist" not in str(exc)):
                raise
            body = problem_body(404, "media_not_found", MEDIA_GONE, scope["path"])
            gone = JSONResponse(body, status_code=404, media_type=PROBLEM_JSON)
            await gone(scope, receive, send)


MEDIA_GONE = "No such file, or its link has expired."
PRIVATE_PREFIXES = ("originals/", "uploads/")


@router.api_route("/media/{key:path}", methods=["GET", "HEAD"])
async def media_file(
    key: str,
    rt: RuntimeDep,
    expires: Annotated[int, Query()] = 0,
    sig: Annotated[str, Query(max_length=64)] = "",
) -> StoredFileResponse:
    """A stored object, if the URL was signed by us and has not expired. The signature is only
    ever issued after the visibility check, so a guessed path gets nothing."""
    storage = rt.storage
    missing = NotFound(MEDIA_GONE, code="media_not_found")
    if not isinstance(storage, LocalStorage) or not rt.signer.verify(key, expires, sig):
        raise missing
    if key.startswith(PRIVATE_PREFIXES):
        raise missing  # originals and upload ranges are never served, whatever signs them
    try:
        path = storage.path_for(key)
    except StorageError:
        raise missing from None
    if not path.is_file():
        raise missing
    media_type = content_type_for(path.name)
    max_age = max(0, expires - int(time.time()))
    return StoredFileResponse(
        path,
        media_type=media_type,
        headers={
            "Cache-Control": f"private, max-age={max_age}",
            # Even if a stored file were HTML, it could run nothing on our origin.
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )
