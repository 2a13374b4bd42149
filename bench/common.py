"""Shared benchmark plumbing: the cached clips, a real `reelstack serve`, the API, CPU clocks.

Generated media lives in a cache directory outside the repository (REELSTACK_BENCH_CACHE,
default /tmp/reelstack-bench), so nothing large can end up in a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import platform
import resource
import secrets
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("REELSTACK_BENCH_CACHE", "/tmp/reelstack-bench"))  # noqa: S108
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SERVE = REPO / ".venv" / "bin" / "reelstack"
THREADS = os.cpu_count() or 2  # what the pipeline's ffmpeg_threads=0 resolves to
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The benchmark clip: portrait 1080x1920 (what phones upload), 30 fps, 30 s, 1 s GOP, a
# camera-like picture (see `bench_clip`). The "stress" clip is the earlier benchmark clip:
# testsrc2 under per-pixel temporal white noise, far harder to scale down than camera footage.
BENCH_CLIP_SECONDS = 30
BENCH_CLIP_SIZE = (1080, 1920)


# -- processes and clocks ----------------------------------------------------------------------
def run_ffmpeg(args: Sequence[str]) -> None:
    """Run the bundled ffmpeg quietly; raise with its stderr if it fails."""
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr[-2000:]}")


def children_cpu_seconds() -> float:
    """User + system CPU of every child this process has reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process plus all of its reaped children (ffmpeg runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")": state is field 3, so utime..cstime (fields 14..17) are indexes 11..14.
    return sum(int(value) for value in fields[11:15]) / CLK_TCK


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float


@contextlib.contextmanager
def timed_children() -> Iterator[list[Timed]]:
    """Wall and children's CPU time of the block, appended to the yielded list on exit."""
    result: list[Timed] = []
    wall, cpu = time.perf_counter(), children_cpu_seconds()
    yield result
    result.append(Timed(time.perf_counter() - wall, children_cpu_seconds() - cpu))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- the machine -------------------------------------------------------------------------------
def machine_report(command: str) -> str:
    """A markdown block naming the command, the machine, the date and the load."""
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    commit = _git("rev-parse", "--short", "HEAD")
    changed = _git("status", "--porcelain", "--", ".", ":!bench")
    dirty = " + uncommitted changes outside bench/" if changed else ""
    ffmpeg_version = subprocess.run(
        [FFMPEG, "-version"], capture_output=True, text=True, check=True
    ).stdout.split("\n", 1)[0]
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return "\n".join(
        [
            f"- command: `{command}`",
            f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: nproc {os.cpu_count()}, {cpu_model}, "
            f"RAM {mem_kib / 1024**2:.1f} GiB, {platform.system()} {platform.release()}",
            f"- load average (1/5/15 min) when the run ended: {load}",
            f"- reelstack commit {commit}{dirty}; Python {platform.python_version()}",
            f"- {ffmpeg_version.split(' Copyright')[0]} ({FFMPEG})",
        ]
    )


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def invoked_as() -> str:
    script = Path(sys.argv[0]).resolve()
    relative = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    return shlex.join([".venv/bin/python", str(relative), *sys.argv[1:]])


# -- the clips ---------------------------------------------------------------------------------
def _encode_clip(path: Path, inputs: list[str], video: list[str]) -> Path:
    """H.264 crf 18 with a keyframe every second (as phone cameras write them) + AAC."""
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    run_ffmpeg(
        [
            *inputs, *video,
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "30",
            "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "160k", "-ac", "2",
            "-movflags", "+faststart", "-t", str(BENCH_CLIP_SECONDS), str(partial),
        ]
    )  # fmt: skip
    partial.replace(path)
    return path


def bench_clip() -> Path:
    """The 30 s 1080x1920 benchmark clip, made once with lavfi: what a phone camera films.

    A detailed scene (a fractal "landscape" seen through a slightly soft lens, under drifting
    light) filmed by a handheld camera (slow pan, small fast shake, a slight roll), a moving
    object, a lens vignette, and mild film grain: spatially correlated (about 2 px), changing
    every frame, at low strength, not per-pixel white noise. Ambient pink noise. No burned-in
    text (cameras film none; the stress clip has plenty).
    """
    width, height = BENCH_CLIP_SIZE
    path = CACHE / f"camera-{width}x{height}-{BENCH_CLIP_SECONDS}s-v2.mp4"
    if path.exists():
        return path
    seconds = BENCH_CLIP_SECONDS
    # Rendered once on a canvas 20 % larger than the frame, so the "camera" can move in it.
    canvas = f"{width * 6 // 5}x{height * 6 // 5}"
    canvas_w, canvas_h = canvas.split("x")
    canvas_third = f"{int(canvas_w) // 3}x{int(canvas_h) // 3}"
    graph = ";".join(
        [
            # Rendered at a third of the resolution and scaled up: a lens and a phone's
            # processing leave little detail at the pixel level (a full-resolution fractal is
            # all edges: the first version of this clip, see RESULTS.md).
            f"mandelbrot=size={canvas_third}:rate=30:start_scale=0.9:end_scale=0.9"
            ":start_x=-0.7453:start_y=0.1127:maxiter=200:outer=normalized_iteration_count"
            ":inner=mincol,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/(30*TB),"
            f"scale={canvas_w}:{canvas_h}:flags=bicubic,gblur=sigma=0.6,hue=h=35:s=0.6,"
            "format=yuv420p[land]",
            "gradients=size=432x768:rate=30:speed=0.008:n=3:c0=0x87a96b:c1=0x4a6fa5:c2=0xf2d0a4"
            f":type=linear,scale={canvas_w}:{canvas_h},format=yuv420p[light]",
            "[land][light]blend=all_mode=softlight,"
            # Handheld: a slight roll, a slow pan and a small fast shake.
            "rotate=a='0.006*sin(t*1.1)+0.003*sin(t*3.7)',"
            f"crop={width}:{height}:x='{width // 10}+60*sin(t*0.35)+5*sin(t*5.3)'"
            f":y='{height // 10}+120*sin(t*0.23)+4*sin(t*4.1)',"
            "drawbox=x='mod(t*180,1400)-250':y='1350+40*sin(t*1.5)':w=240:h=150"
            ":color=0xc04020@0.85:t=fill,"
            "vignette=PI/5,format=yuv420p[scene]",
            # Grain: half-resolution noise, scaled up (so each grain spans ~2 px), overlaid.
            f"color=c=gray:size={width // 2}x{height // 2}:rate=30,noise=alls=30:allf=t,"
            f"scale={width}:{height}:flags=bicubic,format=yuv420p[grain]",
            "[scene][grain]blend=all_mode=overlay:all_opacity=0.1,format=yuv420p[v]",
        ]
    )
    return _encode_clip(
        path,
        ["-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:a=0.05:r=48000"],
        ["-filter_complex", graph, "-map", "[v]", "-map", "0:a"],
    )


def stress_clip() -> Path:
    """The earlier benchmark clip: testsrc2 (hard synthetic edges and text) under per-pixel
    temporal noise, with a tone. Nothing a camera films looks like it; no 720p encode of it
    reaches VMAF 90, not even a near-lossless one (bench/RESULTS.md)."""
    width, height = BENCH_CLIP_SIZE
    path = CACHE / f"bench-{width}x{height}-{BENCH_CLIP_SECONDS}s.mp4"
    if path.exists():
        return path
    seconds = BENCH_CLIP_SECONDS
    return _encode_clip(
        path,
        [
            "-f", "lavfi",
            "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds},noise=alls=3:allf=t",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        ],
        ["-shortest"],
    )  # fmt: skip


# -- a real server -----------------------------------------------------------------------------
async def register(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Sign a new user up through the API; the headers that act as them."""
    r = await client.post(
        "/api/v1/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "bench pass 1"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


class LeanConnection:
    """One kept-alive HTTP/1.1 connection that costs the load generator as little as possible:
    a GET is one write, a response its head read to the blank line and a body of its
    Content-Length. httpx spends ~3 ms of CPU per request at 64 connections (measured: the
    bench process used a whole core driving bare FastAPI at 329 req/s), so on two cores it,
    not the server, set the pace; this spends a few tens of microseconds."""

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port or 80)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of `GET target`. Raises ConnectionError if the server closed the
        kept-alive connection (the next call opens a new one)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.close()
            raise ConnectionError("the server closed the connection") from error
        if b"\r\nconnection: close" in head.lower():
            self.close()
        return int(head[9:12]), body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError(f"a response without Content-Length: {head[:200]!r}")
    return int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int
    data_dir: Path
    log_path: Path

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


@contextlib.contextmanager
def running_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """`reelstack serve` in embedded mode (SQLite, jobs in-process) on a free loopback port."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "REELSTACK_DATA_DIR": str(data_dir),
        "REELSTACK_PORT": str(port),
        "REELSTACK_RATE_LIMIT_AUTHENTICATED": "100000/minute",
        "REELSTACK_RATE_LIMIT_REGISTER": "1000/hour",
        "REELSTACK_ACCESS_TOKEN_TTL_SECONDS": "7200",
        "REELSTACK_LOG_LEVEL": "info",
        **(extra_env or {}),
    }
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        # cwd is the data dir so a developer's .env in the repository is not picked up.
        process = subprocess.Popen(
            [str(SERVE), "serve"],
            env=env,
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process.pid, data_dir, log_path)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"reelstack serve exited; see {server.log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"reelstack serve did not become ready; see {server.log_path}")


def jobs_settled(base_url: str, queues: Sequence[str], timeout: float = 120.0) -> float:
    """Wait until the server's job queues named have nothing waiting or running (from its
    /metrics), so that a load measures the load, not the set-up's jobs; the seconds waited."""
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while time.monotonic() - started < timeout:
            busy = 0.0
            for line in client.get("/metrics").text.splitlines():
                if line.startswith(("reelstack_jobs_pending{", "reelstack_jobs_running{")):
                    queue = line.split('queue="', 1)[1].split('"', 1)[0]
                    if queue in queues:
                        busy += float(line.split()[-1])
            if busy == 0:
                return time.monotonic() - started
            time.sleep(0.5)
    raise RuntimeError(f"the server's {', '.join(queues)} jobs did not settle in {timeout:.0f} s")


class Api:
    """A signed-in user of the server, over real HTTP."""

    def __init__(self, server: Server) -> None:
        self.client = httpx.Client(base_url=server.base_url, timeout=120)
        name = f"bench_{secrets.token_hex(4)}"
        response = self.client.post(
            "/api/v1/auth/register",
            json={
                "username": name,
                "email": f"{name}@example.com",
                "password": secrets.token_hex(),
            },
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def close(self) -> None:
        self.client.close()

    def init_upload(self, size: int, filename: str) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/videos/upload/init",
            json={
                "file_size": size,
                "mime_type": "video/mp4",
                "filename": filename,
                "caption": "benchmark",
                "hashtags": [],
                "visibility": "public",
            },
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def upload_chunks(self, upload_id: str, path: Path, chunk_size: int) -> None:
        """PUT the file in order, one chunk per request, each body read from disk first."""
        total = path.stat().st_size
        with path.open("rb") as source:
            for start in range(0, total, chunk_size):
                data = source.read(chunk_size)
                end = start + len(data) - 1
                response = self.client.put(
                    f"/api/v1/videos/upload/{upload_id}/chunk",
                    content=data,
                    headers={
                        "Content-Range": f"bytes {start}-{end}/{total}",
                        "Content-Type": "application/octet-stream",
                    },
                )
                response.raise_for_status()

    def complete(self, upload_id: str) -> None:
        self.client.post(f"/api/v1/videos/upload/{upload_id}/complete").raise_for_status()

    def status(self, video_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/videos/{video_id}/status")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
