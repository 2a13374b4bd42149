"""Clips generated once per test session, and an FFmpeg runner for the media library."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelstack.media.ffmpeg import FFmpeg, ffmpeg_executable
from tests.clips import make_clip


@pytest.fixture(scope="session")
def ff() -> FFmpeg:
    return FFmpeg(ffmpeg_executable(), threads=2, timeout_seconds=120)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def portrait_clip(clip_dir: Path) -> Path:
    """480x854, 2 s, with audio: large enough for two rungs (480p and 360p)."""
    return make_clip(clip_dir / "portrait.mp4", width=480, height=854, seconds=2)


@pytest.fixture(scope="session")
def silent_clip(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "silent.mp4", width=480, height=854, seconds=2, audio=False)


@pytest.fixture(scope="session")
def rotated_clip(clip_dir: Path) -> Path:
    """Stored 854x480 with a 90° rotation flag: a phone held upright, shown as 480x854."""
    return make_clip(clip_dir / "rotated.mov", width=854, height=480, seconds=2, rotate=90,
                     container="mov")  # fmt: skip
