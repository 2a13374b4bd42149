"""The FastAPI application: mounts every feature's router on one runtime."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from reelstack import __version__
from reelstack.accounts.router import router as accounts_router
from reelstack.analytics.router import router as analytics_router
from reelstack.comments.router import router as comments_router
from reelstack.config import Settings, load_settings
from reelstack.deps import rate_limit_request
from reelstack.errors import install_error_handlers
from reelstack.feed.router import router as feed_router
from reelstack.health import install_metrics
from reelstack.health import router as health_router
from reelstack.infra.accesslog import AccessLog
from reelstack.interactions import router as interactions
from reelstack.media.files import router as media_files_router
from reelstack.media.router import router as videos_router
from reelstack.media.stream import router as playback_router
from reelstack.media.tus import router as tus_router
from reelstack.middleware import Metrics
from reelstack.notifications import router as notifications
from reelstack.runtime import Runtime, open_runtime
from reelstack.search.router import router as search_router
from reelstack.social.router import router as social_router
from reelstack.sounds.router import router as sounds_router
from reelstack.web.router import router as web_router

API_PREFIX = "/api/v1"
GC_YOUNG_THRESHOLD = 10_000


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    consume_jobs: bool | None = None,
) -> FastAPI:
    """The app. With `runtime` it uses that one (tests); otherwise it builds its own at start-up
    and, in embedded mode, runs the job consumer in-process too."""

    access = AccessLog()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            access.configure(runtime.settings.access_log)
            with metrics.observing_gc():
                async with access.running():
                    yield
            return
        conf = settings or load_settings()
        access.configure(conf.access_log)
        consume = conf.jobs_in_process if consume_jobs is None else consume_jobs
        with metrics.observing_gc():
            async with open_runtime(conf, consume_jobs=consume) as rt, access.running():
                app.state.runtime = rt
                # Everything loaded so far lives as long as the process: keep it out of the
                # collector's generations, whose full passes otherwise stall every request in
                # flight.
                gc.collect()
                gc.freeze()
                # Collect the young generation every 10,000 new objects, not 700: at hundreds of
                # requests a second, the objects of requests in flight survived the frequent young
                # collections and filled the old generation, whose full passes (13-18 ms, every
                # 2-3 s at 500 writes/s) were the longest stalls left (bench/RESULTS.md).
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
                yield

    app = FastAPI(
        title="reelstack",
        version=__version__,
        summary="A self-hostable short-video platform.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_metrics(app, access, metrics)

    # The most frequent writes first: FastAPI tries routes in order, ~100 of them otherwise.
    # Each router is included straight into the app, not through one `/api/v1` router: FastAPI
    # matches a request once per level of nesting, each time against every route before it.
    for router in (
        analytics_router,
        interactions.router,
        comments_router,
        accounts_router,
        social_router,
        feed_router,
        videos_router,
        tus_router,
        notifications.router,
        sounds_router,
        search_router,
    ):
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(rate_limit_request)])
    # Playlists are fetched by players, several per video: behind tokens, not the rate limit.
    app.include_router(playback_router, prefix=API_PREFIX)
    # Real-time notifications: opening a stream counts once, not every message it carries.
    app.include_router(notifications.stream_router, prefix=API_PREFIX)
    app.include_router(health_router)
    app.include_router(media_files_router)
    # A shared video's public page: fetched by link-preview crawlers, outside the API.
    app.include_router(interactions.share_page_router)
    # The browser app last: its shell answers the client-side routes, never an API path.
    app.include_router(web_router)
    return app
