"""The cache role on both backends: in-process memory (embedded) and Redis (scale-out)."""

from __future__ import annotations

import asyncio

from reelstack.runtime import Runtime


async def test_set_get_and_ttl_expiry(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.get("greeting") is None
    await cache.set("greeting", "hello")
    await cache.set("short-lived", "soon gone", ttl=0.2)
    assert await cache.get("greeting") == "hello"
    assert await cache.get("short-lived") == "soon gone"
    assert await cache.ttl("greeting") is None  # no expiry
    remaining = await cache.ttl("short-lived")
    assert remaining is not None and 0 < remaining <= 0.2

    await asyncio.sleep(0.3)
    assert await cache.get("short-lived") is None
    assert await cache.ttl("short-lived") is None
    assert await cache.get("greeting") == "hello"

    await cache.set("greeting", "replaced")
    assert await cache.get("greeting") == "replaced"


async def test_add_sets_only_when_absent(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.add("lock:transcode:v1", "worker-a", ttl=0.2) is True
    assert await cache.add("lock:transcode:v1", "worker-b", ttl=0.2) is False
    assert await cache.get("lock:transcode:v1") == "worker-a"
    # Once the lock expires, the next caller gets it.
    await asyncio.sleep(0.3)
    assert await cache.add("lock:transcode:v1", "worker-b") is True
    assert await cache.get("lock:transcode:v1") == "worker-b"


async def test_concurrent_increments_are_not_lost(runtime: Runtime) -> None:
    cache = runtime.cache
    results = await asyncio.gather(*(cache.incr("views:v1") for _ in range(200)))
    assert await cache.get("views:v1") == "200"
    # Every caller saw a distinct value: no two read-modify-writes overlapped.
    assert sorted(results) == list(range(1, 201))
    assert await cache.incr("views:v1", 5) == 205
    assert await cache.incr("views:v1", -10) == 195


async def test_incr_ttl_applies_when_the_counter_is_created(runtime: Runtime) -> None:
    cache = runtime.cache
    assert await cache.incr("window:ip", ttl=0.4) == 1
    await asyncio.sleep(0.2)
    # A later increment does not push the window's end further out.
    assert await cache.incr("window:ip", ttl=0.4) == 2
    remaining = await cache.ttl("window:ip")
    assert remaining is not None and remaining <= 0.25
    await asyncio.sleep(0.3)
    assert await cache.get("window:ip") is None
    assert await cache.incr("window:ip", ttl=0.4) == 1


async def test_delete_removes_keys_and_counts_them(runtime: Runtime) -> None:
    cache = runtime.cache
    await cache.set("a", "1")
    await cache.set("b", "2")
    await cache.set("c", "3")
    assert await cache.delete("a", "b", "never-set") == 2
    assert await cache.get("a") is None and await cache.get("b") is None
    assert await cache.get("c") == "3"
    assert await cache.delete("a") == 0
    assert await cache.delete() == 0
    # A deleted key is absent again for `add`.
    assert await cache.add("a", "again") is True
