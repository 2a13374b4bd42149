"""View ingestion on the embedded deployment: `POST /videos/{id}/views` at a sustained rate.

Target: 2,000 events/s sustained on embedded (SQLite, memory cache, in-process stream).

A real `reelstack serve` (embedded mode, rate limits off) is driven open-loop: request i is due
at t0 + i / rate whatever happened to the ones before, so a slow server cannot slow the load
down and hide its own latency (no coordinated omission); latency is measured from the moment a
request was due, and the time from sending it is shown beside it. The load comes from
`--procs` client processes, each a minimal HTTP/1.1 keep-alive client on asyncio streams
(uvloop), so that on this 2-core machine the load generator costs far less CPU than the server
it measures; both CPU times are reported. A last phase (`--saturate`) sends closed-loop as fast
as the server answers, to show the ceiling.

The mix: half the reports from signed-in viewers (JWT in every request), half from anonymous
sessions; 10 % of the videos are followers-only and viewers follow half of the creators, so
the visibility check really decides (each answer is checked against the expected 202/404);
watched time is uniform in [0, 1.2 * duration], so most reports qualify and each (viewer,
video) pair must count exactly once. Afterwards, with the server still up (the stream writes
every second) and again after it has shut down, every accepted report must be a `watch_events`
row, every counted one a counted row, and each video's view_count must equal its counted
reports.

    .venv/bin/python bench/view_ingestion.py [--rates 2000,1000] [--seconds 20] [--procs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import shutil
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop

from common import CACHE, Server, fresh_dir, invoked_as, machine_report, running_server

API = "/api/v1"
SOURCES = ("for_you", "following", "profile", "search", "share", "hashtag", "sound")
SERVER_ENV = {
    "REELSTACK_RATE_LIMIT_ENABLED": "false",
    # Only the setup registers users; cheap hashes keep it short. Views never hash.
    "REELSTACK_PASSWORD_HASH_TIME_COST": "1",
    "REELSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
}


# -- the population -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Population:
    viewers: list[tuple[str, str]]  # (user id, access token)
    sessions: list[str]
    videos: list[tuple[str, str, int, str]]  # (video id, owner id, duration ms, audience)
    follows: set[tuple[str, str]]  # (viewer id, creator id)


def register(client: httpx.Client, name: str) -> tuple[str, str]:
    r = client.post(
        f"{API}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "bench-" + name},
    )
    r.raise_for_status()
    body = r.json()
    return str(body["user"]["user_id"]), str(body["access_token"])


def insert_videos(db: Path, rows: list[tuple[str, str, int, str]]) -> None:
    """Ready video rows, as processing leaves them (the views path never opens the media)."""
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    with sqlite3.connect(db, timeout=30) as conn:
        conn.executemany(
            "INSERT INTO videos (id, user_id, caption, description, hashtags, visibility,"
            " allow_comments, status, progress, duration, width, height, renditions,"
            " thumbnails, hidden_by_moderation, view_count, like_count, comment_count,"
            " share_count, save_count, counters_seq, job_state, attempts, created_at,"
            " updated_at, published_at) VALUES (?, ?, 'bench', '', '[]', ?, 1, 'ready', 100,"
            " ?, 1080, 1920, '[]', '{}', 0, 0, 0, 0, 0, 0, 0, 'done', 0, ?, ?, ?)",
            [(vid, owner, audience, ms / 1000, now, now, now) for vid, owner, ms, audience in rows],
        )


def populate(server: Server, rng: random.Random, options: argparse.Namespace) -> Population:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        creators = [register(client, f"creator{i}") for i in range(options.creators)]
        viewers = [register(client, f"viewer{i}") for i in range(options.viewers)]
        follows: set[tuple[str, str]] = set()
        for viewer_id, token in viewers:
            for creator_id, _ in creators:
                if rng.random() < 0.5:
                    client.post(
                        f"{API}/users/{creator_id}/follow",
                        headers={"Authorization": f"Bearer {token}"},
                    ).raise_for_status()
                    follows.add((viewer_id, creator_id))
    videos = [
        (
            f"BENCHVIDEO{index:016d}",
            rng.choice(creators)[0],
            rng.randrange(5_000, 60_000),
            "followers" if rng.random() < 0.1 else "public",
        )
        for index in range(options.videos)
    ]
    insert_videos(server.data_dir / "reelstack.db", videos)
    sessions = [f"bench-session-{i}" for i in range(options.sessions)]
    wait_until_idle(server)
    return Population(viewers, sessions, videos, follows)


def wait_until_idle(server: Server, timeout: float = 300) -> None:
    """Let the jobs the setup caused (a notification per follow) finish before measuring."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(1.0)
        if server.cpu_seconds() - before < 0.05:
            return
    raise RuntimeError("the server never went idle after the setup")


