"""The runtime: every client the process holds, built once from settings at start-up."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.security import AccessTokens, Passwords
from reelstack.accounts.service import TokenPolicy
from reelstack.accounts.views import MediaLinks
from reelstack.config import ConfigurationError, Settings
from reelstack.db import Database, JobRequest
from reelstack.infra.cache import Cache, MemoryCache, RedisCache
from reelstack.infra.counters import (
    FLUSH_DELAY_SECONDS,
    FLUSH_JOB,
    Counters,
    DatabaseCounters,
    RedisCounters,
)
from reelstack.infra.events import run_in_process
from reelstack.infra.jobs import QUEUES, JobQueue, RedisJobQueue, SqliteJobQueue
from reelstack.infra.ratelimit import LimitsRateLimiter, MemoryRateLimiter, RateLimiter
from reelstack.infra.realtime import Broadcaster, MemoryBroadcaster, RedisBroadcaster
from reelstack.infra.search import SearchBackend, build_search
from reelstack.infra.storage import LocalStorage, S3Storage, Storage, UrlSigner
from reelstack.infra.streams import AnalyticsStream, MemoryAnalyticsStream, RedisAnalyticsStream
from reelstack.media.playback import PlaybackLinks
from reelstack.migrate import current_revision, head_revision, upgrade_to_head

log = logging.getLogger(__name__)

# Modules that declare jobs and event handlers; imported before the queue is built.
JOB_MODULES = (
    "reelstack.infra.counters",
    "reelstack.accounts.tasks",
    "reelstack.social.tasks",
    "reelstack.media.tasks",
    "reelstack.interactions.tasks",
    "reelstack.comments.tasks",
    "reelstack.analytics.tasks",
    "reelstack.notifications.tasks",
    "reelstack.search.tasks",
    "reelstack.feed.tasks",
    "reelstack.recommend.tasks",
    "reelstack.handlers",
)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cache: Cache
    jobs: JobQueue
    storage: Storage
    realtime: Broadcaster
    limiter: RateLimiter
    signer: UrlSigner
    passwords: Passwords
    token_policy: TokenPolicy
    counters: Counters
    analytics: AnalyticsStream
    search: SearchBackend
    redis: Redis | None = None

    @property
    def media(self) -> MediaLinks:
        return MediaLinks(self.storage, self.settings.media_url_ttl_seconds)

    @property
    def playback(self) -> PlaybackLinks:
        return PlaybackLinks(self.signer, self.storage, self.settings.media_url_ttl_seconds)

    def unit_of_work(self, *, write: bool = True) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction whose jobs and events are enqueued only once it has committed."""
        return self.db.unit_of_work(self.dispatch, write=write)

    async def dispatch(self, requests: list[JobRequest]) -> None:
        """Enqueue the jobs a committed transaction asked for, and run its in-process handlers.
        A coalesced job whose key already has a run scheduled is left out: that run comes after
        this commit and covers it."""
        queued = []
        for request in requests:
            if request.in_process:
                await run_in_process(self, request)
            else:
                queued.append(request)
        kept = [
            request
            for request in queued
            if request.coalesce_key is None
            or await self.cache.add(
                f"jobs:coalesce:{request.coalesce_key}", "1", ttl=request.delay or 1.0
            )
        ]
        if kept:
            await self.jobs.enqueue_many(kept)


def build_storage(settings: Settings, signer: UrlSigner) -> Storage:
    if settings.storage_url is None:
        return LocalStorage(settings.data_dir / "media", signer)
    if settings.storage_url.startswith("s3://"):
        secret = settings.s3_secret_access_key
        return S3Storage.from_url(
            settings.storage_url,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )
    if settings.storage_url.startswith("file://"):
        from pathlib import Path

        return LocalStorage(Path(settings.storage_url.removeprefix("file://")), signer)
    raise ConfigurationError("REELSTACK_STORAGE_URL must be s3://bucket[/prefix] or file:///dir")


