"""The embedded cache holds a bounded number of keys, as Redis under `maxmemory` does: a
signed-out visitor who never sends their cookie back makes a new session, with its own seen
filter, on every For-You request, and those must not pile up until the process runs out of
memory."""

from __future__ import annotations

import asyncio

from reelstack.infra.cache import MemoryCache


async def test_sorted_sets_past_the_bound_go_written_longest_ago_first() -> None:
    cache = MemoryCache(max_keys=10)
    for n in range(10):
        await cache.zadd(f"seen:{n}", {"v": float(n)})
    await cache.zadd("seen:0", {"w": 1.0})  # written again: now the newest
    await cache.zadd("seen:10", {"v": 10.0})  # one over: down to nine tenths
    present = [n for n in range(11) if await cache.zrevrange(f"seen:{n}")]
    assert present == [0, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [m for m, _ in await cache.zrevrange("seen:0")] == ["w", "v"]


async def test_expired_sets_go_before_live_ones() -> None:
    cache = MemoryCache(max_keys=10)
    await cache.zadd("live-but-old", {"v": 1.0})
    for n in range(9):
        await cache.zadd(f"gone:{n}", {"v": 1.0}, ttl=0.05)
    await asyncio.sleep(0.1)
    await cache.zadd("new", {"v": 1.0})
    assert await cache.zrevrange("live-but-old") == [("v", 1.0)]
    assert await cache.zrevrange("new") == [("v", 1.0)]


async def test_values_past_the_bound_go_first_set_first() -> None:
    cache = MemoryCache(max_keys=10)
    for n in range(10):
        await cache.set(f"k{n}", str(n))
    await cache.set("k10", "10")
    present = [n for n in range(11) if await cache.get(f"k{n}") is not None]
    assert present == [*range(2, 11)]
