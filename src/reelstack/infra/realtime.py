"""Real-time pub/sub: messages for signed-in clients, across every API process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis

log = logging.getLogger(__name__)

Message = dict[str, Any]
QUEUE_LIMIT = 256
SUBSCRIBE_TIMEOUT_SECONDS = 5.0


class Subscription(Protocol):
    async def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None when `timeout` passes first."""
        ...


class Broadcaster(Protocol):
    async def publish(self, channel: str, message: Message) -> None: ...
    async def listening(self, channels: Sequence[str]) -> set[str]:
        """The channels someone is subscribed to now, in any process: a message for the others
        would reach nobody, so callers skip building it."""
        ...

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

    async def listening(self, channels: Sequence[str]) -> set[str]:
        return {channel for channel in channels if self._subs.get(channel)}

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


class RedisBroadcaster:
    """Redis PUBLISH/SUBSCRIBE, so a worker's message reaches a client on any API process.

    One pub/sub connection per process, whatever the number of subscribers: a reader task
    hands each message to this process's subscribers of that channel."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + "rt:"
        self._local = MemoryBroadcaster()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribers: dict[str, int] = defaultdict(int)
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message))

    async def listening(self, channels: Sequence[str]) -> set[str]:
        if not channels:
            return set()
        # PUBSUB NUMSUB counts subscribed connections on the whole Redis: every API process
        # subscribes once per channel that has a client there.
        counts = await self._redis.pubsub_numsub(*(self._prefix + c for c in channels))
        return {_text(name).removeprefix(self._prefix) for name, count in counts if count}

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_QueueSubscription]:
        async with self._local.subscribe(channel) as sub:
            try:
                await self._join(channel)
                yield sub
            finally:
                await self._leave(channel)

    async def _join(self, channel: str) -> None:
        async with self._lock:
            self._subscribers[channel] += 1
            if self._subscribers[channel] > 1:
                confirmed = self._confirmed[channel]
            else:
                confirmed = self._confirmed[channel] = asyncio.Event()
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(self._prefix + channel)
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read(), name="realtime-reader")
        # Only once Redis has confirmed is a message published from elsewhere sure to arrive.
        await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_SECONDS)

    async def _leave(self, channel: str) -> None:
        async with self._lock:
            if self._subscribers.get(channel, 0) == 0:
                return
            self._subscribers[channel] -= 1
            if self._subscribers[channel] == 0:
                del self._subscribers[channel]
                self._confirmed.pop(channel, None)
                await self._pubsub.unsubscribe(self._prefix + channel)

    async def _read(self) -> None:
        while True:
            try:
                raw = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime reader lost its Redis connection; retrying")
                await asyncio.sleep(1.0)
                continue
            if raw is None:
                continue
            channel = _text(raw["channel"]).removeprefix(self._prefix)
            if raw["type"] == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
            elif raw["type"] == "message":
                await self._local.publish(channel, json.loads(raw["data"]))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        await self._local.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
