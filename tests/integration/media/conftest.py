"""Real clips for the upload tests, made once per run by ffmpeg."""

from __future__ import annotations

import pytest

from tests.clips import make_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2 s 640x360 phone-like mp4 (H.264 + AAC), about 200 KB."""
    path = make_clip(
        tmp_path_factory.mktemp("clips") / "clip.mp4", width=640, height=360, seconds=2
    )
    return path.read_bytes()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 1 s 320x240 mp4, for tests where the picture is not the point."""
    path = make_clip(
        tmp_path_factory.mktemp("clips") / "tiny.mp4", width=320, height=240, seconds=1
    )
    return path.read_bytes()
