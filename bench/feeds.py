"""Feed reads and fan-out: For-You and following pages (20 items, real database and cache) at
64 connections against a bare FastAPI endpoint returning the same 20-item payload, in the same
run; then the cost of pushing a new video to 1K..N followers (memory cache, and Redis with
`--redis-url`), and what the default hybrid does instead for a creator that big (the post's
fan-out job, and a follower's page that pulls the creator's videos at read time).

The load: `--viewers` signed-in viewers (default 1,024), each with a For-You list and an inbox
built before the load starts, take turns on the 64 connections, each paging on with its own
cursor. `--viewers 64` makes each viewer page as fast as the server answers, so each gets
through its ~500-entry list in seconds and list builds dominate (the earlier runs in
bench/RESULTS.md). Each phase is run twice: closed loop (each connection sends its next
request when the last is answered: throughput, and latency that is mostly queueing), then open
loop at half of what that endpoint answered closed (latency from when each request was due, at
half of its capacity). The load is driven by `common.LeanConnection`, not httpx, so the
client costs a few percent of a core, not the whole core it took at 64 connections.

    .venv/bin/python bench/feeds.py --videos 10000 --seconds 20
    .venv/bin/python bench/feeds.py --videos 1000000 --fan-out 1000,1000000 \
        --redis-url redis://127.0.0.1:6379/0   (the world builds in ~3 min, the followers in ~5)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from common import (
    CACHE,
    SERVE,
    LeanConnection,
    free_port,
    fresh_dir,
    invoked_as,
    machine_report,
    process_cpu_seconds,
    register,
    running_server,
)

FOLLOWS = 8  # creators each viewer follows

BARE_APP = """
import json, sys
from fastapi import FastAPI
from fastapi.responses import Response
payload = open(sys.argv[1], "rb").read()
app = FastAPI()
@app.get("/feed")
async def feed() -> Response:
    # Serialised per request like the real endpoint's response model would be.
    return Response(json.dumps(json.loads(payload)), media_type="application/json")
import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


# The server's settings for the load: no rate limit in the way, cheap password hashing for the
# sign-ups, no access log.
SERVER_ENV = {
    "REELSTACK_RATE_LIMIT_REGISTER": "100000/hour",
    "REELSTACK_RATE_LIMIT_ANONYMOUS": "1000000/minute",
    "REELSTACK_RATE_LIMIT_AUTHENTICATED": "1000000/minute",
    "REELSTACK_PASSWORD_HASH_TIME_COST": "1",
    "REELSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
    "REELSTACK_ACCESS_LOG": "false",
    "REELSTACK_LOG_LEVEL": "warning",
}