async def prepare_schema(settings: Settings, db: Database) -> None:
    if settings.migrate_on_start:
        await upgrade_to_head(db.writer)
        return
    current, head = await current_revision(db.writer), head_revision()
    if current != head:
        raise ConfigurationError(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `reelstack migrate` first"
        )


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, consume_jobs: bool = False, queues: tuple[str, ...] = QUEUES
) -> AsyncIterator[Runtime]:
    """Build every client, check the schema, optionally consume jobs; close it all on exit."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    signer = UrlSigner(settings.signing_key)
    db = Database(settings.resolved_database_url, reader_url=settings.database_read_url)
    redis: Redis | None = None
    cache: Cache
    jobs: JobQueue
    realtime: Broadcaster
    counters: Counters
    analytics: AnalyticsStream
    limiter: RateLimiter
    if settings.redis_url:
        # Callers wait for a free connection instead of failing once the pool is in use.
        pool = BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=10
        )
        redis = Redis(connection_pool=pool)
        cache = RedisCache(redis, settings.redis_prefix)
        realtime = RedisBroadcaster(redis, settings.redis_prefix)
        limiter = LimitsRateLimiter.on_redis(
            settings.redis_url, settings.redis_prefix, pool, enabled=settings.rate_limit_enabled
        )
        jobs = RedisJobQueue(
            settings.redis_url,
            settings.redis_prefix,
            settings.job_poll_seconds,
            settings.job_timeout_seconds,
        )
        queue = jobs

        async def schedule_flush(spec: str) -> None:
            await queue.enqueue(FLUSH_JOB, {"spec": spec}, delay=FLUSH_DELAY_SECONDS)

        counters = RedisCounters(
            redis,
            settings.redis_prefix,
            shards=settings.counter_shards,
            schedule_flush=schedule_flush,
        )
        analytics = RedisAnalyticsStream(
            redis,
            settings.redis_prefix,
            flush_seconds=settings.analytics_flush_seconds,
            batch_size=settings.analytics_batch_size,
            max_pending=settings.analytics_max_pending,
            max_len=settings.analytics_stream_max_len,
            claim_idle_seconds=settings.analytics_claim_idle_seconds,
        )
    else:
        cache = MemoryCache()
        realtime = MemoryBroadcaster()
        limiter = MemoryRateLimiter(enabled=settings.rate_limit_enabled)
        jobs = SqliteJobQueue(
            settings.data_dir / "jobs.sqlite3",
            settings.job_poll_seconds,
            settings.job_timeout_seconds,
        )
        counters = DatabaseCounters()
        analytics = MemoryAnalyticsStream(
            flush_seconds=settings.analytics_flush_seconds,
            batch_size=settings.analytics_batch_size,
            max_pending=settings.analytics_max_pending,
        )
    rt = Runtime(
        settings=settings,
        db=db,
        cache=cache,
        jobs=jobs,
        storage=build_storage(settings, signer),
        realtime=realtime,
        limiter=limiter,
        signer=signer,
        passwords=Passwords(
            time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
        ),
        token_policy=TokenPolicy(
            AccessTokens(settings.signing_key, settings.access_token_ttl_seconds),
            settings.refresh_token_ttl_seconds,
        ),
        counters=counters,
        analytics=analytics,
        search=build_search(settings.resolved_database_url),
        redis=redis,
    )
    try:
        await prepare_schema(settings, db)
        # Every process flushes what it publishes; job processes also consume the stream.
        analytics.start(rt, consume=consume_jobs)
        if consume_jobs:
            from reelstack.media.processing import sweep_local_leftovers

            await sweep_local_leftovers(rt)
            jobs.start_consumer(rt, queues=queues, workers=settings.job_workers)
            if "maintenance" in queues:
                # A restarted process picks up work its predecessor died holding, at once
                # rather than at the next periodic sweep.
                await jobs.enqueue("media.recover_stalled_work", {})
        yield rt
    finally:
        await analytics.close()  # writes the buffered views while the database is still open
        await jobs.stop_consumer()
        await realtime.close()
        await cache.close()
        await db.dispose()
        if redis is not None:
            await redis.aclose()
