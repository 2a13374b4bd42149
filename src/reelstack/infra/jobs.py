"""Durable background jobs on huey: a SQLite file when embedded, Redis when scaled out.

Jobs are async functions `async def job(rt, **payload)` declared with `@job(...)`. They run on
the runtime's event loop: huey's worker threads hand each one to that loop and wait for it, so a
job shares the engines and clients of the process it runs in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from huey import RedisHuey, crontab
from huey.api import Huey, TaskWrapper
from huey.consumer import Consumer
from huey.storage import SqliteStorage
from redis import ConnectionPool

from reelstack.db import JobRequest

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

# Separate queues, so a long transcode never starves notifications.
QUEUES = ("default", "media", "notifications", "feed", "maintenance")

JobFunction = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: JobFunction
    queue: str
    retries: int
    retry_delay: float
    every_minutes: int | None = None


JOB_REGISTRY: dict[str, JobSpec] = {}


def periodic_slot_key(spec: JobSpec, at: float) -> str:
    """The cache key a consumer claims to run `spec`'s periodic run of the slot holding `at`."""
    assert spec.every_minutes
    return f"jobs:periodic:{spec.name}:{int(at // (spec.every_minutes * 60))}"


def job(
    name: str,
    *,
    queue: str = "default",
    retries: int = 3,
    retry_delay: float = 2.0,
    every_minutes: int | None = None,
) -> Callable[[JobFunction], JobFunction]:
    """Declare a job under a dotted name; `every_minutes` also runs it periodically."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if every_minutes is not None and (every_minutes < 1 or 60 % every_minutes):
        # crontab's */n and the once-per-slot claim both assume slots that tile the hour.
        raise ValueError(f"every_minutes must divide 60, not {every_minutes}")

    def register(fn: JobFunction) -> JobFunction:
        existing = JOB_REGISTRY.get(name)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"job {name!r} declared twice")
        JOB_REGISTRY[name] = JobSpec(name, fn, queue, retries, retry_delay, every_minutes)
        return fn

    return register


class JobQueue(Protocol):
    async def enqueue(
        self, name: str, payload: dict[str, Any], *, delay: float | None = None
    ) -> None: ...
    async def enqueue_many(self, requests: list[JobRequest]) -> None: ...
    def start_consumer(
        self, rt: Runtime, *, queues: tuple[str, ...] = QUEUES, workers: int = 2
    ) -> None: ...
    async def stop_consumer(self) -> None: ...
    async def pending(self, queue: str) -> int: ...
    def running(self, queue: str) -> int: ...
    async def ping(self) -> None: ...


class _NoSignalConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer without its signal handlers: uvicorn or our CLI owns the signals."""

    def _set_signal_handlers(self) -> None:
        return None