@contextmanager
def bare_server(payload: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`BARE_APP` serving the page in `payload` on a free loopback port: (its URL, process)."""
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(payload), str(port)])
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/feed")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", bare
    finally:
        bare.terminate()
        bare.wait()


def build_world(data: Path, users: int, videos: int) -> float:
    env = {**os.environ, "REELSTACK_DATA_DIR": str(data), "REELSTACK_MIGRATE_ON_START": "true"}
    started = time.monotonic()
    subprocess.run(
        [str(SERVE), "demo", "--users", str(users), "--videos", str(videos), "--clips", "1"],
        env=env,
        cwd=data,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


async def sign_up(base: str, n: int, concurrency: int = 8) -> list[dict[str, str]]:
    """n fresh viewers. Each follows a few creators of the trending page (viewer i starts at
    creator i, so followings differ), then reads a page of each feed, which builds their
    For-You list and their inbox: these exist before the load starts, as they would for
    people who use the site."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        page = (await client.get("/api/v1/feed/trending", params={"page_size": 50})).json()
        creators = list(dict.fromkeys(v["user"]["user_id"] for v in page["videos"]))
        assert creators, "the demo world has no trending videos"
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> dict[str, str]:
            async with gate:
                h = await register(client, f"bench{i}_{os.getpid()}")
                for k in range(FOLLOWS):
                    creator = creators[(i + k) % len(creators)]
                    (
                        await client.post(f"/api/v1/users/{creator}/follow", headers=h)
                    ).raise_for_status()
                for feed in ("for-you", "following"):
                    r = await client.get(
                        f"/api/v1/feed/{feed}", params={"page_size": 20}, headers=h
                    )
                    r.raise_for_status()
                return h

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def settle(server: Any, most_seconds: float = 120.0) -> float:
    """Wait until the server is idle (under 5 % of a core for a second): signing the viewers
    up and following creators queues work (each viewer's For-You list is rebuilt after their
    follows) that would otherwise run during, and slow, whichever phase comes next."""
    started = time.monotonic()
    while time.monotonic() - started < most_seconds:
        before = server.cpu_seconds()
        time.sleep(1.0)
        if server.cpu_seconds() - before < 0.05:
            break
    return time.monotonic() - started


NEXT_CURSOR = re.compile(rb'"next_cursor": ?(?:null|"([^"]*)")')


def next_cursor(body: bytes) -> str | None:
    """The page's next cursor, found without parsing the whole page."""
    found = NEXT_CURSOR.search(body, max(0, body.rfind(b'"next_cursor"')))
    assert found, body[:200]
    return found[1].decode() if found[1] else None


def target(path: str, cursor: str | None) -> str:
    return f"{path}?page_size=20" + (f"&cursor={cursor}" if cursor else "")


async def drive(
    base: str,
    path: str,
    seconds: float,
    connections: int,
    headers: list[dict[str, str]],
    cursors: dict[int, str | None] | None = None,
) -> tuple[list[float], int]:
    """`connections` clients paging through `path` for `seconds`; latencies in ms. The viewers
    take turns on the connections (connection n serves viewers n, n + connections, ... in
    turn), each paging on with its own cursor (from `cursors`, kept there, when given: a
    phase run in parts pages on where the last part left off): with more viewers than
    connections each viewer pages at a pace nearer a person's than the server's."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    cursors = {} if cursors is None else cursors

    async def worker(n: int) -> None:
        nonlocal errors
        connection = LeanConnection(base)
        mine = list(range(n, len(headers), connections)) or [-1]
        turn = 0
        while time.monotonic() < deadline:
            viewer = mine[turn % len(mine)]
            turn += 1
            start = time.perf_counter()
            try:
                status, body = await connection.get(
                    target(path, cursors.get(viewer)), headers[viewer] if viewer >= 0 else {}
                )
            except ConnectionError:
                # Counted, not fatal: a kept-alive connection the server closed (uvicorn
                # closes one idle for 5 s) just as this request went out on it.
                errors += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors += 1
                continue
            cursors[viewer] = next_cursor(body)
        connection.close()

    await asyncio.gather(*(worker(n) for n in range(connections)))
    return latencies, errors


async def paced(
    base: str,
    path: str,
    seconds: float,
    rate: float,
    connections: int,
    headers: list[dict[str, str]],
) -> tuple[list[float], int, float]:
    """Requests offered at `rate` per second whether or not the last ones were answered (an
    open loop), on at most `connections` connections; latencies in ms from when each was due,
    so time spent waiting for a free connection counts. Also the rate answered. Requests not
    yet sent `seconds` after the last was due are given up (a server far behind would
    otherwise be fed the whole backlog)."""
    latencies: list[float] = []
    errors = 0
    total = int(seconds * rate)
    issued = 0
    cursors: dict[int, str | None] = {}
    start = time.perf_counter() + 0.1

    async def worker() -> None:
        nonlocal issued, errors
        connection = LeanConnection(base)
        while issued < total:
            i = issued
            issued += 1
            due = start + i / rate
            if time.perf_counter() > start + 2 * seconds:
                break
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            viewer = i % len(headers) if headers else -1
            try:
                status, body = await connection.get(
                    target(path, cursors.get(viewer)), headers[viewer] if headers else {}
                )
            except ConnectionError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - due) * 1000)
            if status != 200:
                errors += 1
                continue
            cursors[viewer] = next_cursor(body)
        connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    answered = len(latencies) / (time.perf_counter() - start)
    return latencies, errors, answered


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def fallbacks(server: Any) -> int:
    """For-You pages the server answered with trending + following so far (it logs each: a
    list not built within its budget, or ranking that erred). They cost less than a personal
    page, so a phase with many of them measured something cheaper than For-You."""
    return server.log_path.read_text(errors="replace").count("trending + following")


GC_LONG = "0.025"  # a pass longer than this (s) is counted as long


def gc_pauses(base_url: str) -> tuple[float, float, float] | None:
    """The server's collector passes so far, all generations, from its /metrics: (passes,
    passes over 25 ms, seconds paused); None from a server that does not report them."""
    text = httpx.get(f"{base_url}/metrics").text
    passes = short = paused = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("reelstack_gc_pause_seconds_count{"):
            passes += float(line.split()[-1])
            found = True
        elif line.startswith("reelstack_gc_pause_seconds_bucket{") and f'le="{GC_LONG}"' in line:
            short += float(line.split()[-1])
        elif line.startswith("reelstack_gc_pause_seconds_sum{"):
            paused += float(line.split()[-1])
    return (passes, passes - short, paused) if found else None


@contextmanager
def phase_counts(server: Any) -> Iterator[dict[str, str]]:
    """What the server logged and paused over one phase: the For-You pages that fell back
    ("fell_back") and its collector passes ("gc": "passes, over 25 ms, seconds paused", or
    "-" from a server that does not report them), filled in when the phase ends."""
    counts = {"fell_back": "-", "gc": "-"}
    fell_back, before = fallbacks(server), gc_pauses(server.base_url)
    yield counts
    counts["fell_back"] = str(fallbacks(server) - fell_back)
    after = gc_pauses(server.base_url)
    if before is not None and after is not None:
        passes, long, paused = (a - b for a, b in zip(after, before, strict=True))
        counts["gc"] = f"{passes:.0f}, {long:.0f}, {paused:.2f} s"


def paced_row(
    name: str,
    rate: float,
    lat: list[float],
    errors: int,
    answered: float,
    fell_back: str = "-",
    gc: str = "-",
) -> str:
    return (
        f"| {name} | {rate:.0f} | {answered:.0f} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} |"
        f" {max(lat, default=float('nan')):.1f} | {errors} | {fell_back} | {gc} |"
    )


def row(
    name: str,
    lat: list[float],
    errors: int,
    seconds: float,
    base_rps: float | None,
    cpu: float,
    client_cpu: float,
    fell_back: str = "-",
    gc: str = "-",
) -> str:
    """A closed-loop phase; `cpu`: the server process's CPU seconds over it (all its threads,
    so it can pass one core: SQLite's and the job consumer's threads); `client_cpu`: this
    process's, which drives the load (on two cores, a client near one core is the limit)."""
    rps = len(lat) / seconds
    ratio = f"{rps / base_rps:.2f}" if base_rps else "-"
    return (
        f"| {name} | {rps:.0f} | {ratio} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} | {errors} |"
        f" {cpu / seconds:.2f} | {cpu / max(len(lat), 1) * 1000:.1f} | {client_cpu / seconds:.2f} |"
        f" {fell_back} | {gc} |"
    )


