"""Real-time pub/sub: messages for signed-in clients, across every API process."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis

Message = dict[str, Any]
QUEUE_LIMIT = 256


class Subscription(Protocol):
    async def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None when `timeout` passes first."""
        ...


class Broadcaster(Protocol):
    async def publish(self, channel: str, message: Message) -> None: ...
    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding a Subscription."""
        ...

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)

    async def get(self, timeout: float | None = None) -> Message | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class MemoryBroadcaster:
    """Delivers to subscribers in this process; a slow subscriber loses its oldest messages."""

    def __init__(self) -> None:
        self._subs: dict[str, set[_QueueSubscription]] = defaultdict(set)

    async def publish(self, channel: str, message: Message) -> None:
        for sub in list(self._subs.get(channel, ())):
            if sub.queue.full():
                sub.queue.get_nowait()
            sub.queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_QueueSubscription]:
        sub = _QueueSubscription()
        self._subs[channel].add(sub)
        try:
            yield sub
        finally:
            self._subs[channel].discard(sub)
            if not self._subs[channel]:
                del self._subs[channel]

    async def close(self) -> None:
        self._subs.clear()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def get(self, timeout: float | None = None) -> Message | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            raw = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=1.0 if remaining is None else remaining
            )
            if raw is not None and raw.get("type") == "message":
                data: Message = json.loads(raw["data"])
                return data
            if deadline is not None and loop.time() >= deadline:
                return None


class RedisBroadcaster:
    """Redis PUBLISH/SUBSCRIBE, so a worker's message reaches a client on any API process."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + "rt:"

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._prefix + channel)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        return None
