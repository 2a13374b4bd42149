"""Sign-up, sign-in, token rotation and sign-out over HTTP, on both deployments."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from reelstack.runtime import Runtime
from tests.factories import PASSWORD, assert_problem, make_user, register_over_http


async def login(client: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"login": who, "password": password})


async def test_register_login_refresh_and_reuse_revokes_the_family(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_over_http(client, "Alice_01")
    assert registered.status_code == 201, registered.text
    user = registered.json()["user"]
    assert user["username"] == "alice_01"  # stored lower-case
    assert "password" not in registered.text and "password_hash" not in registered.text

    signed_in = await login(client, "ALICE_01@example.com")
    assert signed_in.status_code == 200
    first = signed_in.json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 900
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["user_id"] == user["user_id"]

    second = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert third.status_code == 200

    # The first token was already rotated: presenting it again means it leaked.
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_problem(reused, 401, "refresh_token_reused")
    # ...so every token of that sign-in is dead, including the newest one.
    latest = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": third.json()["refresh_token"]}
    )
    assert_problem(latest, 401, "invalid_refresh_token")

    # A separate sign-in (another device) is a different family and still works.
    other = (await login(client, "alice_01")).json()
    ok = await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert ok.status_code == 200


async def test_concurrent_refreshes_with_one_token_have_exactly_one_winner(
    client: httpx.AsyncClient,
) -> None:
    await register_over_http(client, "racer")
    token = (await login(client, "racer")).json()["refresh_token"]
    results = await asyncio.gather(
        *(client.post("/api/v1/auth/refresh", json={"refresh_token": token}) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401, 401]


async def test_logout_with_only_the_refresh_token(client: httpx.AsyncClient) -> None:
    await register_over_http(client, "frank")
    tokens = (await login(client, "frank")).json()
    assert_problem(await client.post("/api/v1/auth/logout", json={}), 401, "not_authenticated")
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_problem(again, 401, "invalid_refresh_token")


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await register_over_http(client, "bob")
    wrong = await login(client, "bob", "not the password")
    unknown = await login(client, "nobody_here", "not the password")
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid_credentials")
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    await register_over_http(client, "carol")
    tokens = (await login(client, "carol")).json()
    out = await client.post(
        "/api/v1/auth/logout",
        json={},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert out.status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_problem(again, 401, "invalid_refresh_token")


async def test_duplicate_username_and_email_are_refused(client: httpx.AsyncClient) -> None:
    assert (await register_over_http(client, "dave")).status_code == 201
    same_name = await client.post(
        "/api/v1/auth/register",
        json={"username": "DAVE", "email": "other@example.com", "password": PASSWORD},
    )
    assert_problem(same_name, 409, "username_taken")
    same_email = await client.post(
        "/api/v1/auth/register",
        json={"username": "dave2", "email": "Dave@Example.com", "password": PASSWORD},
    )
    assert_problem(same_email, 409, "email_taken")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "ab"),
        ("username", "x" * 31),
        ("username", "bad name"),
        ("username", "émile"),
        ("username", ".dot"),
        ("username", "admin"),
        ("email", "not-an-email"),
        ("password", "short"),
    ],
)
async def test_invalid_registration_names_the_failing_field(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    body = {"username": "valid_name", "email": "valid@example.com", "password": PASSWORD}
    body[field] = value
    problem = assert_problem(
        await client.post("/api/v1/auth/register", json=body), 422, "validation_failed"
    )
    assert [e["field"] for e in problem["errors"]] == [field]  # type: ignore[union-attr]
    # Nothing was stored: the valid name is still free.
    body[field] = {"username": "valid_name", "email": "valid@example.com", "password": PASSWORD}[
        field
    ]
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201


async def test_expired_and_forged_access_tokens_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    key = runtime.token_policy.tokens._key
    now = int(time.time())
    expired = jwt.encode(
        {"sub": user.id, "aud": "reelstack:api", "iat": now - 1000, "exp": now - 100},
        key,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": user.id, "aud": "reelstack:api", "iat": now, "exp": now + 100},
        b"someone else's key, long enough for HS256",
        algorithm="HS256",
    )
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert_problem(r, 401, "token_expired")
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(r, 401, "invalid_token")
    r = await client.get("/api/v1/users/me")
    assert_problem(r, 401, "not_authenticated")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_password_change_signs_out_other_devices(client: httpx.AsyncClient) -> None:
    await register_over_http(client, "erin")
    here = (await login(client, "erin")).json()
    elsewhere = (await login(client, "erin")).json()
    r = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "a new passphrase"},
        headers={"Authorization": f"Bearer {here['access_token']}"},
    )
    assert r.status_code == 204
    assert_problem(
        await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}
        ),
        401,
        "invalid_refresh_token",
    )
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": here["refresh_token"]})
    ).status_code == 200
    assert_problem(await login(client, "erin"), 401, "invalid_credentials")
    assert (await login(client, "erin", "a new passphrase")).status_code == 200


async def test_expired_refresh_tokens_are_purged_and_rotated_ones_kept(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from reelstack.accounts.models import RefreshToken
    from reelstack.accounts.tasks import purge_expired_refresh_tokens
    from reelstack.db import utcnow

    await register_over_http(client, "gina")
    old = (await login(client, "gina")).json()
    await client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
    async with runtime.unit_of_work() as session:
        first_family = await session.scalar(select(RefreshToken.id).order_by(RefreshToken.id))
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == first_family)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    await purge_expired_refresh_tokens(runtime)
    async with runtime.unit_of_work(write=False) as session:
        left = list(await session.scalars(select(RefreshToken.id)))
    assert first_family not in left
    assert len(left) == 2  # the rotated token stays: it is how reuse is noticed
    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert_problem(reused, 401, "refresh_token_reused")
