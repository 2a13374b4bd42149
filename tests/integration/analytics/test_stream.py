"""The analytics stream between processes: nothing published is lost at a clean shutdown, and
on Redis what a dead consumer held is written by another one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from reelstack.app import create_app
from reelstack.config import Settings
from reelstack.infra.streams import RedisAnalyticsStream
from reelstack.runtime import Runtime, open_runtime
from tests.conftest import reset_state
from tests.factories import make_user, make_video
from tests.integration.analytics.viewing import counted, video, watch_events


@contextlib.asynccontextmanager
async def http(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on `rt`, as the `client` fixture makes one."""
    app = create_app(runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _report_views(rt: Runtime, video_id: str, sessions: list[str]) -> None:
    async with http(rt) as client:
        for session_id in sessions:
            assert await counted(client, video_id, session_id=session_id)


# No timed flush during the test: only the shutdown can hand the events on.
@pytest.mark.parametrize("settings_overrides", [{"analytics_flush_seconds": 60}])
async def test_views_still_buffered_at_shutdown_are_written(settings: Settings) -> None:
    async with open_runtime(settings) as api:  # an API process: publishes, does not consume
        await reset_state(api)
        owner = await make_user(api)
        video_id = await make_video(api, owner)
        await _report_views(api, video_id, ["a", "b", "c"])
        assert await watch_events(api, video_id) == (0, 0)

    async with open_runtime(settings, consume_jobs=True) as worker:
        try:
            await worker.analytics.flush()
            assert await watch_events(worker, video_id) == (3, 3)
            async with http(worker) as client:
                assert (await video(client, video_id))["stats"]["views"] == 3
        finally:
            await reset_state(worker)


# The embedded stream has no consumers that could die holding entries.
@pytest.mark.parametrize("deployment", ["scaleout"])
@pytest.mark.parametrize("settings_overrides", [{"analytics_claim_idle_seconds": 0.2}])
async def test_redis_entries_a_dead_consumer_held_are_written_by_another(
    settings: Settings,
) -> None:
    async with open_runtime(settings) as api:
        await reset_state(api)
        owner = await make_user(api)
        video_id = await make_video(api, owner)
        await _report_views(api, video_id, ["a", "b"])
        await api.analytics.flush()
        stream = api.analytics
        assert isinstance(stream, RedisAnalyticsStream) and api.redis is not None
        # A worker reads both entries and dies before writing them.
        await api.redis.xgroup_create(stream.key, stream.group, id="0", mkstream=True)
        taken = await api.redis.xreadgroup(stream.group, "dead-worker", {stream.key: ">"})
        assert len(taken[0][1]) == 2

    async with open_runtime(settings, consume_jobs=True) as worker:
        try:
            for _ in range(100):
                if await watch_events(worker, video_id) == (2, 2):
                    break
                await asyncio.sleep(0.1)
            assert await watch_events(worker, video_id) == (2, 2)
            assert worker.redis is not None
            pending = await worker.redis.xpending(stream.key, stream.group)
            assert pending["pending"] == 0
        finally:
            await reset_state(worker)


@pytest.mark.parametrize("deployment", ["scaleout"])
async def test_a_consumer_recovers_when_redis_loses_the_stream(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    assert await counted(client, video_id, session_id="before")
    await runtime.analytics.flush()
    stream = runtime.analytics
    assert isinstance(stream, RedisAnalyticsStream) and runtime.redis is not None
    await runtime.redis.delete(stream.key)  # the stream and its consumer group with it

    assert await counted(client, video_id, session_id="after")
    for _ in range(100):  # written by the background consumer, not by a flush
        if await watch_events(runtime, video_id) == (2, 2):
            break
        await asyncio.sleep(0.1)
    assert await watch_events(runtime, video_id) == (2, 2)
    assert (await video(client, video_id))["stats"]["views"] == 2
