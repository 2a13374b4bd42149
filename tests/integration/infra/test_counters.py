"""Hot counters on both deployments: a column moved in the writer's transaction (embedded), or
deltas in sharded Redis hashes written back by a flush (scale-out). Counts are exact under
concurrency, a flush that fails or is cut off loses nothing and applies nothing twice, and the
reconcile recounts a drifted column from the rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from reelstack.config import Settings
from reelstack.infra.counters import (
    RedisCounters,
    _recount_row,
    flush_all_counters,
    reconcile,
)
from reelstack.interactions import service as interactions
from reelstack.interactions.models import VideoLike
from reelstack.media.models import VIDEO_COUNTERS, Video
from reelstack.media.service import Viewer
from reelstack.runtime import Runtime, open_runtime
from tests.conftest import reset_state
from tests.factories import TestUser, make_user, make_video

scaleout_only = pytest.mark.parametrize("deployment", ["scaleout"])


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime without a job consumer: nothing flushes unless the test says so."""
    async with open_runtime(settings) as rt:
        await reset_state(rt)
        try:
            yield rt
        finally:
            await reset_state(rt)


async def add(rt: Runtime, video_id: str, field_name: str, delta: int) -> int:
    async with rt.unit_of_work() as session:
        return await rt.counters.add(session, VIDEO_COUNTERS, video_id, field_name, delta)


async def seen(rt: Runtime, video_id: str) -> dict[str, int]:
    """The counts as a reader sees them: stored column plus whatever is pending."""
    async with rt.unit_of_work(write=False) as session:
        video = await session.get_one(Video, video_id)
        return (await rt.counters.read(VIDEO_COUNTERS, [video]))[video_id]


async def stored(rt: Runtime, video_id: str) -> Video:
    async with rt.unit_of_work(write=False) as session:
        return await session.get_one(Video, video_id)


async def videos(rt: Runtime, count: int) -> list[str]:
    owner = await make_user(rt)
    return [await make_video(rt, owner) for _ in range(count)]


async def test_concurrent_adds_are_exact_and_a_rollback_counts_nothing(runtime: Runtime) -> None:
    [video_id] = await videos(runtime, 1)
    results = await asyncio.gather(
        *(add(runtime, video_id, "like_count", 1) for _ in range(120)),
        *(add(runtime, video_id, "share_count", 1) for _ in range(30)),
        *(add(runtime, video_id, "share_count", -1) for _ in range(10)),
    )
    assert all(1 <= count <= 120 for count in results[:120])  # each writer saw its own add
    counts = await seen(runtime, video_id)
    assert (counts["like_count"], counts["share_count"], counts["view_count"]) == (120, 20, 0)

    with pytest.raises(RuntimeError):
        async with runtime.unit_of_work() as session:
            await runtime.counters.add(session, VIDEO_COUNTERS, video_id, "like_count", 5)
            raise RuntimeError("the write that carried the like failed")
    assert (await seen(runtime, video_id))["like_count"] == 120

    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    video = await stored(runtime, video_id)
    assert (video.like_count, video.share_count) == (120, 20)
    assert (await seen(runtime, video_id))["like_count"] == 120


@scaleout_only
async def test_pending_deltas_are_read_before_the_flush_and_written_by_it(
    runtime: Runtime,
) -> None:
    first, second = await videos(runtime, 2)
    await asyncio.gather(*(add(runtime, first, "like_count", 1) for _ in range(50)))
    await add(runtime, second, "save_count", 3)

    assert (await stored(runtime, first)).like_count == 0  # only in Redis so far
    assert (await seen(runtime, first))["like_count"] == 50
    pending = await runtime.counters.pending(VIDEO_COUNTERS, {first: 0, second: 0})
    assert pending == {first: {"like_count": 50}, second: {"save_count": 3}}

    assert await runtime.counters.flush(runtime, VIDEO_COUNTERS) == 2
    video = await stored(runtime, first)
    assert (video.like_count, video.counters_seq) == (50, 1)
    assert (await stored(runtime, second)).save_count == 3
    assert await runtime.counters.pending(VIDEO_COUNTERS, {first: 1, second: 1}) == {
        first: {},
        second: {},
    }
    assert (await seen(runtime, first))["like_count"] == 50
    assert await runtime.counters.flush(runtime, VIDEO_COUNTERS) == 0  # nothing left to write

    # A reader holding the row as it was before the flush still sees every like exactly once.
    await add(runtime, first, "like_count", 1)
    stale = {first: 0}
    assert (await runtime.counters.pending(VIDEO_COUNTERS, stale))[first]["like_count"] == 51


