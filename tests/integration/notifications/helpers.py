"""Helpers of the notification tests: wait for jobs to tell users, read what they were told."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx

from reelstack.events import VideoProcessed
from reelstack.infra.events import publish
from reelstack.runtime import Runtime
from tests.factories import TestUser, jobs_drained
from tests.factories import eventually as shared_eventually

JOB_TIMEOUT = 15.0


async def notifications_of(
    client: httpx.AsyncClient, user: TestUser, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/notifications", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["notifications"]
    return items


async def unread_count(client: httpx.AsyncClient, user: TestUser) -> int:
    r = await client.get("/api/v1/notifications/unread_count", headers=user.headers)
    assert r.status_code == 200, r.text
    count: int = r.json()["unread_count"]
    return count


eventually = functools.partial(shared_eventually, timeout=JOB_TIMEOUT)


async def wait_for(
    client: httpx.AsyncClient,
    user: TestUser,
    predicate: Callable[[list[dict[str, Any]]], bool],
    what: str = "the notification",
) -> list[dict[str, Any]]:
    """The user's notifications, once `predicate` holds for them."""

    async def probe() -> list[dict[str, Any]] | None:
        items = await notifications_of(client, user)
        return items if predicate(items) else None

    result: list[dict[str, Any]] = await eventually(probe, what=what)
    return result


def of_type(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [n for n in items if n["type"] == kind]


async def jobs_settled(rt: Runtime) -> None:
    """Every queued notification job has been picked up and, give or take a moment, has run:
    for asserting that something was NOT notified after a sentinel that was."""
    await jobs_drained(rt, "notifications", timeout=JOB_TIMEOUT)


async def follow(client: httpx.AsyncClient, fan: TestUser, star: TestUser) -> None:
    r = await client.post(f"/api/v1/users/{star.id}/follow", headers=fan.headers)
    assert r.status_code == 200, r.text


async def block(client: httpx.AsyncClient, blocker: TestUser, blocked: TestUser) -> None:
    r = await client.post(f"/api/v1/users/{blocked.id}/block", headers=blocker.headers)
    assert r.status_code == 200, r.text


async def like(client: httpx.AsyncClient, fan: TestUser, video_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/videos/{video_id}/like", headers=fan.headers)


async def comment(
    client: httpx.AsyncClient, author: TestUser, video_id: str, text: str, parent: str | None = None
) -> str:
    body: dict[str, Any] = {"text": text}
    if parent:
        body["parent_comment_id"] = parent
    r = await client.post(f"/api/v1/videos/{video_id}/comments", headers=author.headers, json=body)
    assert r.status_code == 201, r.text
    comment_id: str = r.json()["comment_id"]
    return comment_id


async def video_processed(rt: Runtime, owner: TestUser, video_id: str) -> None:
    """What the processing job publishes once every rung of a video is out."""
    async with rt.unit_of_work() as session:
        publish(session, VideoProcessed(video_id=video_id, user_id=owner.id))
