"""Tone clips for the sound tests, made once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sounds.helpers import make_tone_clip

LOW_TONE = 440
HIGH_TONE = 1000


@pytest.fixture(scope="session")
def tone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tones")


@pytest.fixture(scope="session")
def low_tone_clip(tone_dir: Path) -> Path:
    return make_tone_clip(tone_dir / "low.mp4", LOW_TONE)


@pytest.fixture(scope="session")
def high_tone_clip(tone_dir: Path) -> Path:
    return make_tone_clip(tone_dir / "high.mp4", HIGH_TONE)


@pytest.fixture(scope="session")
def silent_clip(tone_dir: Path) -> Path:
    return make_tone_clip(tone_dir / "silent.mp4", None)
