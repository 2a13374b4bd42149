"""For-You and following pages at two world sizes (10K and 1M videos by default), measured in
one run with their phases interleaved: the issue's "the same at 10K and at 1M videos, within
±20 %" read from one run, not from two runs minutes apart.

`bench/feeds.py` measures one world per run, each against the bare endpoint of its own run.
On these shared VMs the bare endpoint alone moved 1,812 to 2,325 req/s between two runs 17
minutes apart (bench/RESULTS.md), which moved the ratios by as much as the worlds could. Here
both worlds' servers and the bare endpoint run side by side, and each closed-loop phase is
cut into `--rounds` parts taken in turn (bare, small world, big world; again), so a slow
minute of the VM falls on all of them alike. Each viewer pages on with its cursor across the
parts. Then each world's endpoint is offered half of what it answered (open loop), one after
the other, for its latency at half capacity.

    .venv/bin/python bench/feeds_scale.py --videos 10000,1000000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx

from common import (
    CACHE,
    fresh_dir,
    invoked_as,
    machine_report,
    process_cpu_seconds,
    running_server,
)
from feeds import (
    SERVER_ENV,
    bare_server,
    build_world,
    drive,
    paced,
    pct,
    settle,
    sign_up,
)

PATHS = (("For-You", "/api/v1/feed/for-you"), ("following", "/api/v1/feed/following"))


@dataclass
class Phase:
    """One endpoint of one world (or the bare endpoint), its parts added up."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    cursors: dict[int, str | None] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", default="10000,1000000", help="the world sizes, smallest first")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--viewers", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=20, help="per endpoint and world")
    parser.add_argument("--rounds", type=int, default=4, help="parts each phase is cut into")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--paced-fraction", type=float, default=0.5)
    args = parser.parse_args()
    if args.viewers < args.connections:
        parser.error("--viewers must be at least --connections (each connection pages as one)")
    sizes = [int(v) for v in args.videos.split(",")]

    built = {}
    data = {}
    for size in sizes:
        data[size] = fresh_dir(CACHE / f"feeds-scale-{size}")
        built[size] = build_world(data[size], args.users, size)

    with ExitStack() as stack:
        servers = {
            size: stack.enter_context(running_server(data[size], SERVER_ENV)) for size in sizes
        }
        viewers = {}
        signed_up = {}
        for size, server in servers.items():
            started = time.monotonic()
            viewers[size] = asyncio.run(sign_up(server.base_url, args.viewers))
            signed_up[size] = time.monotonic() - started
        sample = httpx.get(
            f"{servers[sizes[0]].base_url}/api/v1/feed/for-you",
            params={"page_size": 20},
            headers=viewers[sizes[0]][0],
        ).json()
        payload = data[sizes[0]] / "payload.json"
        payload.write_text(json.dumps(sample))
        bare_url, bare = stack.enter_context(bare_server(payload))

        part = args.seconds / args.rounds
        phases: dict[tuple[str, int], Phase] = {}
        for _round in range(args.rounds):
            for name, path in (("bare", "/feed"), *PATHS):
                for size in [0] if name == "bare" else sizes:
                    phase = phases.setdefault((name, size), Phase())
                    if name == "bare":
                        base, pid, heads = bare_url, bare.pid, []
                    else:
                        server = servers[size]
                        for other in servers.values():
                            settle(other)
                        base, pid, heads = server.base_url, server.pid, viewers[size]
                    cpu = process_cpu_seconds(pid)
                    lat, errors = asyncio.run(
                        drive(base, path, part, args.connections, heads, phase.cursors)
                    )
                    phase.cpu += process_cpu_seconds(pid) - cpu
                    phase.latencies += lat
                    phase.errors += errors
                    phase.seconds += part

        open_loop: dict[tuple[str, int], tuple[float, list[float], int, float]] = {}
        for name, path in PATHS:
            for size in sizes:
                for other in servers.values():
                    settle(other)
                rate = args.paced_fraction * phases[(name, size)].rps
                run = asyncio.run(
                    paced(
                        servers[size].base_url,
                        path,
                        args.seconds,
                        rate,
                        args.connections,
                        viewers[size],
                    )
                )
                open_loop[(name, size)] = (rate, *run)

    report(args, sizes, built, signed_up, phases, open_loop)


def report(
    args: Any,
    sizes: list[int],
    built: dict[int, float],
    signed_up: dict[int, float],
    phases: dict[tuple[str, int], Phase],
    open_loop: dict[tuple[str, int], tuple[float, list[float], int, float]],
) -> None:
    bare = phases[("bare", 0)]
    print(machine_report(invoked_as()))
    for size in sizes:
        print(
            f"- world of {size} videos ({args.users} demo users): built in {built[size]:.0f} s;"
            f" {args.viewers} viewers signed up in {signed_up[size]:.0f} s"
        )
    print(
        f"- closed loop: {args.connections} connections, {args.seconds:.0f} s per endpoint and"
        f" world in {args.rounds} parts taken in turn; open loop: {args.paced_fraction:.0%} of"
        " what that endpoint answered, for the same time, after"
    )
    print()
    print(
        "| endpoint | videos | req/s | ratio to bare | CPU per request (ms) | closed p50 / p99 (ms)"
        " | errors | open loop: offered/s, p99 (max) ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| bare FastAPI, same payload | - | {bare.rps:.0f} | - |"
        f" {bare.cpu / max(len(bare.latencies), 1) * 1000:.2f} |"
        f" {pct(bare.latencies, 0.5):.1f} / {pct(bare.latencies, 0.99):.1f} | {bare.errors} | - |"
    )
    for name, _path in PATHS:
        for size in sizes:
            phase = phases[(name, size)]
            rate, lat, errors, _answered = open_loop[(name, size)]
            print(
                f"| {name} | {size} | {phase.rps:.0f} | {phase.rps / bare.rps:.2f} |"
                f" {phase.cpu / max(len(phase.latencies), 1) * 1000:.2f} |"
                f" {pct(phase.latencies, 0.5):.1f} / {pct(phase.latencies, 0.99):.1f} |"
                f" {phase.errors + errors} |"
                f" {rate:.0f}, {pct(lat, 0.99):.1f} ({max(lat, default=float('nan')):.1f}) |"
            )
    print()
    small, big = sizes[0], sizes[-1]
    for name, _path in PATHS:
        print(
            f"- {name}: {big} videos against {small}:"
            f" {phases[(name, big)].rps / phases[(name, small)].rps:.2f} of the requests/s"
        )


if __name__ == "__main__":
    main()
