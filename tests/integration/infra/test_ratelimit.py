"""Rate limits as a client meets them: per IP when signed out, per user when signed in, and the
stricter sign-up and sign-in limits; counted in memory (embedded) or in Redis (scale-out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reelstack.accounts.security import Passwords
from reelstack.app import create_app
from reelstack.runtime import Runtime, open_runtime
from tests.factories import PASSWORD, assert_problem, make_user, register_over_http


@asynccontextmanager
async def client_at(runtime: Runtime, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another HTTP client of the same deployment, connecting from address `ip`."""
    app = create_app(runtime=runtime)
    async with app.router.lifespan_context(app), client_of(app, ip) as c:
        yield c


def client_of(app: FastAPI, ip: str) -> httpx.AsyncClient:
    """A client of an app already started, connecting from address `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def assert_rate_limited(response: httpx.Response, window_seconds: int) -> None:
    problem = assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after  # delta-seconds, as RFC 9110 wants
    assert 1 <= int(retry_after) <= window_seconds
    assert problem["retry_after"] == int(retry_after)


async def login(client: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"login": who, "password": password})


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_anonymous": "3/minute"}])
async def test_anonymous_requests_are_limited_per_ip(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        assert_problem(await client.get("/api/v1/users/@nobody"), 404, "user_not_found")
    assert_rate_limited(await client.get("/api/v1/users/@nobody"), 60)
    # Every API path shares the budget of that address...
    assert_rate_limited(await client.get("/api/v1/users/@somebody_else"), 60)
    # ...but not the health checks a load balancer polls.
    assert (await client.get("/healthz")).status_code == 200
    async with client_at(runtime, "203.0.113.50") as neighbour:
        assert_problem(await neighbour.get("/api/v1/users/@nobody"), 404, "user_not_found")


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_authenticated": "3/minute", "rate_limit_anonymous": "2/minute"}],
)
async def test_signed_in_requests_are_limited_per_user(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    alice = await make_user(runtime, "alice")
    bob = await make_user(runtime, "bob")
    for _ in range(3):
        assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
    assert_rate_limited(await client.get("/api/v1/users/me", headers=alice.headers), 60)
    # Bob shares Alice's address (one office, one NAT) but has a budget of his own.
    for _ in range(3):
        assert (await client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200
    assert_rate_limited(await client.get("/api/v1/users/me", headers=bob.headers), 60)
    # Alice on another network is still Alice.
    async with client_at(runtime, "203.0.113.51") as phone:
        assert_rate_limited(await phone.get("/api/v1/users/me", headers=alice.headers), 60)
    # Signed-out requests from that address were never counted against the users.
    assert_problem(await client.get("/api/v1/users/@nobody"), 404, "user_not_found")


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3/minute"}])
async def test_login_is_limited_per_ip(runtime: Runtime, client: httpx.AsyncClient) -> None:
    for name in ("ann", "ben", "cat", "dan"):
        await make_user(runtime, name)
    # One address guessing at three different accounts...
    for name in ("ann", "ben", "cat"):
        assert_problem(await login(client, name, "wrong guess"), 401, "invalid_credentials")
    # ...is stopped before a fourth, even with the right password.
    assert_rate_limited(await login(client, "dan"), 60)
    async with client_at(runtime, "203.0.113.52") as elsewhere:
        assert (await login(elsewhere, "dan")).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3/minute"}])
async def test_login_is_limited_per_account_across_ips(runtime: Runtime) -> None:
    await make_user(runtime, "target")
    await make_user(runtime, "bystander")
    for i in range(3):
        async with client_at(runtime, f"203.0.113.{60 + i}") as bot:
            assert_problem(await login(bot, "target", "wrong guess"), 401, "invalid_credentials")
    async with client_at(runtime, "203.0.113.70") as bot:
        # A fresh address gets nowhere with that account, whatever case it types...
        assert_rate_limited(await login(bot, "TARGET"), 60)
        # ...while other accounts sign in from it as usual.
        assert (await login(bot, "bystander")).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3/minute"}])
async def test_login_by_email_and_by_username_share_the_account_budget(runtime: Runtime) -> None:
    await make_user(runtime, "target")
    guesses = ["target", "target@example.com", "Target", "TARGET@example.com"]
    results = []
    for i, who in enumerate(guesses):
        async with client_at(runtime, f"203.0.113.{80 + i}") as bot:
            results.append(await login(bot, who, "wrong guess"))
    for response in results[:3]:
        assert_problem(response, 401, "invalid_credentials")
    # The fourth guess at the same account is one too many, whichever name it used.
    assert_rate_limited(results[3], 60)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3/minute"}])
async def test_successful_sign_ins_do_not_spend_the_account_budget(runtime: Runtime) -> None:
    await make_user(runtime, "owner")
    for i in range(5):  # more than the limit, each from its own address
        async with client_at(runtime, f"203.0.113.{100 + i}") as device:
            assert (await login(device, "owner")).status_code == 200
    for i in range(3):
        async with client_at(runtime, f"203.0.113.{110 + i}") as bot:
            assert_problem(await login(bot, "owner", "wrong guess"), 401, "invalid_credentials")
    async with client_at(runtime, "203.0.113.120") as bot:
        assert_rate_limited(await login(bot, "owner", "wrong guess"), 60)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_register": "2/hour"}])
async def test_registration_is_limited_per_ip(runtime: Runtime, client: httpx.AsyncClient) -> None:
    assert (await register_over_http(client, "first_one")).status_code == 201
    assert (await register_over_http(client, "second_one")).status_code == 201
    assert_rate_limited(await register_over_http(client, "third_one"), 3600)
    async with client_at(runtime, "203.0.113.90") as elsewhere:
        # The name is still free (the refused sign-up stored nothing) and another address may
        # take it.
        assert (await register_over_http(elsewhere, "third_one")).status_code == 201
    # Signing in is a different budget from signing up.
    assert (await login(client, "first_one")).status_code == 200


@pytest.mark.parametrize("deployment", ["scaleout"])
@pytest.mark.parametrize("settings_overrides", [{"rate_limit_anonymous": "4/minute"}])
async def test_api_processes_share_one_budget(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_settings: Any,
    settings_overrides: dict[str, Any],
) -> None:
    """Behind a load balancer each request may land on another process; the limit still holds."""
    async with open_runtime(make_settings(**settings_overrides)) as other_process:
        async with client_at(other_process, "198.51.100.7") as via_other:  # same address
            for c in (client, via_other, client, via_other):
                assert_problem(await c.get("/api/v1/users/@nobody"), 404, "user_not_found")
            assert_rate_limited(await via_other.get("/api/v1/users/@nobody"), 60)
            assert_rate_limited(await client.get("/api/v1/users/@nobody"), 60)


async def test_a_burst_of_concurrent_requests_within_the_limit_all_succeed(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    responses = await asyncio.gather(*(client.get("/api/v1/users/@nobody") for _ in range(150)))
    assert {r.status_code for r in responses} == {404}


class SlowPasswords(Passwords):
    def __init__(self, hold_seconds: float) -> None:
        super().__init__(time_cost=1, memory_kib=8192)
        self.hold_seconds = hold_seconds
        self.verified = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verified += 1
        await asyncio.sleep(self.hold_seconds)
        return await super().verify(password_hash, password)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3/minute"}])
async def test_parallel_guesses_cannot_exceed_the_account_budget(runtime: Runtime) -> None:
    await make_user(runtime, "target")
    # Hold every password check a moment, so all twenty attempts are in flight together: were
    # the budget consulted before argon2 and charged after, every one of them would get in.
    runtime.passwords = SlowPasswords(hold_seconds=0.5)

    app = create_app(runtime=runtime)  # one API process; twenty addresses

    async def guess(i: int, password: str, start: asyncio.Event) -> httpx.Response:
        async with client_of(app, f"198.51.100.{i}") as bot:
            await start.wait()  # every guess leaves at the same moment
            return await login(bot, "target", password)

    async with app.router.lifespan_context(app):
        start = asyncio.Event()
        guesses = [asyncio.create_task(guess(i, "wrong guess", start)) for i in range(1, 21)]
        await asyncio.sleep(0.2)
        start.set()
        results = await asyncio.gather(*guesses)
        codes = sorted(r.status_code for r in results)
        assert codes == [401] * 3 + [429] * 17
        assert runtime.passwords.verified == 3  # type: ignore[attr-defined]
        # With the budget spent, even the right password waits for the window.
        now = asyncio.Event()
        now.set()
        assert (await guess(99, PASSWORD, now)).status_code == 429
