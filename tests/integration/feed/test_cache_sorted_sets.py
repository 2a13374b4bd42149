"""The sorted-set operations the feeds use, on both cache backends."""

from __future__ import annotations

import asyncio

from reelstack.runtime import Runtime


async def test_sorted_set_orders_caps_and_filters(runtime: Runtime) -> None:
    cache = runtime.cache
    await cache.zadd("z", {"a": 1.0, "b": 3.0, "c": 2.0, "d": 2.0})
    assert await cache.zrevrange("z") == [("b", 3.0), ("d", 2.0), ("c", 2.0), ("a", 1.0)]
    assert await cache.zrevrange("z", max_score=2.0, limit=2) == [("d", 2.0), ("c", 2.0)]
    assert await cache.zrevrange("z", min_score=2.5) == [("b", 3.0)]
    await cache.zadd("z", {"e": 0.5, "f": 5.0}, cap=3)  # the lowest ones go
    assert [m for m, _ in await cache.zrevrange("z")] == ["f", "b", "d"]
    assert await cache.zscores("z", ["b", "a", "f"]) == [3.0, None, 5.0]
    await cache.zrem("z", "b")
    await cache.zremrangebyscore("z", 4.0, 10.0)
    assert await cache.zrevrange("z") == [("d", 2.0)]
    assert await cache.delete("z") == 1
    assert await cache.zrevrange("z") == []
    assert await cache.zscores("missing", ["x"]) == [None]


async def test_one_member_into_many_sets(runtime: Runtime) -> None:
    cache = runtime.cache
    await cache.zadd("inbox:a", {"old": 1.0, "older": 0.5})
    await cache.zadd_to_many(["inbox:a", "inbox:b"], "new", 2.0, cap=2)
    assert [m for m, _ in await cache.zrevrange("inbox:a")] == ["new", "old"]
    assert await cache.zrevrange("inbox:b") == [("new", 2.0)]


async def test_a_set_expires_whole_after_its_last_write_with_a_ttl(runtime: Runtime) -> None:
    cache = runtime.cache
    await cache.zadd("seen:s1", {"a": 1.0, "b": 2.0}, ttl=1.0)
    await cache.zadd("kept", {"a": 1.0})
    remaining = await cache.ttl("seen:s1")
    assert remaining is not None and 0.9 < remaining <= 1.0
    assert await cache.ttl("kept") is None
    await asyncio.sleep(0.6)
    await cache.zadd("seen:s1", {"c": 3.0}, ttl=1.0)  # a write moves the end further out
    await asyncio.sleep(0.6)  # past the first write's end
    assert [m for m, _ in await cache.zrevrange("seen:s1")] == ["c", "b", "a"]
    await asyncio.sleep(0.6)
    assert await cache.zrevrange("seen:s1") == []
    assert await cache.zscores("seen:s1", ["a", "c"]) == [None, None]
    assert await cache.ttl("seen:s1") is None
    assert await cache.zrevrange("kept") == [("a", 1.0)]
    # A set that expired starts afresh: nothing of the old one comes back with a new write.
    await cache.zadd("seen:s1", {"d": 4.0})
    assert await cache.zrevrange("seen:s1") == [("d", 4.0)]
