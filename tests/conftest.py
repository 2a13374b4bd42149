"""Every test that takes `runtime`, `app` or `client` runs twice: on the embedded deployment
(SQLite, memory, local files, a SQLite job queue) and on the scale-out one (PostgreSQL, Redis,
an S3 endpoint, a Redis job queue). The scale-out services must be reachable; nothing is skipped."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pytest
import redis
from moto.server import ThreadedMotoServer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from reelstack.app import create_app
from reelstack.config import Settings
from reelstack.db import Database
from reelstack.migrate import upgrade_to_head
from reelstack.models import metadata
from reelstack.runtime import Runtime, open_runtime

POSTGRES_ADMIN_URL = os.environ.get(
    "REELSTACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("REELSTACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
S3_BUCKET = "reelstack-test"
DEPLOYMENTS = ("embedded", "scaleout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for the scale-out tests at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto in server mode) on loopback."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test run, built by the migrations, dropped at the end."""
    name = f"reelstack_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the scale-out tests at {POSTGRES_ADMIN_URL}: {exc}"
        )
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"

    async def migrate() -> None:
        db = Database(url)
        await upgrade_to_head(db.writer)
        await db.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file built by the migrations once; each test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "reelstack.db"

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(db.writer)
        await db.dispose()

    asyncio.run(migrate())
    return path


TEST_DEFAULTS: dict[str, Any] = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8192,
    "rate_limit_anonymous": "100000/minute",
    "rate_limit_authenticated": "100000/minute",
    "rate_limit_login": "100000/minute",
    "rate_limit_register": "100000/hour",
    "job_poll_seconds": 0.05,
    "auto_migrate": False,
    "secret_key": "test-secret-" + "x" * 40,
}


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests override this to change a setting for both deployments."""
    return {}


@pytest.fixture
def make_settings(
    request: pytest.FixtureRequest, deployment: str, tmp_path: Path, sqlite_template: Path
) -> Any:
    """Builds the Settings of this test's deployment (scale-out services started on demand)."""

    def build(**overrides: Any) -> Settings:
        values = {**TEST_DEFAULTS, "data_dir": tmp_path / "data", **overrides}
        if deployment == "embedded":
            db_file = tmp_path / "reelstack.db"
            if not db_file.exists():
                shutil.copyfile(sqlite_template, db_file)
            values.setdefault("database_url", f"sqlite+aiosqlite:///{db_file}")
        else:
            run = request.node.stash.setdefault(_RUN_ID, uuid.uuid4().hex[:10])
            values.setdefault("database_url", request.getfixturevalue("postgres_url"))
            values.setdefault("redis_url", request.getfixturevalue("redis_url"))
            values.setdefault("redis_prefix", f"rstest:{run}:")
            values.setdefault("storage_url", f"s3://{S3_BUCKET}/{run}")
            values.setdefault("s3_endpoint_url", request.getfixturevalue("s3_endpoint"))
            values.setdefault("s3_access_key_id", "testing")
            values.setdefault("s3_secret_access_key", "testing")
        return Settings(**values)

    return build


_RUN_ID = pytest.StashKey[str]()


@pytest.fixture
def settings(make_settings: Any, settings_overrides: dict[str, Any]) -> Settings:
    built: Settings = make_settings(**settings_overrides)
    return built


async def reset_state(rt: Runtime) -> None:
    """Empty every table (PostgreSQL is shared by the run) and this test's Redis keys."""
    if not rt.db.is_sqlite:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        for attempt in range(5):
            try:
                async with rt.db.writer.begin() as conn:
                    await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                break
            except DBAPIError as exc:
                # A job the consumer started (start-up recovery, a periodic sweep) can hold a
                # row lock that TRUNCATE's table locks wait on in another order: PostgreSQL
                # then picks one side of the deadlock, and the reset tries again.
                if "deadlock" not in str(exc).lower() or attempt == 4:
                    raise
                await asyncio.sleep(0.1)
    if rt.redis is not None:
        keys = [k async for k in rt.redis.scan_iter(match=f"*{rt.settings.redis_prefix}*")]
        if keys:
            await rt.redis.delete(*keys)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, consume_jobs=True) as rt:
        await reset_state(rt)
        try:
            yield rt
        finally:
            await rt.jobs.stop_consumer()
            await reset_state(rt)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP through the ASGI app, with the app's own lifespan."""
    app = create_app(runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