async def _add_followers(rt: Any, creator_id: str, have: int, size: int) -> None:
    """Followers `have`..`size` of the creator, inserted straight into the database."""
    from sqlalchemy import insert, update

    from reelstack.accounts.models import User
    from reelstack.db import utcnow
    from reelstack.infra.ids import new_id
    from reelstack.social.models import Follow

    now = utcnow()
    for start in range(have, size, 5000):
        chunk = [
            {
                "id": new_id(), "username": f"f{start + i}_{os.getpid()}"[:30],
                "email": f"f{start + i}_{os.getpid()}@example.com", "password_hash": "x",
                "display_name": "f", "bio": "", "role": "user", "is_verified": False,
                "is_private": False, "is_active": True, "follower_count": 0,
                "following_count": 1, "video_count": 0, "total_likes": 0,
                "created_at": now, "updated_at": now,
            }
            for i in range(min(5000, size - start))
        ]  # fmt: skip
        async with rt.unit_of_work() as session:
            await session.execute(insert(User), chunk)
            await session.execute(
                insert(Follow),
                [
                    {"follower_id": r["id"], "followee_id": creator_id, "created_at": now}
                    for r in chunk
                ],
            )
    async with rt.unit_of_work() as session:
        await session.execute(
            update(User)
            .where(User.id == creator_id)
            .values(follower_count=User.follower_count + size - have)
        )


