"""Plain factory functions: real rows through the real services."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reelstack.accounts import service as accounts
from reelstack.accounts.schemas import RegisterRequest
from reelstack.runtime import Runtime

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


@dataclass
class TestUser:
    __test__ = False

    id: str
    username: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def make_user(
    rt: Runtime, username: str | None = None, *, private: bool = False, password: str = PASSWORD
) -> TestUser:
    username = username or f"user{next(_counter)}"
    async with rt.unit_of_work() as session:
        user = await accounts.register(
            session,
            rt.passwords,
            RegisterRequest(username=username, email=f"{username}@example.com", password=password),
        )
        user.is_private = private
        tokens = await accounts.issue_tokens(session, rt.token_policy, user)
    return TestUser(user.id, user.username, tokens.access_token, tokens.refresh_token)


async def register_over_http(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """The response is an RFC 9457 problem with this status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["title"] and body["detail"]
    return body


async def make_video(
    rt: Runtime,
    owner: TestUser,
    *,
    visibility: str = "public",
    status: str = "ready",
    caption: str = "a video",
    duration: float = 30.0,
    allow_comments: bool = True,
) -> str:
    """A video row as processing leaves it (no media files: for tests of what sits around
    the video, not of playback). Returns its id."""
    from reelstack.accounts import service as accounts_service
    from reelstack.db import utcnow
    from reelstack.media.models import JobState, Video

    async with rt.unit_of_work() as session:
        video = Video(
            user_id=owner.id,
            caption=caption,
            visibility=visibility,
            allow_comments=allow_comments,
            status=status,
            progress=100 if status == "ready" else 0,
            duration=duration,
            width=1080,
            height=1920,
            job_state=JobState.DONE.value if status == "ready" else JobState.IDLE.value,
            published_at=utcnow() if status == "ready" else None,
        )
        session.add(video)
        await session.flush()
        if status == "ready":
            await accounts_service.adjust_counts(session, owner.id, videos=1)
        return video.id


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    timeout: float,
    what: str = "it",
    interval: float = 0.05,
) -> Any:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


async def jobs_drained(rt: Runtime, *queues: str, timeout: float = 10.0) -> None:
    """Nothing of these queues is waiting, scheduled or running in this process: seen twice
    a moment apart, so a job taken off the queue between the two counts is not missed."""

    async def idle() -> bool:
        for queue in queues:
            if rt.jobs.running(queue) or await rt.jobs.pending(queue):
                return False
        return True

    async def idle_twice() -> bool:
        if not await idle():
            return False
        await asyncio.sleep(0.05)
        return await idle()

    await eventually(idle_twice, timeout=timeout, what=f"the {'/'.join(queues)} jobs to finish")
