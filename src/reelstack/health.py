"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import compile_path

from reelstack.deps import RuntimeDep
from reelstack.errors import problem_response
from reelstack.infra.accesslog import AccessLog
from reelstack.infra.jobs import QUEUES
from reelstack.infra.routing import Router
from reelstack.middleware import BODY_LIMIT_KEY, Metrics, PlatformMiddleware, RouteTable

router = Router(tags=["health"])
READY_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable."}})
async def readyz(request: Request, rt: RuntimeDep) -> Any:
    """Every dependency answers: database, cache, storage, job queue."""
    checks = {
        "database": rt.db.ping(),
        "cache": rt.cache.ping(),
        "storage": rt.storage.ping(),
        "jobs": rt.jobs.ping(),
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
    if all(v == "ok" for v in results.values()):
        return {"status": "ok", "checks": results}
    failing = ", ".join(k for k, v in results.items() if v != "ok")
    return problem_response(request, 503, "not_ready", f"Unreachable: {failing}.", checks=results)


def install_metrics(app: FastAPI, access: AccessLog, metrics: Metrics) -> None:
    def read_routes() -> RouteTable:
        # Routers stay nested in FastAPI: a route's own `path` lacks its router's prefix.
        templates: dict[int, str] = {}
        body_limits: list[tuple[re.Pattern[str], int]] = []
        for context in iter_route_contexts(app.routes):
            if not context.path_format:
                continue
            route = context.original_route
            templates[id(route)] = context.path_format
            extra = getattr(route, "openapi_extra", None) or {}
            if BODY_LIMIT_KEY in extra:
                pattern, _, _ = compile_path(context.path_format)
                body_limits.append((pattern, int(extra[BODY_LIMIT_KEY])))
        return RouteTable(templates, body_limits)

    app.add_middleware(PlatformMiddleware, metrics=metrics, routes=read_routes, access=access)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(rt: RuntimeDep) -> Response:
        for queue in QUEUES:
            metrics.jobs_pending.labels(queue).set(await rt.jobs.pending(queue))
            metrics.jobs_running.labels(queue).set(rt.jobs.running(queue))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
