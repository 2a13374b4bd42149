"""Running ffmpeg: deadlines, failures, cancellation, progress, resource limits, hardening."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from reelstack.media.ffmpeg import FFmpeg, FFmpegError, ffmpeg_executable, untrusted_input
from tests.clips import make_clip, make_ffconcat


def endless_source() -> tuple[list[str], str]:
    """Arguments for an ffmpeg that never ends on its own, and a marker to find it by."""
    marker = f"testsrc2=s=64x64:r={uuid.uuid4().int % 1000 + 1000}"
    return ["-re", "-f", "lavfi", "-i", marker, "-f", "null", "-"], marker


def running_with(marker: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


async def wait_until_running(marker: str) -> None:
    for _ in range(100):
        if running_with(marker):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("ffmpeg never started")


async def test_deadline_kills_ffmpeg(ff: FFmpeg) -> None:
    args, marker = endless_source()
    started = time.monotonic()
    with pytest.raises(FFmpegError) as failed:
        await ff.run(args, timeout=1)
    assert failed.value.code == "ffmpeg_timeout"
    assert 0.9 < time.monotonic() - started < 3
    assert running_with(marker) == []


async def test_cancellation_kills_ffmpeg(ff: FFmpeg) -> None:
    args, marker = endless_source()
    task = asyncio.create_task(ff.run(args))
    await wait_until_running(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running_with(marker) == []


async def test_failure_carries_ffmpeg_stderr(ff: FFmpeg, tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FFmpegError) as failed:
        await ff.run([*untrusted_input(missing, "mov"), "-f", "null", "-"])
    assert failed.value.code == "ffmpeg_failed"
    assert "No such file or directory" in failed.value.detail


async def test_progress_is_reported_up_to_completion(ff: FFmpeg) -> None:
    seen: list[float] = []

    async def record(fraction: float) -> None:
        seen.append(fraction)

    await ff.run(
        ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=3", "-c:v", "libx264",
         "-preset", "ultrafast", "-f", "null", "-"],
        duration=3.0,
        on_progress=record,
    )  # fmt: skip
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert all(0.0 <= fraction <= 1.0 for fraction in seen)


async def test_memory_limit_applies_to_ffmpeg() -> None:
    starved = FFmpeg(ffmpeg_executable(), threads=1, memory_limit_bytes=64 * 1024**2)
    with pytest.raises(FFmpegError) as failed:
        await starved.run(["-f", "lavfi", "-i", "testsrc2=s=1920x1080:d=0.2",
                           "-c:v", "libx264", "-f", "null", "-"])  # fmt: skip
    assert failed.value.code == "ffmpeg_failed"


def test_configured_executable_wins_and_must_exist(tmp_path: Path) -> None:
    fake = tmp_path / "my-ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert ffmpeg_executable(str(fake)) == str(fake)
    with pytest.raises(FileNotFoundError):
        ffmpeg_executable(str(tmp_path / "nowhere"))
    assert os.access(ffmpeg_executable(), os.X_OK)


async def test_hardened_input_will_not_follow_a_concat_script(ff: FFmpeg, tmp_path: Path) -> None:
    """ffmpeg left to probe on its own reads the clip an ffconcat names; forcing the demuxer
    the file claims to be (mov, from its .mp4 name) makes the same file simply invalid."""
    make_clip(tmp_path / "victim.mp4", width=160, height=120, seconds=0.3, audio=False)
    script = make_ffconcat(tmp_path / "upload.mp4", targets=["victim.mp4"])
    naive = await asyncio.to_thread(
        subprocess.run,
        [ffmpeg_executable(), "-v", "error", "-i", str(script), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    assert naive.returncode == 0, "the unhardened control should have read victim.mp4"
    with pytest.raises(FFmpegError) as failed:
        await ff.run([*untrusted_input(script, "mov"), "-f", "null", "-"])
    assert failed.value.code == "ffmpeg_failed"
    assert untrusted_input(script, "mov")[:2] == ["-protocol_whitelist", "file"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_ffmpeg_dies_with_the_worker_that_started_it() -> None:
    """A worker killed mid-transcode must not leave an ffmpeg running with no deadline."""
    script = (
        "import asyncio\n"
        "from reelstack.media.ffmpeg import FFmpeg, ffmpeg_executable\n"
        "ff = FFmpeg(ffmpeg_executable(), threads=1, timeout_seconds=60)\n"
        "asyncio.run(ff.run(['-nostats', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10',"
        " '-f', 'null', '-']))\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script])  # noqa: S603 - our own script
    transcoders: list[int] = []
    try:
        for _ in range(400):
            # The worker's own command line holds the marker too: only its children count.
            transcoders = [p for p in running_with("testsrc2=s=160x120:r=10") if p != worker.pid]
            if transcoders:
                break
            time.sleep(0.05)
        assert transcoders, "ffmpeg never started"
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in transcoders) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in transcoders if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