@scaleout_only
async def test_a_flush_that_fails_after_moving_the_deltas_loses_nothing(runtime: Runtime) -> None:
    ids = await videos(runtime, 11)
    doomed = ids[0]
    for index, video_id in enumerate(ids):
        await asyncio.gather(*(add(runtime, video_id, "like_count", 1) for _ in range(index + 1)))
    # A real failure between the move script and the commit: the database refuses the UPDATE
    # of one row (as a lost connection or a full disk would).
    constraint = "ck_test_flush_fails"
    async with runtime.db.writer.begin() as conn:
        await conn.execute(
            text(
                f"ALTER TABLE videos ADD CONSTRAINT {constraint} "
                f"CHECK (id <> '{doomed}' OR like_count = 0) NOT VALID"
            )
        )
    try:
        with pytest.raises(IntegrityError):
            await runtime.counters.flush(runtime, VIDEO_COUNTERS)
        assert (await stored(runtime, doomed)).like_count == 0
        # Its deltas were moved into a flush entry that never committed: readers count it.
        for index, video_id in enumerate(ids):
            assert (await seen(runtime, video_id))["like_count"] == index + 1
    finally:
        async with runtime.db.writer.begin() as conn:
            await conn.execute(text(f"ALTER TABLE videos DROP CONSTRAINT {constraint}"))

    await add(runtime, doomed, "like_count", 1)  # a like arriving in between is kept too
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    # Every row, including those after the failed one in the batch, is written exactly once.
    for index, video_id in enumerate(ids):
        expected = index + 2 if video_id == doomed else index + 1
        assert (await stored(runtime, video_id)).like_count == expected
        assert (await seen(runtime, video_id))["like_count"] == expected
    assert await runtime.counters.flush(runtime, VIDEO_COUNTERS) == 0


@scaleout_only
async def test_a_flush_cut_off_mid_way_is_finished_by_the_next_sweep(runtime: Runtime) -> None:
    [video_id] = await videos(runtime, 1)
    await asyncio.gather(*(add(runtime, video_id, "like_count", 1) for _ in range(7)))
    # Another transaction holds the row, so the flush waits on it; then the job is cut off
    # there, as a job timeout or a worker shutting down would.
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Video).where(Video.id == video_id).values(caption="being edited")
        )
        flush = asyncio.create_task(runtime.counters.flush(runtime, VIDEO_COUNTERS))
        await asyncio.sleep(0.5)
        assert not flush.done()
        flush.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flush
    assert (await seen(runtime, video_id))["like_count"] == 7
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)  # the row is not dirty any more...
    await flush_all_counters(runtime)  # ...but the periodic sweep takes back what was cut off
    assert (await stored(runtime, video_id)).like_count == 7
    assert (await seen(runtime, video_id))["like_count"] == 7


async def like_as(rt: Runtime, user: TestUser, video_id: str) -> None:
    async with rt.unit_of_work() as session:
        await interactions.like(rt.counters, session, Viewer(user.id), video_id)


async def corrupt(rt: Runtime, video_id: str, **values: int) -> None:
    """A column gone wrong behind the counters' back (a manual edit, a restored backup)."""
    async with rt.unit_of_work() as session:
        await session.execute(update(Video).where(Video.id == video_id).values(**values))


async def test_reconcile_repairs_a_corrupted_column_and_leaves_right_ones_alone(
    runtime: Runtime,
) -> None:
    drifted, right = await videos(runtime, 2)
    fans = [await make_user(runtime) for _ in range(3)]
    for fan in fans:
        await like_as(runtime, fan, drifted)
    for fan in fans[:2]:
        await like_as(runtime, fan, right)
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    untouched = await stored(runtime, right)

    await corrupt(runtime, drifted, like_count=40)
    assert (await seen(runtime, drifted))["like_count"] == 40
    assert await reconcile(runtime, VIDEO_COUNTERS) == 1
    assert (await seen(runtime, drifted))["like_count"] == 3
    assert (await stored(runtime, drifted)).like_count == 3
    after = await stored(runtime, right)
    assert (after.like_count, after.updated_at) == (2, untouched.updated_at)
    assert await reconcile(runtime, VIDEO_COUNTERS) == 0


@scaleout_only
async def test_reconcile_counts_the_pending_deltas_of_a_row(runtime: Runtime) -> None:
    [video_id] = await videos(runtime, 1)
    for _ in range(4):
        await like_as(runtime, await make_user(runtime), video_id)
    await corrupt(runtime, video_id, like_count=-9)  # the four likes are still only in Redis
    assert await reconcile(runtime, VIDEO_COUNTERS, [video_id]) == 1
    assert (await seen(runtime, video_id))["like_count"] == 4
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored(runtime, video_id)).like_count == 4
    assert (await seen(runtime, video_id))["like_count"] == 4


@scaleout_only
async def test_a_recount_waits_for_deltas_still_on_their_way(runtime: Runtime) -> None:
    """A like commits its row, and its delta reaches Redis just after the commit. A recount
    that ran in between must not count that like in the column and again when it lands."""
    [video_id] = await videos(runtime, 1)
    fan = await make_user(runtime)
    async with runtime.unit_of_work() as session:
        session.add(VideoLike(user_id=fan.id, video_id=video_id))  # committed, delta not yet
    counters = runtime.counters
    assert isinstance(counters, RedisCounters)
    key = counters._key(VIDEO_COUNTERS, video_id, 0)

    async def late_delta() -> None:
        """What the like's after-commit callback does, a little late."""
        await asyncio.sleep(0.05)
        assert runtime.redis is not None
        await runtime.redis.hincrby(key, "like_count", 1)
        await runtime.redis.sadd(counters._dirty(VIDEO_COUNTERS), video_id)

    await asyncio.gather(late_delta(), _recount_row(runtime, VIDEO_COUNTERS, video_id))
    assert (await seen(runtime, video_id))["like_count"] == 1
    await runtime.counters.flush(runtime, VIDEO_COUNTERS)
    assert (await stored(runtime, video_id)).like_count == 1
