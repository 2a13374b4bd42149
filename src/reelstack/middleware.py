"""Pure ASGI middleware (no per-request task or body copy): request ids, security headers,
metrics and a cap on JSON bodies."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY_BYTES = 1024 * 1024
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


def _problem(status: int, code: str, detail: str, path: str) -> bytes:
    titles = {413: "Content Too Large"}
    return json.dumps(
        {
            "type": "about:blank",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "code": code,
            "instance": path,
        }
    ).encode()


class PlatformMiddleware:
    """One pass around every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        route_templates: Callable[[], dict[int, str]],
        max_json_bytes: int = MAX_JSON_BODY_BYTES,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_json_bytes = max_json_bytes
        self._route_templates = route_templates
        self._templates: dict[int, str] | None = None

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
        status = 500
        too_large = False
        limited_receive = receive
        if headers.get(b"content-type", b"").startswith(b"application/json"):
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_json_bytes:
                await self._refuse(scope, send, request_id)
                self._observe(scope, 413, started)
                return
            seen = 0

            async def capped() -> Message:
                # A streamed body is cut at the cap; the app's answer to the cut body is then
                # replaced by the 413 below.
                nonlocal seen, too_large
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_json_bytes:
                        too_large = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                return message

            limited_receive = capped

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if too_large:
                if message["type"] == "http.response.start":
                    status = 413
                    await self._refuse(scope, send, request_id)
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
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            self._observe(scope, status, started)

    async def _refuse(self, scope: Scope, send: Send, request_id: bytes) -> None:
        body = _problem(
            413,
            "payload_too_large",
            f"JSON bodies are limited to {self.max_json_bytes} bytes.",
            scope["path"],
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    *SECURITY_HEADERS,
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route: Any = scope.get("route")
        if self._templates is None:
            self._templates = self._route_templates()
        # The full route template, never the raw path: ids would explode the label set.
        name = self._templates.get(id(route), getattr(route, "path", "unmatched"))
        method = scope.get("method", "")
        self.metrics.requests.labels(method, name, str(status)).inc()
        self.metrics.latency.labels(method, name).observe(time.perf_counter() - started)
