"""Analytics stream role: events from the request path to the database in batches, so a
request never waits on a database write.

Every process that publishes keeps a buffer; `publish` only appends to it. A background task
hands the buffer on every `flush_seconds`, or as soon as `batch_size` events wait, and on
shutdown (`close`). A failed hand-over keeps the events for the next attempt; past
`max_pending` waiting events the oldest are dropped (and logged), so a long outage costs views,
never the process's memory.

Embedded (`MemoryAnalyticsStream`): the buffer goes straight to the sink (the feature's batch
writer) in this process. What a crash (kill -9, power loss) loses: the events still in the
buffer, at most the last `flush_seconds` (or `batch_size` events) of views; a clean shutdown
writes them. Counters cannot disagree with the rows, as the sink writes both in one transaction.

Scale-out (`RedisAnalyticsStream`): each hand-over is one pipelined batch of XADDs to a Redis
Stream capped at about `max_len` entries (MAXLEN ~). Every process that runs jobs is a consumer
in one consumer group (XREADGROUP), so any number of workers share the stream; each batch is
written by the sink and then acknowledged (XACK). A batch whose write failed is read again from
the consumer's own pending list; what a crashed consumer held is claimed by another one once it
has sat unacknowledged for `claim_idle_seconds` (XAUTOCLAIM). What a crash loses: an API
process's unflushed buffer (at most `flush_seconds`). Delivery is at least once: a consumer that
dies between the sink's commit and its XACK has that batch written again by the next one. A
backlog beyond `max_len` entries (all consumers down for a long time) is trimmed oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ResponseError

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

StreamEvent = dict[str, Any]  # a JSON object
Sink = Callable[["Runtime", list[StreamEvent]], Awaitable[None]]

ANALYTICS = "analytics"
STOP_TIMEOUT_SECONDS = 30.0
_SINKS: dict[str, Sink] = {}


def stream_sink(stream: str) -> Callable[[Sink], Sink]:
    """Declare the function that writes a stream's batches (one per stream)."""

    def register(sink: Sink) -> Sink:
        existing = _SINKS.get(stream)
        if existing is not None and existing is not sink:
            raise ValueError(f"stream {stream!r} already has a sink")
        _SINKS[stream] = sink
        return sink

    return register


def sink_of(stream: str) -> Sink:
    try:
        return _SINKS[stream]
    except KeyError:
        raise RuntimeError(f"no sink declared for stream {stream!r}") from None


class AnalyticsStream(Protocol):
    def publish(self, event: StreamEvent) -> None:
        """Queue one event; never waits."""
        ...

    async def flush(self) -> None:
        """Hand on every event published so far, and where this process consumes the stream,
        write what it holds before returning (tests, shutdown)."""
        ...

    def start(self, rt: Runtime, *, consume: bool) -> None:
        """Start the background hand-over, and consuming when `consume` (job processes)."""
        ...

    async def close(self) -> None:
        """Stop the background tasks after a last flush."""
        ...


class _BufferedStream:
    """The publishing half both implementations share: a buffer and its flusher task."""

    def __init__(
        self, *, flush_seconds: float, batch_size: int, max_pending: int, name: str = ANALYTICS
    ) -> None:
        self.name = name
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._buffer: list[StreamEvent] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._rt: Runtime | None = None
        self.dropped = 0

    def publish(self, event: StreamEvent) -> None:
        self._buffer.append(event)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()
        if len(self._buffer) > self._max_pending:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        excess = len(self._buffer) - self._max_pending
        del self._buffer[:excess]
        self.dropped += excess
        log.warning("%s stream: %d events dropped (%d so far)", self.name, excess, self.dropped)

    def start(self, rt: Runtime, *, consume: bool) -> None:
        self._rt = rt
        self._tasks.append(asyncio.create_task(self._flush_forever(), name=f"{self.name}-flush"))

    async def _flush_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_seconds)
            self._wake.clear()
            try:
                await self._flush_buffer()
            except Exception:
                # Kept for the next tick: a database or Redis outage only delays the events.
                log.exception(
                    "%s stream: hand-over failed, %d events wait", self.name, self.waiting
                )

    @property
    def waiting(self) -> int:
        return len(self._buffer)

    async def _flush_buffer(self) -> None:
        """Hand the buffer on in batches; a failed batch and the rest go back in front."""
        async with self._flush_lock:
            taken, self._buffer = self._buffer, []
            for start in range(0, len(taken), self._batch_size):
                try:
                    await self._deliver(taken[start : start + self._batch_size])
                except BaseException:
                    # Cancellation too: whatever was not handed on is kept, not lost.
                    self._buffer[:0] = taken[start:]
                    if len(self._buffer) > self._max_pending:
                        self._drop_oldest()
                    raise

    async def _deliver(self, batch: list[StreamEvent]) -> None:
        raise NotImplementedError

    async def _stop_tasks(self) -> None:
        """Let each task finish the batch it is writing, then end it; cancel one that hangs."""
        self._stopping.set()
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, hanging = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)
        for task in hanging:
            task.cancel()
        for task in hanging:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _runtime(self) -> Runtime:
        if self._rt is None:
            raise RuntimeError(f"{self.name} stream is not started")
        return self._rt


