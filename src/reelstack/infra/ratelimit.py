"""Rate limits with the `limits` library, counted where the cache role lives."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
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


@dataclass(slots=True)
class _Window:
    """One identity's spending of one rule: the times of its hits (exact rules), or the hits
    of the current and the previous fixed window (estimated rules)."""

    hits: deque[float] = field(default_factory=deque)
    index: int = 0
    current: int = 0
    previous: int = 0


class MemoryRateLimiter:
    """The embedded deployment's limits, counted in this process with the same two methods as
    on Redis: small budgets exactly over a moving window, large ones with the sliding-window
    estimate (the previous fixed window weighted by how much of it still overlaps).

    It does no work per request that grows with the number of identities: `limits`' memory
    storage walked every key it held (one thread hand-off per moving-window key) after every
    hit, which made each request dearer the more people were active. Here expired entries
    are swept at most once a `sweep_seconds`."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sweep_seconds: float = 60.0,
    ) -> None:
        self.enabled = enabled
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds
        self._items: dict[str, RateLimitItem] = {}
        self._windows: dict[tuple[str, tuple[str, ...]], _Window] = {}

    def _item(self, rule: str) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item

    async def hit(self, rule: str, *identity: str) -> None:
        if self.enabled:
            self._spend(rule, identity, count=True)

    async def check(self, rule: str, *identity: str) -> None:
        if self.enabled:
            self._spend(rule, identity, count=False)

    async def forgive(self, rule: str, *identity: str) -> None:
        self._windows.pop((rule, identity), None)

    async def reset(self) -> None:
        self._windows.clear()

    def _spend(self, rule: str, identity: tuple[str, ...], *, count: bool) -> None:
        """Count a hit (or only look), raising RateLimited if the budget is spent. Nothing
        here awaits, so concurrent requests on the event loop cannot interleave inside it."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        item = self._item(rule)
        period = float(item.get_expiry())
        key = (rule, identity)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        if item.amount <= EXACT_UP_TO:
            hits = window.hits
            while hits and hits[0] <= now - period:
                hits.popleft()
            if len(hits) >= item.amount:
                # Free again when the oldest hit that still counts leaves the window.
                raise RateLimited(retry_after=_seconds(hits[0] + period - now, period))
            if count:
                hits.append(now)
            return
        _advance(window, now, period)
        elapsed = now - window.index * period
        weight = 1.0 - elapsed / period
        if window.current + window.previous * weight + 1 > item.amount:
            raise RateLimited(
                retry_after=_seconds(_wait(window, item.amount, elapsed, period), period)
            )
        if count:
            window.current += 1

    def _sweep(self, now: float) -> None:
        """Forget identities whose spending no longer counts against anything."""
        self._next_sweep = now + self._sweep_seconds
        for key, window in list(self._windows.items()):
            period = float(self._item(key[0]).get_expiry())
            if window.hits:
                if window.hits[-1] <= now - period:
                    del self._windows[key]
            elif (window.index + 2) * period <= now:
                del self._windows[key]


def _advance(window: _Window, now: float, period: float) -> None:
    """Move the estimate's fixed windows up to the one that holds `now`."""
    index = int(now // period)
    if index == window.index:
        return
    window.previous = window.current if index == window.index + 1 else 0
    window.current = 0
    window.index = index


def _wait(window: _Window, amount: int, elapsed: float, period: float) -> float:
    """Seconds until one more hit fits under the estimate."""
    if window.current + 1 > amount:
        return period - elapsed  # not before the next window starts
    # previous * (1 - t / period) + current + 1 <= amount, for the elapsed time t.
    needed = period * (1 - (amount - window.current - 1) / window.previous)
    return needed - elapsed


def _seconds(wait: float, period: float) -> int:
    """Retry-After in whole seconds: at least one, at most the window."""
    return max(1, min(math.ceil(wait), math.ceil(period)))
