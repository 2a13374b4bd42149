"""What one like or comment write costs the server, with nothing else running: writes through
the ASGI app in-process, one at a time (client included), on the embedded deployment. The
open-loop benchmark (`bench/interaction_writes.py`) says how the server holds up at 500/s;
this one says where a write's time goes (`--profile` prints the top of a cProfile).

    .venv/bin/python bench/write_cost.py --writes 2000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from pathlib import Path

import httpx

from common import CACHE, fresh_dir, invoked_as, machine_report, register
from feeds import build_world


async def write_costs(
    data: Path, writes: int, users: int, profile: bool, only: set[str]
) -> dict[str, tuple[float, float]]:
    """Milliseconds per like, per comment and per view, each on a pair never written before:
    wall time, and the process's CPU time (every thread, the client's included)."""
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
    results: dict[str, tuple[float, float]] = {}
    async with open_runtime(settings) as rt:
        app = create_app(runtime=rt)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = []
                for i in range(users):
                    headers.append(await register(client, f"w{i}_{os.getpid()}"))
                page = await client.get(
                    "/api/v1/feed/trending", params={"page_size": 50}, headers=headers[0]
                )
                videos = [v["video_id"] for v in page.json()["videos"]]

                async def like(i: int) -> None:
                    video = videos[i // users % len(videos)]
                    r = await client.post(
                        f"/api/v1/videos/{video}/like", headers=headers[i % users]
                    )
                    assert r.status_code == 200, r.text

                async def comment(i: int) -> None:
                    video = videos[i % len(videos)]
                    r = await client.post(
                        f"/api/v1/videos/{video}/comments",
                        json={"text": f"comment number {i} from the cost bench"},
                        headers=headers[i % users],
                    )
                    assert r.status_code == 201, r.text

                async def view(i: int) -> None:
                    video = videos[i // users % len(videos)]
                    r = await client.post(
                        f"/api/v1/videos/{video}/views",
                        json={"watched_ms": 5000, "duration_ms": 10000, "source": "for_you"},
                        headers=headers[i % users],
                    )
                    assert r.status_code in (200, 202), r.text

                profiler = cProfile.Profile() if profile else None
                for name, write in (("like", like), ("comment", comment), ("view", view)):
                    if name not in only:
                        continue
                    for i in range(writes, writes + 20):  # warm up on pairs not timed below
                        await write(i)
                    if profiler:
                        profiler.enable()
                    started, cpu = time.perf_counter(), time.process_time()
                    for i in range(writes):
                        await write(i)
                    results[name] = (
                        (time.perf_counter() - started) / writes * 1000,
                        (time.process_time() - cpu) / writes * 1000,
                    )
                    if profiler:
                        profiler.disable()
                        stats = pstats.Stats(profiler)
                        stats.sort_stats("cumulative").print_stats(45)
                        stats.sort_stats("tottime").print_stats(25)
                        profiler = cProfile.Profile()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    kinds = ["like", "comment", "view"]
    parser.add_argument("--only", nargs="+", choices=kinds, default=kinds)
    args = parser.parse_args()

    data = fresh_dir(CACHE / "write-cost")
    build_world(data, args.users, args.videos)
    costs = asyncio.run(write_costs(data, args.writes, args.users, args.profile, set(args.only)))
    print(machine_report(invoked_as()))
    print(f"- world: {args.videos} videos, {args.users} demo users; {args.users} writers")
    print()
    print("| one at a time, in-process | wall ms each | CPU ms each (all threads) |")
    print("|---|---|---|")
    for name, (wall, cpu) in costs.items():
        print(f"| {name} (ASGI, client included) | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
