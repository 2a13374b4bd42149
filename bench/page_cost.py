"""What one feed page costs the server, with nothing else running: For-You and following pages
straight into the ASGI app in-process (one at a time, no HTTP client), beside the floor of any
page that reads the database (a read transaction with one `SELECT 1`) and the one read a feed
page makes (its candidates' facts); and a read unit of work on SQLite with and without the
pool's rollback on return; and the floor under any such page: the For-You route with its feed
work replaced by returning a page, beside `bench/feeds.py`'s bare endpoint returning the same
page. The 64-connection benchmark (`bench/feeds.py`) says how the server holds up; this one
says where a page's time goes.

    .venv/bin/python bench/page_cost.py --videos 5000 --pages 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import literal, select

from common import CACHE, fresh_dir, invoked_as, machine_report, register
from feeds import BARE_APP, build_world, next_cursor


async def asgi_get(
    app: Any, path: str, query: str, headers: dict[str, str], expect: int = 200
) -> bytes:
    """One GET through the ASGI app with no HTTP client: what it costs is the server's."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    assert status == [expect], (status, b"".join(body)[:300])
    return b"".join(body)


async def page_costs(data: Path, pages: int, viewers: int) -> dict[str, tuple[float, float]]:
    """Per page, each viewer paging on with its cursor: (ms of process CPU, ms of wall time).
    The pages go straight into the ASGI app, so the CPU is the server's own (with httpx's
    ASGI client, its ~3 ms per request would have been most of it)."""
    from reelstack.accounts.models import User
    from reelstack.app import create_app
    from reelstack.config import Settings
    from reelstack.db import BOUNDED, fetch_bounded
    from reelstack.feed.cards import load_visible
    from reelstack.media.models import Video
    from reelstack.media.service import Viewer
    from reelstack.runtime import open_runtime

    settings = Settings(
        data_dir=data,
        rate_limit_enabled=False,
        password_hash_time_cost=1,
        password_hash_memory_kib=8192,
        access_log=False,
    )
    results: dict[str, tuple[float, float]] = {}
    async with open_runtime(settings) as rt:
        app = create_app(runtime=rt)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = []
                for i in range(viewers):
                    h = await register(client, f"cost{i}_{os.getpid()}")
                    page = await client.get(
                        "/api/v1/feed/for-you", params={"page_size": 20}, headers=h
                    )
                    for creator in {v["user"]["user_id"] for v in page.json()["videos"]}:
                        await client.post(f"/api/v1/users/{creator}/follow", headers=h)
                    headers.append(h)
            await asyncio.sleep(3)  # the rebuilds the follows asked for
            for name, path in (
                ("For-You", "/api/v1/feed/for-you"),
                ("following", "/api/v1/feed/following"),
            ):
                cursors: list[str | None] = [None] * viewers

                async def one(i: int, path: str = path, cursors: Any = cursors) -> None:
                    cursor = cursors[i % viewers]
                    query = "page_size=20" + (f"&cursor={cursor}" if cursor else "")
                    body = await asgi_get(app, path, query, headers[i % viewers])
                    cursors[i % viewers] = next_cursor(body)

                for i in range(viewers):  # warm up
                    await one(i)
                results[name] = await _timed(pages, one)

            one_row = select(literal(1)).execution_options(**BOUNDED)

            # The floor of a feed page in this app, against the bare endpoint of
            # `bench/feeds.py`, both in-process with a For-You page's bytes: the real For-You
            # route (middleware, dependencies, rate limit, a read transaction with one
            # `SELECT 1`) with its feed work replaced by returning the page.
            payload = await asgi_get(app, "/api/v1/feed/for-you", "page_size=20", headers[0])
            bare = await _bare(payload)
            results.update(await _route_floor(app, pages, payload, headers[0], one_row, bare))

            # The floor of any page that reads the database, and the read a feed page makes.
            async with rt.unit_of_work(write=False) as session:
                ready = list(
                    (await session.scalars(select(Video.id).where(Video.status == "ready"))).all()
                )
                viewer_id = (await session.scalars(select(User.id).limit(1))).one()
            rng = random.Random(7)  # noqa: S311
            viewer = Viewer(viewer_id)

            async def transaction(_: int) -> None:
                async with rt.unit_of_work(write=False) as session:
                    await fetch_bounded(session, one_row)

            async def facts(_: int) -> None:
                async with rt.unit_of_work(write=False) as session:
                    await load_visible(session, viewer, rng.sample(ready, 24))

            async def refused(_: int) -> None:
                await asgi_get(app, "/api/v1/feed/following", "", {}, expect=401)

            async def first_visit(_: int) -> None:
                await asgi_get(app, "/api/v1/feed/for-you", "page_size=20", {})

            # A signed-out visitor's first page, with no session cookie (each one a new session).
            results["For-You, a signed-out first visit (no cookie)"] = await _timed(
                pages, first_visit
            )

            # What a request costs before its handler: middleware, FastAPI's routing through
            # every route before it, the rate limit, and the 401 problem response.
            results["the following route refusing a request without a token"] = await _timed(
                pages, refused
            )
            results["read transaction with one `SELECT 1`"] = await _timed(pages, transaction)
            results["the same with a page's facts query (24 candidates)"] = await _timed(
                pages, facts
            )
    return results


