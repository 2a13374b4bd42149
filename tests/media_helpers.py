"""Uploading and playing videos the way a client does, over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.factories import TestUser

API = "/api/v1"


def init_body(size: int, **overrides: Any) -> dict[str, Any]:
    """The JSON of `POST /videos/upload/init` for a file of `size` bytes."""
    return {
        "file_size": size,
        "mime_type": "video/mp4",
        "filename": "clip.mp4",
        "caption": "a clip",
        "hashtags": [],
        "visibility": "public",
        **overrides,
    }


async def init_upload(
    client: httpx.AsyncClient, user: TestUser, size: int, **details: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/videos/upload/init", json=init_body(size, **details), headers=user.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def put_range(
    client: httpx.AsyncClient, user: TestUser, upload_id: str, data: bytes, start: int, total: int
) -> httpx.Response:
    end = start + len(data) - 1
    return await client.put(
        f"{API}/videos/upload/{upload_id}/chunk",
        content=data,
        headers={**user.headers, "Content-Range": f"bytes {start}-{end}/{total}"},
    )


async def upload_video(
    client: httpx.AsyncClient,
    user: TestUser,
    path: Path,
    *,
    chunk: int = 256 * 1024,
    **details: Any,
) -> str:
    """Chunked upload of a whole file, then `complete`; returns the video id."""
    data = path.read_bytes()
    started = await init_upload(client, user, len(data), filename=path.name, **details)
    for start in range(0, len(data), chunk):
        response = await put_range(
            client, user, started["upload_id"], data[start : start + chunk], start, len(data)
        )
        assert response.status_code == 200, response.text
    done = await client.post(
        f"{API}/videos/upload/{started['upload_id']}/complete", headers=user.headers
    )
    assert done.status_code == 202, done.text
    return str(started["video_id"])


async def wait_processed(
    client: httpx.AsyncClient, user: TestUser, video_id: str, *, timeout: float = 120.0
) -> dict[str, Any]:
    """Poll the status until processing has finished (done or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"{API}/videos/{video_id}/status", headers=user.headers)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        if state["status"] == "failed" or state["progress"] == 100:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"video {video_id} still processing: {state}")
        await asyncio.sleep(0.2)


async def fetch(client: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """A media URL as a player fetches it: our own paths through the app, presigned S3 URLs
    over real HTTP."""
    if url.startswith("http://") or url.startswith("https://"):
        async with httpx.AsyncClient() as outside:
            return await outside.get(url, **kw)
    return await client.get(url, **kw)


def playlist_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            uris.append(line)
    return uris