async def _drop_prefix(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        batch = []
        async for key in client.scan_iter(match=prefix + "*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


async def fan_out_costs(
    data: Path, sizes: list[int], redis_url: str | None
) -> tuple[list[tuple[str, int, float]], list[tuple[int, float, float, int]]]:
    """Pushing one video into 1K.. followers' inboxes (forced: threshold out of reach), in the
    embedded memory cache and, given `redis_url`, in Redis; then what the default hybrid does
    for the same creator: the post's fan-out job (a pull creator: it pushes nothing) and a
    follower's following page, which merges the creator's videos at read time."""
    from sqlalchemy import select

    from reelstack.accounts.models import User
    from reelstack.config import Settings
    from reelstack.feed.following import fan_out_to_followers, following_page
    from reelstack.infra.pagination import PageParams
    from reelstack.media.models import Video
    from reelstack.media.service import Viewer
    from reelstack.runtime import open_runtime
    from reelstack.social.models import Follow

    caches = [("memory", None)] + ([("Redis", redis_url)] if redis_url else [])
    pushed: list[tuple[str, int, float]] = []
    pulled: list[tuple[int, float, float, int]] = []
    have = 0
    async with open_runtime(Settings(data_dir=data)) as rt:
        async with rt.unit_of_work(write=False) as session:
            video = await session.scalar(
                select(Video).where(Video.status == "ready", Video.visibility == "public").limit(1)
            )
        assert video is not None
        for size in sizes:
            await _add_followers(rt, video.user_id, have, size)
            have = size
            for name, url in caches:
                prefix = f"bench-fan-out-{os.getpid()}:"
                forced = Settings(
                    data_dir=data,
                    fanout_threshold=10**9,
                    redis_url=url,
                    redis_prefix=prefix,
                    secret_key="bench-fan-out-" + "x" * 32 if url else None,
                )
                async with open_runtime(forced) as push_rt:
                    started = time.perf_counter()
                    reached = await fan_out_to_followers(push_rt, video.id)
                    pushed.append((name, reached, time.perf_counter() - started))
                if url:
                    await _drop_prefix(url, prefix)
            # The default threshold: a creator this big is pulled by its followers.
            started = time.perf_counter()
            reached = await fan_out_to_followers(rt, video.id)
            post = time.perf_counter() - started
            async with rt.unit_of_work(write=False) as session:
                # One of the followers added above: they follow this creator and no one else.
                follower = await session.scalar(
                    select(Follow.follower_id)
                    .join(User, User.id == Follow.follower_id)
                    .where(
                        Follow.followee_id == video.user_id,
                        User.email.endswith(f"_{os.getpid()}@example.com"),
                    )
                    .limit(1)
                )
            assert follower is not None
            viewer = Viewer(user_id=follower)
            async with rt.unit_of_work(write=False) as session:  # first page builds the inbox
                await following_page(rt, session, viewer, PageParams(size=20, cursor=None))
            rounds = 50
            started = time.perf_counter()
            for _ in range(rounds):
                async with rt.unit_of_work(write=False) as session:
                    page = await following_page(
                        rt, session, viewer, PageParams(size=20, cursor=None)
                    )
            page_ms = (time.perf_counter() - started) / rounds * 1000
            creators = {page.rows[item.video_id].user_id for item in page.items}
            assert page.items and creators == {video.user_id}, "the pull came back empty"
            pulled.append((pushed[-1][1], post, page_ms, reached))
    return pushed, pulled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument(
        "--viewers",
        type=int,
        default=1024,
        help="signed-in viewers taking turns on the connections (as many as the connections:"
        " each viewer pages as fast as the server answers)",
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.5,
        help="each open-loop phase offers this fraction of what the same endpoint answered in"
        " the closed loop (latency at that share of its capacity)",
    )
    parser.add_argument("--fan-out", default="1000,10000,100000")
    parser.add_argument(
        "--redis-url", default=None, help="also push into Redis (redis://127.0.0.1:6379/0)"
    )
    args = parser.parse_args()

    data = fresh_dir(CACHE / "feeds")
    built = build_world(data, args.users, args.videos)
    env = SERVER_ENV
    results = []
    open_loop: list[str] = []
    rate = 0.0
    with running_server(data, env) as server:
        signed_up = time.monotonic()
        viewers = asyncio.run(sign_up(server.base_url, args.viewers))
        signed_up = time.monotonic() - signed_up
        signup_fallbacks = fallbacks(server)
        waits = [settle(server)]
        sample = httpx.get(
            f"{server.base_url}/api/v1/feed/for-you",
            params={"page_size": 20},
            headers=viewers[0],
        ).json()
        payload = data / "payload.json"
        payload.write_text(json.dumps(sample))
        with bare_server(payload) as (bare_url, bare):
            cpu, client_cpu = process_cpu_seconds(bare.pid), time.process_time()
            base_lat, base_err = asyncio.run(
                drive(bare_url, "/feed", args.seconds, args.connections, [])
            )
            cpu = process_cpu_seconds(bare.pid) - cpu
            client_cpu = time.process_time() - client_cpu
            rate = args.paced_fraction * len(base_lat) / args.seconds
            open_loop.append(
                paced_row(
                    "bare FastAPI",
                    rate,
                    *asyncio.run(
                        paced(bare_url, "/feed", args.seconds, rate, args.connections, [])
                    ),
                )
            )
        base_rps = len(base_lat) / args.seconds
        results.append(
            row(
                "bare FastAPI, same payload",
                base_lat,
                base_err,
                args.seconds,
                None,
                cpu,
                client_cpu,
            )
        )
        for name, path in (
            ("For-You", "/api/v1/feed/for-you"),
            ("following", "/api/v1/feed/following"),
        ):
            waits.append(settle(server))
            with phase_counts(server) as counts:
                cpu, client_cpu = server.cpu_seconds(), time.process_time()
                lat, err = asyncio.run(
                    drive(server.base_url, path, args.seconds, args.connections, viewers)
                )
                cpu = server.cpu_seconds() - cpu
                client_cpu = time.process_time() - client_cpu
            results.append(row(name, lat, err, args.seconds, base_rps, cpu, client_cpu, **counts))
            rate = args.paced_fraction * len(lat) / args.seconds
            waits.append(settle(server))
            with phase_counts(server) as counts:
                paced_run = asyncio.run(
                    paced(server.base_url, path, args.seconds, rate, args.connections, viewers)
                )
            open_loop.append(paced_row(name, rate, *paced_run, **counts))
    sizes = [int(s) for s in args.fan_out.split(",") if s]
    pushed, pulled = asyncio.run(fan_out_costs(data, sizes, args.redis_url)) if sizes else ([], [])

    print(machine_report(invoked_as()))
    print(f"- world: {args.videos} videos, {args.users} demo viewers; built in {built:.1f} s")
    print(f"- {args.viewers} viewers signed up, followed and got their first page in"
          f" {signed_up:.0f} s")  # fmt: skip
    print(
        f"- waited {sum(waits):.0f} s in all for the server to go idle before the phases"
        f" ({', '.join(f'{w:.0f}' for w in waits)} s; at most 120 s each)"
    )
    print(f"- For-You pages that fell back to trending + following in sign-up: {signup_fallbacks}")
    print(f"- load: {args.connections} connections for {args.seconds:.0f} s each, 20 per page;"
          f" {args.viewers} signed-in viewers taking turns, each with its cursor")  # fmt: skip
    print()
    print(
        "| endpoint | req/s | ratio to bare | p50 (ms) | p99 (ms) | errors | server cores"
        " | server CPU per request (ms) | client cores | For-You fallback pages"
        " | server GC: passes, over 25 ms, paused |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in results:
        print(line)
    print()
    print(
        f"Open loop: each endpoint offered {args.paced_fraction:.0%} of what it answered in the"
        " closed loop above; latency from when each request was due:"
    )
    print()
    print(
        "| endpoint | offered/s | answered/s | p50 (ms) | p99 (ms) | max (ms) | errors"
        " | For-You fallback pages | server GC: passes, over 25 ms, paused |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for line in open_loop:
        print(line)
    if pushed:
        print()
        print("Pushed, whatever the creator's size (threshold out of reach):")
        print()
        print("| cache | followers | fan-out seconds | per 1K followers (ms) |")
        print("|---|---|---|---|")
        for cache, reached, seconds in pushed:
            print(
                f"| {cache} | {reached} | {seconds:.3f} | {seconds / max(reached, 1) * 1e6:.1f} |"
            )
    if pulled:
        print()
        print("The default hybrid (a creator at or over FANOUT_THRESHOLD is pulled at read time):")
        print()
        print("| followers | post's fan-out job (ms) | pushed to | a follower's page (ms) |")
        print("|---|---|---|---|")
        for size, post, page_ms, reached in pulled:
            print(f"| {size} | {post * 1000:.1f} | {reached} | {page_ms:.2f} |")


if __name__ == "__main__":
    main()