async def _bare(payload: bytes) -> Any:
    """A step requesting the page from `bench/feeds.py`'s bare app, built in this process."""
    source = BARE_APP.split("import uvicorn")[0].replace('open(sys.argv[1], "rb").read()', "PAGE")
    space: dict[str, Any] = {"PAGE": payload}
    exec(compile(source, "bare", "exec"), space)  # noqa: S102 (the benchmark's own text)

    async def bare(_: int) -> None:
        await asgi_get(space["app"], "/feed", "", {})

    # It encodes the page afresh, as `feeds.py`'s does: the same page, spaced differently.
    assert json.loads(await asgi_get(space["app"], "/feed", "", {})) == json.loads(payload)

    return bare


async def _route_floor(
    app: Any, pages: int, payload: bytes, headers: dict[str, str], one_row: Any, bare: Any
) -> dict[str, tuple[float, float]]:
    """The For-You route with no feed work (what any page of it costs before ranking), and
    the bare endpoint, timed in turns of 20 requests: timed one after the other, their
    quotient swung from 1.4 to 2.5 across three runs (bench/RESULTS.md)."""
    from fastapi import Response

    from reelstack.db import fetch_bounded
    from reelstack.feed import for_you, router
    from reelstack.feed.for_you import Page

    async def no_page(rt: Any, session: Any, *args: Any) -> Page:
        await fetch_bounded(session, one_row)  # a real page reads: the transaction begins
        return Page([], {}, None)

    async def written(*args: Any, **kwargs: Any) -> Response:
        return Response(payload, media_type="application/json")

    real = for_you.for_you_page, router.feed_page
    for_you.for_you_page, router.feed_page = no_page, written  # type: ignore[assignment]
    try:

        async def floor(i: int) -> None:
            body = await asgi_get(app, "/api/v1/feed/for-you", "page_size=20", headers)
            assert body == payload

        return await _interleaved(
            pages,
            {
                "bare FastAPI (`bench/feeds.py`'s), the same page": bare,
                "the For-You route with its feed work replaced by returning the page"
                " (middleware, dependencies, rate limit, a read transaction with one"
                " `SELECT 1`)": floor,
            },
        )
    finally:
        for_you.for_you_page, router.feed_page = real  # type: ignore[assignment]


async def _interleaved(
    rounds: int, steps: dict[str, Any], turn: int = 20
) -> dict[str, tuple[float, float]]:
    """`_timed` for several steps at once, each taking `turn` rounds in turn (all its rounds
    at once with `turn=rounds`)."""
    spent = dict.fromkeys(steps, (0.0, 0.0))
    gc.collect()
    for start in range(0, rounds, turn):
        for name, step in steps.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(start, min(start + turn, rounds)):
                await step(i)
            was = spent[name]
            spent[name] = (
                was[0] + time.process_time() - cpu,
                was[1] + time.perf_counter() - wall,
            )
    return {
        name: (cpu / rounds * 1000, wall / rounds * 1000) for name, (cpu, wall) in spent.items()
    }


async def _timed(rounds: int, step: Any) -> tuple[float, float]:
    """(ms of process CPU, ms of wall time) per round of `step`."""
    return (await _interleaved(rounds, {"step": step}, turn=max(rounds, 1)))["step"]


async def unit_of_work_costs(data: Path, rounds: int) -> dict[str, float]:
    """Milliseconds for a read transaction with one `SELECT 1`, as the app opens them."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from reelstack.db import _configure_sqlite

    results = {}
    for label, reset in (("pool rolls back on return", "rollback"), ("no extra rollback", None)):
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{data / 'reelstack.db'}",
            pool_size=8,
            max_overflow=8,
            pool_reset_on_return=reset,
        )
        _configure_sqlite(engine, immediate=False)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        for _ in range(20):
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
                await session.commit()
        started = time.perf_counter()
        for _ in range(rounds):
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
                await session.commit()
        results[label] = (time.perf_counter() - started) / rounds * 1000
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--viewers", type=int, default=30)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()

    data = fresh_dir(CACHE / "page-cost")
    build_world(data, args.users, args.videos)
    pages = asyncio.run(page_costs(data, args.pages, args.viewers))
    transactions = asyncio.run(unit_of_work_costs(data, args.pages))

    print(machine_report(invoked_as()))
    print(f"- world: {args.videos} videos, {args.users} demo users; {args.viewers} viewers")
    print()
    print("| one at a time, in-process, no client | CPU ms each | wall ms each |")
    print("|---|---|---|")
    for name, (cpu, wall) in pages.items():
        print(f"| {name} | {cpu:.2f} | {wall:.2f} |")
    print()
    print("| SQLAlchemy engine on its own, `SELECT 1` | wall ms each |")
    print("|---|---|")
    for name, ms in transactions.items():
        print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