# -- the reports --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    request: bytes
    video_id: str
    viewer: str  # "u:<id>" or "s:<session>"
    qualifies: bool
    expect_status: int


def plan(population: Population, total: int, seed: int, host: str) -> list[Report]:
    rng = random.Random(seed)  # noqa: S311 (a reproducible load, not a secret)
    reports = []
    for _ in range(total):
        video_id, owner_id, duration_ms, audience = rng.choice(population.videos)
        watched_ms = rng.randrange(0, int(duration_ms * 1.2))
        body: dict[str, Any] = {
            "watched_ms": watched_ms,
            "duration_ms": duration_ms,
            "source": rng.choice(SOURCES),
        }
        if rng.random() < 0.5:
            user_id, token = rng.choice(population.viewers)
            viewer, auth = f"u:{user_id}", f"Authorization: Bearer {token}\r\n"
            visible = audience == "public" or (user_id, owner_id) in population.follows
        else:
            session = rng.choice(population.sessions)
            body["session_id"] = session
            viewer, auth, visible = f"s:{session}", "", audience == "public"
        payload = json.dumps(body).encode()
        head = (
            f"POST {API}/videos/{video_id}/views HTTP/1.1\r\nHost: {host}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        reports.append(
            Report(
                head + payload,
                video_id,
                viewer,
                watched_ms >= min(3000, duration_ms / 2),
                202 if visible else 404,
            )
        )
    return reports


# -- the client ---------------------------------------------------------------------------------
async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    header = await reader.readuntil(b"\r\n\r\n")
    status = int(header[9:12])
    length = 0
    for line in header.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, (await reader.readexactly(length) if length else b"")


# (index, status, counted, ms from due, ms from send)
Outcome = tuple[int, int, bool, float, float]


async def drive(
    host: str, port: int, requests: list[bytes], rate: float | None, connections: int, start: float
) -> list[Outcome]:
    """Send every request, open-loop at `rate` from the wall-clock `start` or, with no rate,
    closed-loop; each outcome records latency from the due time and from the send."""
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    outcomes: list[Outcome] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                index, due = item
                sent = time.time()
                status, body = await exchange(reader, writer, requests[index])
                done = time.time()
                due = due or sent
                outcomes.append(
                    (index, status, b"true" in body, (done - due) * 1e3, (done - sent) * 1e3)
                )
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(max(0.0, start - time.time()))
    if rate is None:
        for index in range(len(requests)):
            queue.put_nowait((index, 0.0))
    else:
        for index in range(len(requests)):
            due = start + index / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes


def client_process(
    proc: int,
    host: str,
    port: int,
    requests: list[bytes],
    rate: float | None,
    connections: int,
    start: float,
    results: Any,
) -> None:
    cpu = time.process_time()
    outcomes = uvloop.run(drive(host, port, requests, rate, connections, start))
    results.put((proc, outcomes, time.process_time() - cpu))