class MemoryAnalyticsStream(_BufferedStream):
    """Embedded: the buffer is written to the database by this process's sink."""

    async def _deliver(self, batch: list[StreamEvent]) -> None:
        await sink_of(self.name)(self._runtime(), batch)

    async def flush(self) -> None:
        await self._flush_buffer()

    async def close(self) -> None:
        await self._stop_tasks()
        if self._rt is None:
            return
        try:
            await self._flush_buffer()
        except Exception:
            log.exception("%s stream: %d events lost at shutdown", self.name, self.waiting)


class RedisAnalyticsStream(_BufferedStream):
    """Scale-out: API processes append to a Redis Stream; job processes consume it as a group."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        flush_seconds: float,
        batch_size: int,
        max_pending: int,
        max_len: int,
        claim_idle_seconds: float,
        poll_seconds: float = 0.2,
        name: str = ANALYTICS,
    ) -> None:
        super().__init__(
            flush_seconds=flush_seconds, batch_size=batch_size, max_pending=max_pending, name=name
        )
        self._redis = client
        self.key = f"{prefix}stream:{name}"
        self.group = f"{name}-writers"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._max_len = max_len
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._poll_seconds = poll_seconds
        self._consume_lock = asyncio.Lock()
        self._consuming = False

    async def _deliver(self, batch: list[StreamEvent]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in batch:
                pipe.xadd(
                    self.key,
                    {"e": json.dumps(event, separators=(",", ":"))},
                    maxlen=self._max_len,
                    approximate=True,
                )
            await pipe.execute()

    def start(self, rt: Runtime, *, consume: bool) -> None:
        super().start(rt, consume=consume)
        if consume:
            self._consuming = True
            self._tasks.append(
                asyncio.create_task(self._consume_forever(), name=f"{self.name}-consume")
            )

    async def _ensure_group(self) -> None:
        try:
            # From "0": events published before the first consumer ever started count too.
            await self._redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume_forever(self) -> None:
        group_ready = False
        claim_every = max(1.0, self._claim_idle_ms / 2000)
        last_claim = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            written = 0
            try:
                if not group_ready:
                    await self._ensure_group()
                    group_ready = True
                claim = loop.time() - last_claim >= claim_every
                if claim:
                    last_claim = loop.time()
                async with self._consume_lock:
                    written = await self._consume_once(claim=claim)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.exception("%s stream: consuming failed; retrying", self.name)
                    await self._pause(1.0)
                # The stream or its group is gone (Redis emptied): make them again.
                group_ready = False
            except Exception:
                log.exception("%s stream: consuming failed; retrying", self.name)
                await self._pause(1.0)
            if written < self._batch_size:
                await self._pause(self._poll_seconds)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _consume_once(self, *, claim: bool) -> int:
        """Write one batch: this consumer's unacknowledged entries first (a failed write), then
        entries abandoned by dead consumers (when `claim`), then new ones. Returns its size."""
        entries = await self._read(self.consumer, "0")
        if not entries and claim:
            claimed = await self._redis.xautoclaim(
                self.key,
                self.group,
                self.consumer,
                min_idle_time=self._claim_idle_ms,
                start_id="0-0",
                count=self._batch_size,
            )
            entries = [(entry_id, fields or {}) for entry_id, fields in claimed[1] if entry_id]
        if not entries:
            entries = await self._read(self.consumer, ">")
        if not entries:
            return 0
        events: list[StreamEvent] = []
        for entry_id, fields in entries:
            event = _decode(fields)
            if event is None:
                log.error("%s stream: dropping malformed entry %r", self.name, entry_id)
            else:
                events.append(event)
        if events:
            await sink_of(self.name)(self._runtime(), events)
        await self._redis.xack(self.key, self.group, *(entry_id for entry_id, _ in entries))
        return len(entries)

    async def _read(self, consumer: str, start: str) -> list[tuple[Any, dict[Any, Any]]]:
        reply: Any = await self._redis.xreadgroup(
            self.group, consumer, {self.key: start}, count=self._batch_size
        )
        entries: list[tuple[Any, dict[Any, Any]]] = []
        for _stream, items in reply or []:
            # A deleted (trimmed) entry still pending comes back with no fields.
            entries.extend((entry_id, fields or {}) for entry_id, fields in items if entry_id)
        return entries

    async def flush(self) -> None:
        await self._flush_buffer()
        if not self._consuming:
            return
        await self._ensure_group()
        async with self._consume_lock:
            while await self._consume_once(claim=False):
                pass

    async def close(self) -> None:
        await self._stop_tasks()
        if self._rt is None:
            return
        try:
            await self._flush_buffer()
        except Exception:
            log.exception("%s stream: %d events lost at shutdown", self.name, self.waiting)
        if self._consuming:
            await self._leave_group()

    async def _leave_group(self) -> None:
        """Remove this consumer's name from the group unless it still holds entries."""
        # Best effort at shutdown: a name left behind only shows in XINFO CONSUMERS.
        with contextlib.suppress(Exception):
            pending = await self._redis.xpending_range(
                self.key, self.group, min="-", max="+", count=1, consumername=self.consumer
            )
            if not pending:
                await self._redis.xgroup_delconsumer(self.key, self.group, self.consumer)


def _decode(fields: dict[Any, Any]) -> StreamEvent | None:
    raw = fields.get(b"e", fields.get("e"))
    if raw is None:
        return None
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
