"""Pure ASGI middleware (no per-request task or body copy): request ids, security headers,
metrics, the access log and a cap on request bodies."""

from __future__ import annotations

import gc
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelstack.errors import PROBLEM_JSON, problem_body
from reelstack.infra.accesslog import AccessLog

MAX_BODY_BYTES = 1024 * 1024  # every request, unless its route declares more
# A route that takes uploads declares its own cap: openapi_extra={BODY_LIMIT_KEY: bytes}.
BODY_LIMIT_KEY = "x-max-body-bytes"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]


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
        # Read from the job queue when scraped: what waits (or is scheduled) in each queue,
        # shared by every process, and what this process's consumer is running.
        self.jobs_pending = Gauge(
            "reelstack_jobs_pending",
            "Jobs waiting or scheduled, per queue",
            ["queue"],
            registry=self.registry,
        )
        self.jobs_running = Gauge(
            "reelstack_jobs_running",
            "Jobs this process is running, per queue",
            ["queue"],
            registry=self.registry,
        )
        # Every request in flight waits out a pass of the collector: its pauses, as the
        # feeds' tail latency needs them (bench/feeds.py reads them per phase).
        self.gc_pauses = Histogram(
            "reelstack_gc_pause_seconds",
            "Pauses of the garbage collector, per generation collected",
            ["generation"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )

    @contextmanager
    def observing_gc(self) -> Iterator[None]:
        """Time each pass of the collector while the app runs."""
        started = 0.0
        by_generation = [self.gc_pauses.labels(str(generation)) for generation in range(3)]

        # Runs inside the collector, in whichever thread it started in: it touches only these
        # children's value locks, which no code holds while allocating (so no pass can start
        # under them and wait on itself).
        def observe(phase: str, info: dict[str, int]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                by_generation[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(observe)
        try:
            yield
        finally:
            gc.callbacks.remove(observe)


@dataclass(frozen=True)
class RouteTable:
    """What the middleware needs to know of the routes, read once they are all mounted."""

    templates: dict[int, str]  # id(route) -> full path template, for metric labels
    body_limits: list[tuple[re.Pattern[str], int]]  # routes allowed larger bodies

    def body_limit(self, path: str) -> int:
        for pattern, limit in self.body_limits:
            if pattern.match(path):
                return limit
        return MAX_BODY_BYTES


def _logged_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded (a decoded %0A would start a
    forged log line), without the query string."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return str(scope["path"]).encode("unicode_escape").decode("ascii")
    return raw.split(b"?", 1)[0].decode("ascii", "backslashreplace")


class PlatformMiddleware:
    """One pass around every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: Callable[[], RouteTable],
        access: AccessLog,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        self._read_routes = routes
        self._routes: RouteTable | None = None

    @property
    def routes(self) -> RouteTable:
        if self._routes is None:
            self._routes = self._read_routes()
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming_id = headers.get(b"x-request-id", b"")
        request_id = (
            incoming_id
            if 0 < len(incoming_id) <= 64 and incoming_id.isascii()
            else secrets.token_hex(8).encode()
        )
        limit = self.routes.body_limit(scope["path"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, request_id, limit)
            self._observe(scope, 413, started, request_id)
            return

        status = 500
        too_large = False
        seen = 0

        async def capped_receive() -> Message:
            # A body streamed past the cap ends the read as a disconnect: the app fails to read
            # it and no handler runs; its answer is then replaced by the 413 below.
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if too_large:
                if message["type"] == "http.response.start":
                    status = 413
                    await self._refuse(scope, send, request_id, limit)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                    (b"x-request-id", request_id),
                ]
            await send(message)

        try:
            await self.app(scope, capped_receive, send_with_headers)
        finally:
            self._observe(scope, status, started, request_id)

    async def _refuse(self, scope: Scope, send: Send, request_id: bytes, limit: int) -> None:
        body = json.dumps(
            problem_body(
                413,
                "payload_too_large",
                f"Request bodies here are limited to {limit} bytes.",
                scope["path"],
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *SECURITY_HEADERS,
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float, request_id: bytes) -> None:
        took = time.perf_counter() - started
        route: Any = scope.get("route")
        # The full route template, never the raw path: ids would explode the label set.
        name = self.routes.templates.get(id(route), getattr(route, "path", "unmatched"))
        method = scope.get("method", "")
        self.metrics.requests.labels(method, name, str(status)).inc()
        self.metrics.latency.labels(method, name).observe(took)
        if self.access.enabled:
            self.access.add(
                scope.get("client"), method, _logged_path(scope), status, took, request_id
            )