@dataclass(frozen=True)
class Phase:
    name: str
    rate: float | None
    sent: int
    wall: float
    outcomes: list[Outcome]  # first item: the index into the phase's reports
    server_cpu: float
    client_cpu: float

    def percentile(self, column: int, q: float) -> float:
        ordered = sorted(o[column] for o in self.outcomes)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    name: str,
    server: Server,
    reports: list[Report],
    rate: float | None,
    procs: int,
    connections: int,
) -> Phase:
    """Drive `reports` from `procs` client processes; the wall time ends with the last answer."""
    host, port = server.base_url.removeprefix("http://").split(":")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + 1.0
    # Process p sends reports p, p + procs, ...: together, the overall rate in order.
    shares = [list(range(p, len(reports), procs)) for p in range(procs)]
    children = [
        context.Process(
            target=client_process,
            args=(
                p,
                host,
                int(port),
                [reports[i].request for i in share],
                None if rate is None else rate / procs,
                max(1, connections // procs),
                start + p / rate if rate else start,
                results,
            ),
        )
        for p, share in enumerate(shares)
    ]
    for child in children:
        child.start()
    time.sleep(max(0.0, start - time.time()))
    server_before = server.cpu_seconds()
    merged: list[Outcome] = []
    client_cpu = 0.0
    for _ in children:
        proc, outcomes, cpu = results.get()
        merged.extend((shares[proc][o[0]], *o[1:]) for o in outcomes)
        client_cpu += cpu
    wall = time.time() - start
    server_cpu = server.cpu_seconds() - server_before
    for child in children:
        child.join()
    return Phase(name, rate, len(reports), wall, merged, server_cpu, client_cpu)


# -- checking what was stored -------------------------------------------------------------------
@dataclass
class Expected:
    """What the answers say the database must now hold, and what was wrong with them."""

    accepted: int = 0
    counted: int = 0
    per_video: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def check_answers(phases: list[tuple[Phase, list[Report]]]) -> Expected:
    """Every answer as expected: 202 or 404 by the audience, and each (viewer, video) pair
    that qualified at least once counted exactly once."""
    expected = Expected()
    wrong_status: Counter[tuple[int, int]] = Counter()
    counted_pairs: Counter[tuple[str, str]] = Counter()
    qualified_pairs: set[tuple[str, str]] = set()
    for phase, reports in phases:
        for index, status, counted, *_ in phase.outcomes:
            report = reports[index]
            if status != report.expect_status:
                wrong_status[(report.expect_status, status)] += 1
            if status != 202:
                continue
            expected.accepted += 1
            pair = (report.viewer, report.video_id)
            if report.qualifies:
                qualified_pairs.add(pair)
            if counted:
                if not report.qualifies:
                    expected.problems.append(f"a report under the threshold counted: {pair}")
                counted_pairs[pair] += 1
                expected.counted += 1
                expected.per_video[report.video_id] += 1
    for (want, got), n in wrong_status.items():
        expected.problems.append(f"{n} answers {got} where {want} was expected")
    twice = sum(1 for n in counted_pairs.values() if n > 1)
    if twice:
        expected.problems.append(f"{twice} (viewer, video) pairs counted more than once")
    never = len(qualified_pairs - set(counted_pairs))
    if never:
        expected.problems.append(f"{never} qualifying (viewer, video) pairs never counted")
    return expected


def stored_counts(db: Path) -> tuple[int, int, dict[str, int]]:
    """(watch_events rows, counted rows, view_count per video) as the database has them."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows, counted = conn.execute(
            "SELECT count(*), coalesce(sum(counted), 0) FROM watch_events"
        ).fetchone()
        view_counts = dict(conn.execute("SELECT id, view_count FROM videos").fetchall())
    return int(rows), int(counted), view_counts


def wait_until_written(db: Path, expected: Expected, timeout: float = 300) -> float:
    """Seconds until every accepted report is a row (the stream catching up after the load)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if stored_counts(db)[0] >= expected.accepted:
            break
        time.sleep(0.1)
    return time.monotonic() - started


def check_stored(db: Path, expected: Expected) -> list[str]:
    """The rows and counters agree with the answers the clients got."""
    rows, counted, view_counts = stored_counts(db)
    problems = []
    if rows != expected.accepted:
        problems.append(f"watch_events has {rows} rows, {expected.accepted} reports were accepted")
    if counted != expected.counted:
        problems.append(f"{counted} counted rows, {expected.counted} reports counted")
    wrong = [
        video_id for video_id, n in expected.per_video.items() if view_counts.get(video_id) != n
    ]
    if wrong:
        problems.append(f"{len(wrong)} videos' view_count differ from their counted reports")
    return problems


def floor(server: Server, options: argparse.Namespace, name: str, head: str) -> tuple[str, Phase]:
    """A trivial request, closed loop: what the server spends before any feature code runs."""
    time.sleep(3)
    request = Report(f"{head}\r\n\r\n".encode(), "", "", False, 0)
    done = run_phase(name, server, [request] * 6000, None, options.procs, options.connections)
    return name, done


# -- the report ---------------------------------------------------------------------------------
def phase_row(phase: Phase) -> str:
    """One table row; CPU in cores is CPU seconds per second of the phase."""
    answered = sum(1 for o in phase.outcomes if o[1] in (202, 404))
    return (
        f"| {phase.name} | {f'{phase.rate:,.0f}' if phase.rate else 'as fast as answered'} | "
        f"{phase.sent} | "
        f"{answered / phase.wall:,.0f} | {phase.percentile(3, 0.5):.1f} | "
        f"{phase.percentile(3, 0.99):.1f} | {phase.percentile(4, 0.5):.1f} | "
        f"{phase.percentile(4, 0.99):.1f} | {phase.server_cpu / phase.wall:.2f} | "
        f"{phase.client_cpu / phase.wall:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--rates", default="2000,1000", help="offered reports/s of each sustained phase"
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of a sustained phase")
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--saturate", type=float, default=10, help="~seconds of closed-loop load")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="info", help="the server's REELSTACK_LOG_LEVEL")
    options = parser.parse_args()

    rng = random.Random(options.seed)  # noqa: S311 (a reproducible load)
    work = fresh_dir(CACHE / "view-ingestion")
    db = work / "server" / "reelstack.db"
    phases: list[tuple[Phase, list[Report]]] = []

    def phase(name: str, count: int, rate: float | None) -> Phase:
        time.sleep(3)  # the stream catches up on the phase before
        reports = plan(population, count, options.seed + len(phases) + 1, host)
        done = run_phase(name, server, reports, rate, options.procs, options.connections)
        phases.append((done, reports))
        print(f"{name}: {len(done.outcomes)} answers in {done.wall:.1f} s", flush=True)
        return done

    env = {**SERVER_ENV, "REELSTACK_LOG_LEVEL": options.log_level}
    with running_server(work / "server", extra_env=env) as server:
        population = populate(server, rng, options)
        host = server.base_url.removeprefix("http://")
        phase("warm-up", 2000, None)
        rates = [float(rate) for rate in options.rates.split(",")]
        shown = [phase("sustained", int(rate * options.seconds), rate) for rate in rates]
        if options.saturate > 0:
            shown.append(phase("saturation", int(max(rates) * 1.5 * options.saturate), None))
        expected = check_answers(phases)
        lag = wait_until_written(db, expected)
        live = check_stored(db, expected)
        floors = [
            floor(server, options, "GET /healthz", f"GET /healthz HTTP/1.1\r\nHost: {host}"),
            floor(
                server,
                options,
                "GET unknown API path (404)",
                f"GET {API}/nothing HTTP/1.1\r\nHost: {host}",
            ),
        ]
    after_shutdown = check_stored(db, expected)

    lines = [
        "### View ingestion (embedded, real server)",
        "",
        machine_report(invoked_as()),
        f"- population: {options.viewers} signed-in viewers, {options.sessions} anonymous "
        f"sessions, {options.creators} creators, {options.videos} videos (10 % followers-only); "
        f"{options.procs} client process(es), {options.connections} keep-alive connections; "
        f"server log level {options.log_level} (`info`, the default, writes an access log line "
        "per request)",
        "",
        "| phase | offered (/s) | reports | answered/s | p50 from due (ms) "
        "| p99 from due (ms) | p50 from send (ms) | p99 from send (ms) "
        "| server CPU (cores) | client CPU (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(phase_row(p) for p in shown),
        "",
        f"- answers: {expected.accepted} accepted (202), {expected.counted} counted; "
        f"{sum(len(p.outcomes) for p, _ in phases) - expected.accepted} refused (404)",
        f"- answers as expected: {'yes' if not expected.problems else expected.problems}",
        f"- server running: every accepted report was a row {lag:.1f} s after the last answer "
        f"(the stream writes every second); then "
        f"{'all rows and view counts matched' if not live else live}",
        f"- stored after shutdown: "
        f"{'all rows and view counts match' if not after_shutdown else after_shutdown}",
        "",
        "Server CPU per request, closed loop, same server and client:",
        "",
        "| request | answered/s | server CPU per request (us) |",
        "|---|---|---|",
        *(
            f"| {name} | {len(p.outcomes) / p.wall:,.0f} | "
            f"{p.server_cpu / len(p.outcomes) * 1e6:,.0f} |"
            for name, p in [*floors, *(("POST .../views, " + p.name, p) for p in shown)]
        ),
    ]
    print()
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