class _HueyJobQueue:
    """Shared by both backends; subclasses say where huey keeps its queues."""

    def __init__(self, poll_seconds: float, timeout_seconds: float) -> None:
        self._hueys: dict[str, Huey] = {}
        self._tasks: dict[str, TaskWrapper] = {}
        self._consumers: list[Consumer] = []
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self._rt: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = dict.fromkeys(QUEUES, 0)
        self._running_lock = threading.Lock()
        for queue in QUEUES:
            self._hueys[queue] = self._make_huey(queue)
        for spec in JOB_REGISTRY.values():
            self._register(spec)

    def _make_huey(self, queue: str) -> Huey:
        raise NotImplementedError

    def _register(self, spec: JobSpec) -> None:
        huey = self._hueys[spec.queue]
        settings = {
            "name": spec.name,
            "retries": spec.retries,
            "retry_delay": spec.retry_delay,
            "retry_backoff": 2.0,
        }
        if spec.every_minutes is not None:

            def run_periodic() -> None:
                self._run_on_loop(spec, {}, periodic=True)

            self._tasks[spec.name] = huey.periodic_task(
                crontab(minute=f"*/{spec.every_minutes}"), **settings
            )(run_periodic)
        else:

            def run(payload: dict[str, Any]) -> None:
                self._run_on_loop(spec, payload, periodic=False)

            self._tasks[spec.name] = huey.task(**settings)(run)

    # -- producing -------------------------------------------------------------------------
    def _enqueue_sync(self, request: JobRequest) -> None:
        task = self._tasks.get(request.name)
        if task is None:
            raise KeyError(f"no job named {request.name!r}")
        if request.delay:
            task.schedule(args=(request.payload,), delay=request.delay)
        else:
            task(request.payload)

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, delay: float | None = None
    ) -> None:
        await self.enqueue_many([JobRequest(name, payload, delay)])

    async def enqueue_many(self, requests: list[JobRequest]) -> None:
        def push_all() -> None:
            for request in requests:
                self._enqueue_sync(request)

        await asyncio.to_thread(push_all)

    async def pending(self, queue: str) -> int:
        """Jobs of the queue not run yet: waiting now, or scheduled for later."""
        huey = self._hueys[queue]
        return int(await asyncio.to_thread(lambda: huey.pending_count() + huey.scheduled_count()))

    def running(self, queue: str) -> int:
        """Jobs of the queue this process's consumer has taken and not finished."""
        with self._running_lock:
            return self._running[queue]

    async def ping(self) -> None:
        await asyncio.to_thread(self._hueys["default"].pending_count)

    # -- consuming -------------------------------------------------------------------------
    def _run_on_loop(self, spec: JobSpec, payload: dict[str, Any], *, periodic: bool) -> None:
        """Runs in a huey worker thread: hand the job to the runtime's loop and wait for it."""
        if self._loop is None or self._rt is None:
            raise RuntimeError("job consumer is not started")
        with self._running_lock:
            self._running[spec.queue] += 1
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._execute(spec, payload, periodic=periodic), self._loop
            )
            try:
                future.result(timeout=self._timeout)
            except FutureTimeout:
                future.cancel()
                raise TimeoutError(f"job {spec.name} ran past {self._timeout}s") from None
        finally:
            with self._running_lock:
                self._running[spec.queue] -= 1

    async def _execute(self, spec: JobSpec, payload: dict[str, Any], *, periodic: bool) -> None:
        assert self._rt is not None
        if periodic and spec.every_minutes:
            # Every consumer's scheduler fires periodic jobs; only the first one per slot runs.
            slot_key = periodic_slot_key(spec, time.time())
            if not await self._rt.cache.add(slot_key, "1", ttl=spec.every_minutes * 120):
                return
        started = time.perf_counter()
        try:
            await spec.fn(self._rt, **payload)
        except Exception:
            log.exception("job %s failed (payload %s)", spec.name, payload)
            if periodic and spec.every_minutes:
                await self._rt.cache.delete(slot_key)  # let the retry claim the slot
            raise
        log.info("job %s done in %.1f ms", spec.name, (time.perf_counter() - started) * 1000)

    def start_consumer(
        self, rt: Runtime, *, queues: tuple[str, ...] = QUEUES, workers: int = 2
    ) -> None:
        self._rt = rt
        self._loop = asyncio.get_running_loop()
        for queue in queues:
            consumer = _NoSignalConsumer(
                self._hueys[queue],
                workers=workers if queue != "maintenance" else 1,
                periodic=True,
                initial_delay=min(0.05, self._poll),
                backoff=1.5,
                max_delay=self._poll,
                check_worker_health=False,
                shutdown_timeout=30,
            )
            consumer.start()
            self._consumers.append(consumer)

    async def stop_consumer(self) -> None:
        consumers, self._consumers = self._consumers, []
        # Each waits for its workers' current job; the queues need not wait for each other.
        await asyncio.gather(*(asyncio.to_thread(c.stop, True) for c in consumers))


class _JobFile(SqliteStorage):  # type: ignore[misc]  # huey is untyped
    """huey's SQLite storage, synced as the application's database is (`synchronous=NORMAL` in
    WAL mode): a job enqueued survives the process, as a committed row does, and neither
    waits for the disk on every commit. huey's default (FULL) synced the log on each enqueue
    and each dequeue: 394 µs wall and 145 µs CPU per commit against 96 and 38 at NORMAL, in a
    loop of 300 single inserts on this project's VM (bench/RESULTS.md)."""

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class SqliteJobQueue(_HueyJobQueue):
    """Embedded mode: the queues live in one SQLite file beside the database."""

    def __init__(self, path: Path, poll_seconds: float, timeout_seconds: float) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(poll_seconds, timeout_seconds)

    def _make_huey(self, queue: str) -> Huey:
        return Huey(
            name=f"reelstack.{queue}",
            storage_class=_JobFile,
            filename=str(self._path),
            results=False,
            timeout=15,
        )


class RedisJobQueue(_HueyJobQueue):
    """Scale-out: the queues live in Redis, consumed by any number of `reelstack worker`s."""

    def __init__(self, url: str, prefix: str, poll_seconds: float, timeout_seconds: float) -> None:
        self._pool = ConnectionPool.from_url(url)
        self._prefix = prefix
        super().__init__(poll_seconds, timeout_seconds)

    def _make_huey(self, queue: str) -> Huey:
        return RedisHuey(
            name=f"{self._prefix}{queue}",
            connection_pool=self._pool,
            results=False,
            blocking=True,
            read_timeout=self._poll,
        )
