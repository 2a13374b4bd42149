"""Locate the ffmpeg binary and run it as a bounded, killable child process."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

# Four libx264 1080p encoders in one process peak near 1.6 GiB of address space (RSS is far
# lower); 4 GiB leaves headroom for 4K sources while still stopping a runaway decoder.
DEFAULT_MEMORY_LIMIT_BYTES = 4 * 1024**3
DEFAULT_TIMEOUT_SECONDS = 3600.0
STDERR_TAIL_LINES = 20
_STDERR_LINE_MAX = 500

ProgressCallback = Callable[[float], Awaitable[None]]


class FFmpegError(Exception):
    """ffmpeg exited non-zero (`ffmpeg_failed`) or ran past its deadline (`ffmpeg_timeout`)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def ffmpeg_executable(configured: str | None = None) -> str:
    """The ffmpeg to run: the configured one, else `ffmpeg` on PATH, else imageio-ffmpeg's."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise FileNotFoundError(f"the configured ffmpeg {configured!r} is not an executable")
        return found
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def untrusted_input(path: Path, fmt: str) -> list[str]:
    """Input arguments that let ffmpeg read exactly this one local file with the given demuxer.

    Forcing the demuxer stops probing from picking a playlist/concat/image-sequence reader,
    and the protocol whitelist stops any demuxer from following a URL. The mov demuxer can
    also open external files named by `dref` boxes; that stays off explicitly.
    """
    args = ["-protocol_whitelist", "file", "-f", fmt]
    if fmt == "mov":
        args += ["-enable_drefs", "0", "-use_absolute_path", "0"]
    return [*args, "-i", str(path)]


_PR_SET_PDEATHSIG = 1
try:  # Linux: loaded once here, so the child only makes the syscall
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def _limit_child_resources(memory_limit_bytes: int | None) -> Callable[[], None]:
    parent = os.getpid()

    def apply() -> None:
        # Runs in the forked child between fork and exec: nothing but syscalls.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
        # ffmpeg runs in its own session, so a worker killed mid-job would leave it running
        # with no deadline; the kernel kills it with its parent instead.
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(1)

    return apply


@dataclass(frozen=True)
class FFmpeg:
    """How this worker runs ffmpeg: which binary, how many threads, how long, how much memory."""

    executable: str
    threads: int = 2
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT_BYTES

    def __post_init__(self) -> None:
        if self.threads <= 0:
            raise ValueError("threads must be positive")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")

    async def run(
        self,
        args: list[str],
        *,
        duration: float | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        progress_frame_rate: float | None = None,
    ) -> None:
        """Run ffmpeg with `args`, reporting progress 0..1 against `duration` if asked.

        Progress is ffmpeg's output time, which trails the slowest output; with
        `progress_frame_rate` it is the first video output's frame count at that rate instead
        (outputs that receive few frames, like thumbnail taps, hold the output time back).
        """
        progress = on_progress if duration is not None and duration > 0 else None
        command = [self.executable, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if progress is not None:
            command += ["-progress", "pipe:1", "-stats_period", "0.5"]
        command += args
        # MALLOC_ARENA_MAX keeps glibc from reserving 64 MiB of address space per thread,
        # which would otherwise count against RLIMIT_AS without ever being used.
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL if progress is None else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_limit_child_resources(self.memory_limit_bytes),
            env=env,
        )
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        readers = [_collect_lines(process.stderr, stderr_tail)]
        if progress is not None and process.stdout is not None and duration is not None:
            readers.append(
                _follow_progress(process.stdout, duration, progress, progress_frame_rate)
            )
        deadline = timeout if timeout is not None else self.timeout_seconds
        finished = False
        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*readers)
                returncode = await process.wait()
            finished = True
        except TimeoutError:
            raise FFmpegError(
                "ffmpeg_timeout", f"ffmpeg ran longer than {deadline:g} s and was killed"
            ) from None
        finally:
            if not finished:
                # A timeout, a cancellation or a failing progress callback: never leave an
                # orphan encoder behind.
                await _kill(process)
        if returncode != 0:
            detail = "\n".join(stderr_tail) or f"ffmpeg exited with status {returncode}"
            raise FFmpegError("ffmpeg_failed", detail)
        if progress is not None:
            await progress(1.0)


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            # The child leads its own session, so this reaches anything it spawned too.
            os.killpg(process.pid, signal.SIGKILL)
    # Reap it even if we are being cancelled, so no zombie is left behind.
    await asyncio.shield(process.wait())


async def _collect_lines(stream: asyncio.StreamReader | None, tail: deque[str]) -> None:
    if stream is None:
        return
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        tail.extend(_clip(line) for line in lines if line.strip())
        # A hostile input can make ffmpeg print one endless line; keep memory bounded.
        pending = pending[-_STDERR_LINE_MAX:]
    if pending.strip():
        tail.append(_clip(pending))


def _clip(line: bytes) -> str:
    return line[:_STDERR_LINE_MAX].decode("utf-8", "replace").rstrip()


async def _follow_progress(
    stream: asyncio.StreamReader,
    duration: float,
    on_progress: ProgressCallback,
    frame_rate: float | None = None,
) -> None:
    reported = 0.0
    wanted, scale = ("frame", 1 / frame_rate) if frame_rate else ("out_time_us", 1e-6)
    while line := await stream.readline():
        key, _, value = line.decode("ascii", "replace").strip().partition("=")
        if key != wanted or not value.lstrip("-").isdigit():
            continue
        fraction = min(1.0, max(0.0, int(value) * scale / duration))
        if fraction > reported:
            reported = fraction
            await on_progress(fraction)
