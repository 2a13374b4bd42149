"""Password checks and hashing against concurrent account changes, and off the write lock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reelstack.accounts import service
from reelstack.accounts.security import Passwords
from reelstack.config import Settings
from reelstack.runtime import Runtime
from tests.factories import PASSWORD, assert_problem, make_user, register_over_http


@pytest.fixture
def settings(make_settings: Any, deployment: str, request: pytest.FixtureRequest) -> Settings:
    """On PostgreSQL, reads go through their own engine (as with a replica), so the writer
    pool counts write connections only."""
    if deployment == "scaleout":
        built: Settings = make_settings(database_read_url=request.getfixturevalue("postgres_url"))
        return built
    built = make_settings()
    return built


class WatchedPasswords(Passwords):
    """Real argon2 that records whether a write connection was out while it ran, and can be
    held mid-verify."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(time_cost=1, memory_kib=8192)
        self.runtime = runtime
        self.writers_in_use: list[int] = []
        self.hold: asyncio.Event | None = None
        self.verifying = asyncio.Event()

    def _record(self) -> None:
        pool: Any = self.runtime.db.writer.pool
        self.writers_in_use.append(pool.checkedout())

    async def hash(self, password: str) -> str:
        self._record()
        return await super().hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self._record()
        self.verifying.set()
        if self.hold is not None:
            await self.hold.wait()
        return await super().verify(password_hash, password)


async def login(client: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"login": who, "password": password})


async def test_password_hashing_never_holds_a_write_connection(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # On SQLite the one writer connection is the whole platform's write lock: argon2's tens of
    # milliseconds must run outside it. Background jobs (periodic sweeps) write on their own
    # schedule; they are stopped so that only the requests' own connections are counted.
    await runtime.jobs.stop_consumer()
    watched = WatchedPasswords(runtime)
    runtime.passwords = watched
    assert (await register_over_http(client, "hasher")).status_code == 201
    assert (await login(client, "hasher")).status_code == 200
    assert (await login(client, "hasher", "wrong password")).status_code == 401
    token = (await login(client, "hasher")).json()["access_token"]
    changed = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another passphrase"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 204
    assert len(watched.writers_in_use) >= 6
    assert watched.writers_in_use == [0] * len(watched.writers_in_use)


async def test_a_sign_in_overlapping_a_password_change_loses(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user = await make_user(runtime, "overlap")
    watched = WatchedPasswords(runtime)
    watched.hold = asyncio.Event()
    runtime.passwords = watched
    signing_in = asyncio.create_task(login(client, "overlap"))  # the old, right password
    await asyncio.wait_for(watched.verifying.wait(), 5)
    # While that sign-in checks the old password, the owner changes it (on another device).
    elsewhere = Passwords(time_cost=1, memory_kib=8192)
    async with runtime.unit_of_work(write=False) as read, runtime.unit_of_work() as write:
        await service.change_password(
            read, write, elsewhere, user.id, PASSWORD, "the new passphrase", keep_family=""
        )
    watched.hold.set()
    assert_problem(await signing_in, 401, "invalid_credentials")
    assert (await login(client, "overlap", "the new passphrase")).status_code == 200
    assert_problem(await login(client, "overlap"), 401, "invalid_credentials")
