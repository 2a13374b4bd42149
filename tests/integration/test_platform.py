"""The platform's own endpoints and request handling, on both deployments."""

from __future__ import annotations

import gc
from typing import Any

import httpx

from reelstack.app import create_app
from reelstack.runtime import Runtime, open_runtime
from tests.conftest import free_port
from tests.factories import assert_problem, make_user


async def test_health_readiness_docs_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "storage": "ok",
        "jobs": "ok",
    }
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/users/{user_ref}/follow",
        "/api/v1/follow-requests",
    ):
        assert path in spec["paths"], path
    metrics = (await client.get("/metrics")).text
    assert 'reelstack_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics


async def test_metrics_say_how_many_jobs_wait_in_each_queue(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """An operator sees a queue falling behind: jobs waiting or scheduled, per queue."""

    def pending(text: str, queue: str) -> float:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(f'reelstack_jobs_pending{{queue="{queue}"}}')
        )
        return float(line.split()[-1])

    before = (await client.get("/metrics")).text
    assert pending(before, "media") == 0
    # Scheduled for later, it waits in its queue until then (the media queue has no periodic
    # jobs of its own to come and go meanwhile).
    await runtime.jobs.enqueue("media.process_video", {"video_id": "0" * 26}, delay=600)
    after = (await client.get("/metrics")).text
    assert pending(after, "media") == 1
    assert pending(after, "notifications") == 0
    assert 'reelstack_jobs_running{queue="maintenance"}' in after


async def test_every_response_carries_security_headers_and_a_request_id(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "trace-me-123"})
    assert r.headers["x-request-id"] == "trace-me-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 16


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_problem(await client.put("/api/v1/auth/login", json={}), 405, "method_not_allowed")
    r = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(r, 422, "validation_failed")


async def test_oversized_json_is_refused_before_it_is_read(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user = await make_user(runtime)
    huge = '{"bio": "' + "x" * (1024 * 1024 + 10) + '"}'
    r = await client.patch(
        "/api/v1/users/me",
        content=huge,
        headers={**user.headers, "content-type": "application/json"},
    )
    assert_problem(r, 413, "payload_too_large")

    async def chunks() -> Any:
        # No Content-Length, and a valid document up front: were the cut body handed to the
        # endpoint, it would save this bio.
        yield b'{"bio": "pwned"}'
        for _ in range(20):
            yield b" " * 100_000

    r = await client.patch(
        "/api/v1/users/me",
        content=chunks(),
        headers={**user.headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    assert me["bio"] == ""
    text = await client.post(
        "/api/v1/auth/login",
        content=b"x" * (2 * 1024 * 1024),
        headers={"content-type": "Text/Plain"},
    )
    assert_problem(text, 413, "payload_too_large")
    # Calling a body "multipart" does not buy a larger allowance on a route that takes none.
    fake_form = await client.patch(
        "/api/v1/users/me",
        content=b"x" * (3 * 1024 * 1024),
        headers={**user.headers, "content-type": "multipart/form-data; boundary=x"},
    )
    assert_problem(fake_form, 413, "payload_too_large")


async def test_openapi_documents_problem_details_as_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    register = spec["paths"]["/api/v1/auth/register"]["post"]["responses"]
    problem = {"$ref": "#/components/schemas/ProblemDetails"}
    assert register["422"]["content"]["application/problem+json"]["schema"] == problem
    assert register["429"]["content"]["application/problem+json"]["schema"] == problem
    follow = spec["paths"]["/api/v1/users/{user_ref}/follow"]["post"]["responses"]
    assert follow["401"]["content"]["application/problem+json"]["schema"] == problem
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert {"code", "status", "title", "detail"} <= set(
        spec["components"]["schemas"]["ProblemDetails"]["properties"]
    )


async def test_readiness_reports_an_unreachable_dependency(make_settings: Any) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with open_runtime(settings) as rt:
        app = create_app(runtime=rt)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            r = await client.get("/readyz")
    body = assert_problem(r, 503, "not_ready")
    assert body["checks"]["cache"].startswith("error")  # type: ignore[index]
    assert body["checks"]["database"] == "ok"  # type: ignore[index]


async def test_the_access_log_has_a_line_per_request_with_its_id_and_no_query(
    runtime: Runtime, capsys: Any
) -> None:
    import logging

    access = logging.getLogger("reelstack.access")
    level = access.level
    access.setLevel(logging.INFO)  # what `reelstack serve` at the default level `info` gives
    try:
        app = create_app(runtime=runtime)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                ok = await c.get("/healthz")
                missing = await c.get("/api/v1/videos/nope/hls/master.m3u8?t=secret-token")
                await c.get('/nothing%0A127.0.0.1:1 - "GET /forged" 200')
            # the lines wait for the next flush (a quarter of a second) or the shutdown
    finally:
        access.setLevel(level)
    lines = [line for line in capsys.readouterr().out.splitlines() if '"GET ' in line]
    assert len(lines) == 3, lines
    assert lines[0].startswith("127.0.0.1:")
    assert '"GET /healthz" 200 ' in lines[0]
    assert lines[0].endswith("ms " + ok.headers["x-request-id"])
    assert '"GET /api/v1/videos/nope/hls/master.m3u8" 404 ' in lines[1]
    assert lines[1].endswith(missing.headers["x-request-id"])
    assert "secret-token" not in "\n".join(lines)  # capability tokens stay out of logs
    assert lines[2].startswith("127.0.0.1:") and "/nothing%0A" in lines[2]  # no forged line


async def test_metrics_show_the_garbage_collectors_pauses_while_the_app_runs(
    runtime: Runtime,
) -> None:
    """Every request in flight waits out a pass of the collector: an operator chasing tail
    latency sees how many passes of each generation there were, and how long they took."""

    def full_passes(text: str) -> float:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith('reelstack_gc_pause_seconds_count{generation="2"}')
        )
        return float(line.split()[-1])

    app = create_app(runtime=runtime)
    callbacks = list(gc.callbacks)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = full_passes((await client.get("/metrics")).text)
            gc.collect()
            gc.collect()
            after = (await client.get("/metrics")).text
    assert full_passes(after) >= before + 2  # and any the allocations meanwhile started
    assert 'reelstack_gc_pause_seconds_bucket{generation="2",le="+Inf"}' in after
    assert gc.callbacks == callbacks  # a stopped app observes nothing more
