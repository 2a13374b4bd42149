"""What an upload client does, as plain functions over the HTTP API (beside the ones in
`tests.media_helpers`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import func, select

from reelstack.app import create_app
from reelstack.media.models import UploadPiece, Video
from reelstack.runtime import Runtime
from tests.factories import TestUser
from tests.media_helpers import API, init_upload, put_range, wait_processed

__all__ = ["API", "init_upload"]

PROCESSING_TIMEOUT = 60.0


def content_range(start: int, end: int, total: int) -> str:
    """Half-open [start, end) as the inclusive `bytes first-last/total` header."""
    return f"bytes {start}-{end - 1}/{total}"


async def put_chunk(
    client: httpx.AsyncClient,
    user: TestUser,
    upload_id: str,
    body: bytes,
    header: str | None,
) -> httpx.Response:
    headers = dict(user.headers)
    if header is not None:
        headers["Content-Range"] = header
    return await client.put(f"{API}/videos/upload/{upload_id}/chunk", headers=headers, content=body)


async def send_range(
    client: httpx.AsyncClient, user: TestUser, upload_id: str, data: bytes, start: int, end: int
) -> dict[str, Any]:
    """PUT bytes [start, end) of `data`; fails the test unless the server acknowledges them."""
    r = await put_range(client, user, upload_id, data[start:end], start, len(data))
    assert r.status_code == 200, r.text
    acknowledged: dict[str, Any] = r.json()
    return acknowledged


async def send_all(
    client: httpx.AsyncClient, user: TestUser, upload_id: str, data: bytes
) -> dict[str, Any]:
    return await send_range(client, user, upload_id, data, 0, len(data))


async def upload_state(client: httpx.AsyncClient, user: TestUser, upload_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/videos/upload/{upload_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()
    return state


async def complete(client: httpx.AsyncClient, user: TestUser, upload_id: str) -> httpx.Response:
    return await client.post(f"{API}/videos/upload/{upload_id}/complete", headers=user.headers)


async def video_status(client: httpx.AsyncClient, user: TestUser, video_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/videos/{video_id}/status", headers=user.headers)
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()
    return status


async def assert_processed(client: httpx.AsyncClient, user: TestUser, video_id: str) -> None:
    status = await wait_processed(client, user, video_id, timeout=PROCESSING_TIMEOUT)
    assert status["status"] == "ready", status
    assert status["error"] is None and status["renditions_ready"], status


def split(total: int, count: int) -> list[tuple[int, int]]:
    """`count` half-open ranges of about equal size covering [0, total)."""
    step = -(-total // count)
    return [(start, min(start + step, total)) for start in range(0, total, step)]


async def piece_rows(rt: Runtime, upload_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(select(func.count()).where(UploadPiece.upload_id == upload_id))
    return int(count or 0)


async def video_rows(rt: Runtime, user_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(Video).where(Video.user_id == user_id)
        )
    return int(count or 0)


def leftover_spool_files(rt: Runtime) -> list[str]:
    """Request bodies spooled to disk and never cleaned up."""
    spool = rt.settings.data_dir / "tmp"
    return sorted(p.name for p in spool.iterdir()) if spool.exists() else []


@asynccontextmanager
async def serve(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `rt`, reached over ASGI like the `client` fixture."""
    app = create_app(runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def send_then_drop(
    rt: Runtime, method: str, path: str, headers: dict[str, str], sent: bytes, announced: int
) -> int:
    """A request whose client announces `announced` body bytes, sends `sent` of them and then
    goes away (a phone losing its signal); returns the status the app answered with."""
    app = create_app(runtime=rt)
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": sent, "more_body": True}]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*raw_headers, (b"content-length", str(announced).encode())],
        "client": ("198.51.100.7", 50000),
        "server": ("testserver", 80),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert len(statuses) == 1
    return statuses[0]
