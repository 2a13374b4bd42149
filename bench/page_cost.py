"""What one feed page costs the server, with nothing else running: For-You and following pages
through the ASGI app in-process (one at a time, client included), and a read unit of work on
SQLite with and without the pool's rollback on return. The 64-connection benchmark
(`bench/feeds.py`) says how the server holds up; this one says where a page's time goes.

    .venv/bin/python bench/page_cost.py --videos 5000 --pages 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx

from common import CACHE, fresh_dir, invoked_as, machine_report, register
from feeds import build_world


async def page_costs(data: Path, pages: int, viewers: int) -> dict[str, float]:
    """Milliseconds per page, each viewer paging on with its cursor."""
    from reelstack.app import create_app
    from reelstack.config import Settings
    from reelstack.runtime import open_runtime

    settings = Settings(
        data_dir=data,
        rate_limit_enabled=False,
        password_hash_time_cost=1,
        password_hash_memory_kib=8192,
        access_log=False,
    )
    results = {}
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
                        params: dict[str, Any] = {"page_size": 20}
                        if cursors[i % viewers]:
                            params["cursor"] = cursors[i % viewers]
                        r = await client.get(path, params=params, headers=headers[i % viewers])
                        r.raise_for_status()
                        cursors[i % viewers] = r.json().get("next_cursor")

                    for i in range(viewers):  # warm up
                        await one(i)
                    started = time.perf_counter()
                    for i in range(pages):
                        await one(i)
                    results[name] = (time.perf_counter() - started) / pages * 1000
    return results


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
    print("| one at a time, in-process | ms each |")
    print("|---|---|")
    for name, ms in pages.items():
        print(f"| {name} page of 20 (ASGI, client included) | {ms:.2f} |")
    for name, ms in transactions.items():
        print(f"| read unit of work, one `SELECT 1`: {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
