"""Like and comment writes on the embedded deployment: latency at a sustained rate.

Target (issue 4): p99 <= 20 ms at 500 writes/s sustained for 60 s, every write present after.

A real `reelstack serve` (SQLite, jobs in-process) is driven open-loop: request i is due at
t0 + i / rate whatever happened to the ones before, so a slow server cannot slow the load
down and hide its own latency (no coordinated omission). Latency is measured from the moment a
request was due; the time from sending it is reported beside it. The client is a minimal
HTTP/1.1 keep-alive client on asyncio streams, so that on this 2-core machine the load
generator costs far less CPU than the server it measures (its CPU is reported too).

Writes: likes of (user, video) pairs never liked before (so each must add exactly one like),
and comments with unique texts, mixed 70/30. Afterwards every video's like_count and
comment_count from the API, and the rows behind them, must equal the successful writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import (
    CACHE,
    Api,
    fresh_dir,
    invoked_as,
    jobs_settled,
    machine_report,
    run_ffmpeg,
    running_server,
)

API = "/api/v1"


def tiny_clip() -> Path:
    path = CACHE / "tiny-360x640-2s.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run_ffmpeg(
            [
                "-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30:duration=2",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path),
            ]
        )  # fmt: skip
    return path


# -- a small, cheap HTTP/1.1 client -------------------------------------------------------------
class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Write:
    kind: str  # like | comment
    method: str
    path: str
    token: str
    body: bytes
    video_id: str


@dataclass
class Outcome:
    kind: str
    status: int
    from_due_ms: float
    from_send_ms: float
    video_id: str
    due_s: float = 0.0  # when it was due, from the start of the load


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)


def plan_writes(
    rate: float, seconds: float, users: list[tuple[str, str]], videos: list[str], seed: int
) -> Plan:
    rng = random.Random(seed)  # noqa: S311 (a reproducible load, not a secret)
    pairs = [(u, v) for u in range(len(users)) for v in range(len(videos))]
    rng.shuffle(pairs)
    total = int(rate * seconds)
    plan = Plan()
    next_pair = 0
    for index in range(total):
        if rng.random() < 0.7 and next_pair < len(pairs):
            user, video = pairs[next_pair]
            next_pair += 1
            plan.writes.append(
                Write(
                    "like",
                    "POST",
                    f"{API}/videos/{videos[video]}/like",
                    users[user][1],
                    b"",
                    videos[video],
                )
            )
        else:
            user = rng.randrange(len(users))
            video = rng.randrange(len(videos))
            text = json.dumps({"text": f"comment {index} from bench, nice one #{seed}"}).encode()
            plan.writes.append(
                Write(
                    "comment",
                    "POST",
                    f"{API}/videos/{videos[video]}/comments",
                    users[user][1],
                    text,
                    videos[video],
                )
            )
    return plan


async def drive(
    base_url: str, plan: Plan, rate: float, connections: int
) -> tuple[list[Outcome], float]:
    host, port = base_url.removeprefix("http://").split(":")
    queue: asyncio.Queue[tuple[float, Write] | None] = asyncio.Queue()
    outcomes: list[Outcome] = []

    async def worker() -> None:
        conn = Connection(host, int(port))
        await conn.open()
        try:
            while (item := await queue.get()) is not None:
                due, write = item
                sent = time.perf_counter()
                try:
                    status, _ = await conn.request(
                        write.method, write.path, write.token, write.body
                    )
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                    conn.close()
                    conn = Connection(host, int(port))
                    await conn.open()
                done = time.perf_counter()
                outcomes.append(
                    Outcome(
                        write.kind,
                        status,
                        (done - due) * 1000,
                        (done - sent) * 1000,
                        write.video_id,
                        due - start,
                    )
                )
        finally:
            conn.close()

    start = time.perf_counter() + 0.2
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    for index, write in enumerate(plan.writes):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, write))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(outcomes: list[Outcome], kind: str | None) -> str:
    chosen = [o for o in outcomes if kind is None or o.kind == kind]
    ok = [o for o in chosen if o.status in (200, 201)]
    due = [o.from_due_ms for o in ok]
    sent = [o.from_send_ms for o in ok]
    if not due:
        return f"| {kind or 'all'} | {len(chosen)} | 0 | | | | | |"
    return (
        f"| {kind or 'all'} | {len(chosen)} | {len(ok)} | {statistics.median(due):.1f} | "
        f"{percentile(due, 0.9):.1f} | **{percentile(due, 0.99):.1f}** | {max(due):.1f} | "
        f"{percentile(sent, 0.99):.1f} |"
    )


def setup(
    base_url: str, server_api: Api, n_users: int, n_videos: int
) -> tuple[list[tuple[str, str]], list[str]]:
    clip = tiny_clip()
    videos = []
    for index in range(n_videos):
        upload = server_api.init_upload(clip.stat().st_size, f"v{index}.mp4")
        server_api.upload_chunks(upload["upload_id"], clip, 5 * 1024 * 1024)
        server_api.complete(upload["upload_id"])
        videos.append(upload["video_id"])
    deadline = time.monotonic() + 600
    while any(server_api.status(v)["status"] != "ready" for v in videos):
        if time.monotonic() > deadline:
            raise RuntimeError("videos did not become ready")
        time.sleep(0.5)
    users = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for index in range(n_users):
            name = f"w{index}_{random.randrange(10**6)}"  # noqa: S311
            response = client.post(
                f"{API}/auth/register",
                json={
                    "username": name,
                    "email": f"{name}@example.com",
                    "password": "bench password 1",
                },
            )
            response.raise_for_status()
            users.append((response.json()["user"]["user_id"], response.json()["access_token"]))
    return users, videos


def verify(base_url: str, token: str, videos: list[str], outcomes: list[Outcome]) -> list[str]:
    """Every write the server acknowledged is in the counts the API shows."""
    problems = []
    with httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for video in videos:
            likes = sum(
                1 for o in outcomes if o.video_id == video and o.kind == "like" and o.status == 200
            )
            comments = sum(
                1
                for o in outcomes
                if o.video_id == video and o.kind == "comment" and o.status == 201
            )
            stats = client.get(f"{API}/videos/{video}").json()["stats"]
            if stats["likes"] != likes or stats["comments"] != comments:
                problems.append(
                    f"{video}: API says {stats['likes']} likes / {stats['comments']} comments, "
                    f"acknowledged {likes} / {comments}"
                )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument(
        "--timeline",
        type=Path,
        help="write each write's due time (s) and latency from due (ms) to this CSV file",
    )
    args = parser.parse_args()

    data = fresh_dir(CACHE / "interaction-writes")
    env = {
        "REELSTACK_PASSWORD_HASH_TIME_COST": "1",
        "REELSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
        "REELSTACK_RATE_LIMIT_REGISTER": "100000/hour",
        "REELSTACK_RATE_LIMIT_ANONYMOUS": "100000/minute",
        "REELSTACK_LOG_LEVEL": "warning",
    }
    with running_server(data, env) as server:
        owner = Api(server)
        users, videos = setup(server.base_url, owner, args.users, args.videos)
        plan = plan_writes(args.rate, args.seconds, users, videos, seed=7)
        # The set-up's own jobs (indexing 1,500 new users for search, the videos' processing
        # and notifications) finish before the load starts.
        settled = jobs_settled(server.base_url, ("default", "media", "notifications", "feed"))
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        # For a profiler attached to the server: the load starts now.
        print(f"load starts: server pid {server.pid}", file=sys.stderr, flush=True)
        outcomes, elapsed = asyncio.run(drive(server.base_url, plan, args.rate, args.connections))
        server_cpu, client_cpu = server.cpu_seconds() - server_cpu, time.process_time() - client_cpu
        # The counters and notifications settle through jobs; give them a moment.
        time.sleep(3)
        problems = verify(server.base_url, users[0][1], videos, outcomes)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    print(machine_report(invoked_as()))
    print(
        f"- load: {len(plan.writes)} writes due over {args.seconds:.0f} s at {args.rate:.0f}/s, "
        f"{args.connections} connections, {args.users} users, {args.videos} videos; "
        f"sent in {elapsed:.1f} s = {len(outcomes) / elapsed:.0f}/s"
    )
    print(f"- waited {settled:.1f} s for the set-up's jobs to finish before the load")
    print(f"- statuses: {dict(sorted(statuses.items()))}")
    print(
        f"- CPU: server {server_cpu:.1f} s ({server_cpu / elapsed:.2f} cores), "
        f"load generator {client_cpu:.1f} s; client max RSS {maxrss / 1024:.0f} MiB"
    )
    print(f"- every acknowledged write present afterwards: {'yes' if not problems else 'NO'}")
    for problem in problems[:10]:
        print(f"  - {problem}")
    print()
    print("| writes | sent | acknowledged | p50 (ms) | p90 | p99 | max | p99 from send |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("like", "comment", None):
        print(summarise(outcomes, kind))
    if args.timeline:
        with args.timeline.open("w") as out:
            out.write("due_s,from_due_ms,kind,status\n")
            for o in sorted(outcomes, key=lambda o: o.due_s):
                out.write(f"{o.due_s:.4f},{o.from_due_ms:.2f},{o.kind},{o.status}\n")


if __name__ == "__main__":
    main()
