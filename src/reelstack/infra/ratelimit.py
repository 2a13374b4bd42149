"""Rate limits with the `limits` library, counted where the cache role lives."""

from __future__ import annotations

import math
import time
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import RateLimiter as RateLimiterStrategy
from redis.asyncio import BlockingConnectionPool

from reelstack.errors import RateLimited

EXACT_UP_TO = 100


class RateLimiter(Protocol):
    async def hit(self, rule: str, *identity: str) -> None:
        """Count one request against `rule` (e.g. "10/minute") for `identity`; raise
        RateLimited with the seconds to wait once it is spent."""
        ...

    async def check(self, rule: str, *identity: str) -> None:
        """Raise RateLimited if `rule` is spent for `identity`, without counting a request."""
        ...

    async def forgive(self, rule: str, *identity: str) -> None:
        """Forget what `identity` has spent of `rule` (a failed-attempts budget after success)."""
        ...

    async def reset(self) -> None: ...


class LimitsRateLimiter:
    def __init__(self, storage: Storage, *, enabled: bool = True) -> None:
        self._storage = storage
        # Small budgets (sign-in, sign-up, anonymous) are counted exactly, so a burst straddling
        # a window boundary cannot slip past them; large ones with the memory-light estimate.
        self._exact = MovingWindowRateLimiter(storage)
        self._estimated = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {}
        self.enabled = enabled

    @classmethod
    def in_memory(cls, *, enabled: bool = True) -> LimitsRateLimiter:
        return cls(MemoryStorage(), enabled=enabled)

    @classmethod
    def on_redis(
        cls, url: str, prefix: str, pool: BlockingConnectionPool, *, enabled: bool = True
    ) -> LimitsRateLimiter:
        """Counts in Redis, on the runtime's connection pool (closed with the runtime)."""
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=prefix + "rl",
            connection_pool=pool,  # type: ignore[arg-type]  # documented; typed too narrowly
        )
        return cls(storage, enabled=enabled)

    def _item(self, rule: str) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item

    async def hit(self, rule: str, *identity: str) -> None:
        if not self.enabled:
            return
        item = self._item(rule)
        if not await self._strategy(item).hit(item, *identity):
            await self._refuse(item, *identity)

    async def check(self, rule: str, *identity: str) -> None:
        if not self.enabled:
            return
        item = self._item(rule)
        if not await self._strategy(item).test(item, *identity):
            await self._refuse(item, *identity)

    async def forgive(self, rule: str, *identity: str) -> None:
        if self.enabled:
            item = self._item(rule)
            await self._strategy(item).clear(item, *identity)

    def _strategy(self, item: RateLimitItem) -> RateLimiterStrategy:
        return self._exact if item.amount <= EXACT_UP_TO else self._estimated

    async def _refuse(self, item: RateLimitItem, *identity: str) -> None:
        stats = await self._strategy(item).get_window_stats(item, *identity)
        raise RateLimited(retry_after=math.ceil(max(0.0, stats.reset_time - time.time())))

    async def reset(self) -> None:
        await self._storage.reset()
