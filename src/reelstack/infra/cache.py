"""Cache role: short-lived values, counters and locks. In-process memory or Redis."""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

INF = float("inf")
# A member that no id can be, scored above any score: it says a sorted set was built whole
# (from the database), and being in the set it goes when the set goes, which a separate key
# would not (either may expire or be evicted first).
BUILT = "!built"


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...
    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Set only if absent; True when this call set it (a lock or a once-only marker)."""
        ...

    async def delete(self, *keys: str) -> int: ...
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomic add; `ttl` applies when the key is created."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds until the value or sorted set at `key` expires; None if never or absent."""
        ...

    # Sorted sets (feed inboxes, seen filters): members with float scores.
    async def zadd(
        self,
        key: str,
        members: Mapping[str, float],
        *,
        cap: int | None = None,
        ttl: float | None = None,
    ) -> None:
        """Add or rescore members; `cap` then keeps only the highest-scored ones. With `ttl`,
        the whole set expires that many seconds after its last write with a `ttl`."""
        ...

    async def zadd_to_many(
        self, keys: Sequence[str], member: str, score: float, *, cap: int | None = None
    ) -> None:
        """The same member into many sorted sets (a fan-out), in one round trip. An expiry
        they have stays as it is."""
        ...

    async def zrem(self, key: str, *members: str) -> None: ...
    async def zrevrange(
        self, key: str, *, max_score: float = INF, min_score: float = -INF, limit: int = -1
    ) -> list[tuple[str, float]]:
        """Members scored within [min_score, max_score], highest first (ties: member desc)."""
        ...

    async def zscores(self, key: str, members: Sequence[str]) -> list[float | None]: ...
    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """One process's cache. Every caller runs on the one event loop, so no lock is needed.

    It holds at most `max_keys` values and as many sorted sets; past that, expired ones go
    first, then the values first set longest ago and the sets written longest ago, much as
    Redis does under `maxmemory` with an LRU policy: every caller must expect a key to be
    gone, and one key must not say whether another is there."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._max_keys = max_keys
        # In the order of their last write (a write moves a set to the end), for eviction.
        self._zsets: dict[str, dict[str, float]] = {}
        self._zexpiry: dict[str, float] = {}  # monotonic deadlines of the sets with one
        # Each sorted set's scores and members in (score, member) order, kept from one range
        # read to the next until the set changes: an inbox is read on every page and written
        # when someone followed posts. Tuples of strings and floats, not lists: the collector
        # stops tracking such a tuple once it has seen it, while it walks every item of every
        # list on each full pass: with 100 viewers' inboxes kept as lists, a full pass took
        # 8-10 ms in-process, 4.5-6.5 ms as tuples (bench/RESULTS.md).
        self._ordered: dict[str, tuple[tuple[float, ...], tuple[str, ...]]] = {}

    def _live(self, key: str) -> tuple[str, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    def _evict_if_full(self) -> None:
        if len(self._data) < self._max_keys:
            return
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[key]
        # Down to nine tenths, so that a full cache does not scan on every new value.
        while len(self._data) >= self._max_keys * 9 // 10:
            del self._data[next(iter(self._data))]  # oldest insertion first

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    async def get(self, key: str) -> str | None:
        item = self._live(key)
        return None if item is None else item[0]

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._evict_if_full()
        self._data[key] = (value, self._expiry(ttl))

    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                removed += 1
            if self._drop_zset(key):
                removed += 1
        return removed

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        item = self._live(key)
        if item is None:
            await self.set(key, str(amount), ttl)
            return amount
        value = int(item[0]) + amount
        self._data[key] = (str(value), item[1])
        return value

    async def ttl(self, key: str) -> float | None:
        item = self._live(key)
        if item is None:
            deadline = self._zexpiry.get(key) if self._zset(key) is not None else None
        else:
            deadline = item[1]
        return None if deadline is None else deadline - time.monotonic()

    def _zset(self, key: str) -> dict[str, float] | None:
        """The live set at `key`; an expired one is dropped."""
        deadline = self._zexpiry.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._drop_zset(key)
            return None
        return self._zsets.get(key)

    def _drop_zset(self, key: str) -> bool:
        self._ordered.pop(key, None)
        self._zexpiry.pop(key, None)
        return self._zsets.pop(key, None) is not None

    def _evict_zsets_if_full(self) -> None:
        if len(self._zsets) <= self._max_keys:
            return
        now = time.monotonic()
        for key in [k for k, deadline in self._zexpiry.items() if deadline <= now]:
            self._drop_zset(key)
        # Down to nine tenths, so that a full cache does not scan on every new set.
        while len(self._zsets) > self._max_keys * 9 // 10:
            self._drop_zset(next(iter(self._zsets)))  # written longest ago first

    async def zadd(
        self,
        key: str,
        members: Mapping[str, float],
        *,
        cap: int | None = None,
        ttl: float | None = None,
    ) -> None:
        self._ordered.pop(key, None)
        zset = self._zset(key)
        if zset is None:
            zset = {}
        else:
            del self._zsets[key]  # written now: it moves to the end of the eviction order
        zset.update(members)
        if cap is not None and len(zset) > cap:
            zset = dict(sorted(zset.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:cap])
        self._zsets[key] = zset
        if ttl is not None:
            self._zexpiry[key] = time.monotonic() + ttl
        self._evict_zsets_if_full()

    async def zadd_to_many(
        self, keys: Sequence[str], member: str, score: float, *, cap: int | None = None
    ) -> None:
        for key in keys:
            await self.zadd(key, {member: score}, cap=cap)

    async def zrem(self, key: str, *members: str) -> None:
        self._ordered.pop(key, None)
        zset = self._zset(key) or {}
        for member in members:
            zset.pop(member, None)

    async def zrevrange(
        self, key: str, *, max_score: float = INF, min_score: float = -INF, limit: int = -1
    ) -> list[tuple[str, float]]:
        zset = self._zset(key)
        if zset is None:
            return []
        ordered = self._ordered.get(key)
        if ordered is None:
            items = sorted(zset.items(), key=lambda kv: (kv[1], kv[0]))
            ordered = self._ordered[key] = (
                tuple(score for _, score in items),
                tuple(member for member, _ in items),
            )
        scores, members = ordered
        low = bisect.bisect_left(scores, min_score)
        high = bisect.bisect_right(scores, max_score)
        if limit >= 0:
            low = max(low, high - limit)
        return list(zip(members[low:high], scores[low:high], strict=True))[::-1]

    async def zscores(self, key: str, members: Sequence[str]) -> list[float | None]:
        zset = self._zset(key) or {}
        return [zset.get(member) for member in members]

    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> None:
        self._ordered.pop(key, None)
        zset = self._zset(key)
        if zset:
            for member in [m for m, s in zset.items() if min_score <= s <= max_score]:
                del zset[member]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
        self._ordered.clear()
        self._zsets.clear()
        self._zexpiry.clear()


class RedisCache:
    """Shared by every API and worker process; keys carry the deployment's prefix."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(self._k(key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._redis.set(self._k(key), value, px=None if ttl is None else int(ttl * 1000))

    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        px = None if ttl is None else int(ttl * 1000)
        return bool(await self._redis.set(self._k(key), value, px=px, nx=True))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._redis.delete(*(self._k(k) for k in keys)))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(self._k(key), amount)
            if ttl is not None:
                pipe.pexpire(self._k(key), int(ttl * 1000), nx=True)
            results = await pipe.execute()
        return int(results[0])

    async def ttl(self, key: str) -> float | None:
        ms = await self._redis.pttl(self._k(key))
        return None if ms < 0 else ms / 1000

    async def zadd(
        self,
        key: str,
        members: Mapping[str, float],
        *,
        cap: int | None = None,
        ttl: float | None = None,
    ) -> None:
        if not members:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._k(key), dict(members))
            if cap is not None:
                pipe.zremrangebyrank(self._k(key), 0, -cap - 1)
            if ttl is not None:
                pipe.pexpire(self._k(key), int(ttl * 1000))
            await pipe.execute()

    async def zadd_to_many(
        self, keys: Sequence[str], member: str, score: float, *, cap: int | None = None
    ) -> None:
        if not keys:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zadd(self._k(key), {member: score})
                if cap is not None:
                    pipe.zremrangebyrank(self._k(key), 0, -cap - 1)
            await pipe.execute()

    async def zrem(self, key: str, *members: str) -> None:
        if members:
            await self._redis.zrem(self._k(key), *members)

    async def zrevrange(
        self, key: str, *, max_score: float = INF, min_score: float = -INF, limit: int = -1
    ) -> list[tuple[str, float]]:
        rows: Any = await self._redis.zrevrangebyscore(
            self._k(key),
            "+inf" if max_score == INF else repr(max_score),
            "-inf" if min_score == -INF else repr(min_score),
            start=0 if limit >= 0 else None,
            num=limit if limit >= 0 else None,
            withscores=True,
        )
        return [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in rows]

    async def zscores(self, key: str, members: Sequence[str]) -> list[float | None]:
        if not members:
            return []
        scores = await self._redis.zmscore(self._k(key), list(members))
        return [None if s is None else float(s) for s in scores]

    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> None:
        await self._redis.zremrangebyscore(self._k(key), min_score, max_score)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        return None  # the client belongs to the runtime, which closes it
