"""Plain factory functions: real rows through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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
