"""The embedded cache keeps every viewer's inbox in the process: what it keeps between reads
must not be walked by each full pass of the garbage collector, whose pauses stall every
request in flight."""

from __future__ import annotations

import gc

from reelstack.infra.cache import MemoryCache


async def test_kept_sorted_set_orders_leave_nothing_for_the_collector_to_walk() -> None:
    cache = MemoryCache()
    inboxes = 1000
    for n in range(inboxes):
        await cache.zadd(f"feed:inbox:{n}", {f"video{n}-{m}": float(m) for m in range(100)})
    gc.collect()
    before = len(gc.get_objects())
    for n in range(inboxes):
        newest = await cache.zrevrange(f"feed:inbox:{n}", limit=3)
        assert [member for member, _ in newest] == [f"video{n}-99", f"video{n}-98", f"video{n}-97"]
    del newest
    gc.collect()
    # Kept as lists, the orders were at least two tracked objects per inbox (3,001 more here).
    assert len(gc.get_objects()) - before < inboxes / 2
