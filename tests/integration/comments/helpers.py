"""Small HTTP helpers shared by the comment tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from reelstack.accounts import service as accounts
from reelstack.accounts.models import Role, User
from reelstack.runtime import Runtime
from tests.factories import TestUser, make_user


async def post(
    client: httpx.AsyncClient,
    user: TestUser,
    video_id: str,
    text: str,
    parent: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"text": text}
    if parent is not None:
        body["parent_comment_id"] = parent
    return await client.post(f"/api/v1/videos/{video_id}/comments", json=body, headers=user.headers)


async def comment(
    client: httpx.AsyncClient,
    user: TestUser,
    video_id: str,
    text: str,
    parent: str | None = None,
) -> dict[str, Any]:
    """Post a comment that must be accepted; its body."""
    r = await post(client, user, video_id, text, parent)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def listing(
    client: httpx.AsyncClient, video_id: str, viewer: TestUser | None = None, **params: Any
) -> dict[str, Any]:
    r = await client.get(
        f"/api/v1/videos/{video_id}/comments",
        params=params,
        headers=viewer.headers if viewer else {},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def replies(
    client: httpx.AsyncClient, comment_id: str, viewer: TestUser | None = None, **params: Any
) -> dict[str, Any]:
    r = await client.get(
        f"/api/v1/comments/{comment_id}/replies",
        params=params,
        headers=viewer.headers if viewer else {},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def texts(page: dict[str, Any]) -> list[str | None]:
    return [c["text"] for c in page.get("comments", page.get("replies", []))]


async def comment_count(client: httpx.AsyncClient, video_id: str, viewer: TestUser) -> int:
    """The count a viewer of the video page sees."""
    r = await client.get(f"/api/v1/videos/{video_id}", headers=viewer.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["stats"]["comments"])


async def make_moderator(rt: Runtime) -> TestUser:
    """A user with the moderator role, signed in after the role was given."""
    user = await make_user(rt)
    async with rt.unit_of_work() as session:
        await session.execute(
            update(User).where(User.id == user.id).values(role=Role.MODERATOR.value)
        )
        row = await session.get_one(User, user.id)
        tokens = await accounts.issue_tokens(session, rt.token_policy, row)
    return TestUser(user.id, user.username, tokens.access_token, tokens.refresh_token)
