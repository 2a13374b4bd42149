"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from reelstack.deps import RuntimeDep
from reelstack.errors import problem_response

router = APIRouter(tags=["health"])
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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reelstack_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reelstack_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class MetricsMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: Any, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, never the raw path: ids would explode the label set.
        name = getattr(route, "path", "unmatched")
        self.metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        self.metrics.latency.labels(request.method, name).observe(time.perf_counter() - started)
        return response


def install_metrics(app: FastAPI) -> None:
    metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
