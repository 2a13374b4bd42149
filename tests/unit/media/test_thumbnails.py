"""Posters worth looking at, and a sprite track that covers the whole video."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from reelstack.media.ffmpeg import FFmpeg
from reelstack.media.probe import probe_source
from reelstack.media.thumbnails import (
    Thumbnails,
    make_thumbnails,
    poster_score,
    poster_widths,
    sprite_interval,
    sprite_vtt,
)
from tests.clips import make_clip

CUE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
    r"sprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)$",
    re.MULTILINE,
)


def cues(vtt: str) -> list[tuple[float, float, tuple[int, int, int, int]]]:
    parsed = []
    for match in CUE.finditer(vtt):
        numbers = [int(group) for group in match.groups()]
        start = numbers[0] * 3600 + numbers[1] * 60 + numbers[2] + numbers[3] / 1000
        end = numbers[4] * 3600 + numbers[5] * 60 + numbers[6] + numbers[7] / 1000
        x, y, w, h = numbers[8:]
        parsed.append((start, end, (x, y, w, h)))
    return parsed


def luminance(path: Path) -> float:
    with Image.open(path) as image:
        return float(ImageStat.Stat(image.convert("L")).mean[0])


@pytest.fixture(scope="session")
def black_start_clip(clip_dir: Path) -> Path:
    """3 s at 320x240: one second of black, then the test pattern."""
    return make_clip(clip_dir / "black-start.mp4", width=320, height=240, seconds=3,
                     black_lead=1.0)  # fmt: skip


async def thumbnails_for(ff: FFmpeg, clip: Path, workdir: Path, **kwargs: Path) -> Thumbnails:
    info = probe_source(clip, max_duration=600)
    return await make_thumbnails(ff, clip, info, workdir, **kwargs)


async def test_poster_skips_the_black_opening(
    ff: FFmpeg, black_start_clip: Path, tmp_path: Path
) -> None:
    thumbs = await thumbnails_for(ff, black_start_clip, tmp_path)
    assert thumbs.poster_time >= 1.0
    assert list(thumbs.posters) == [180]  # a 320-wide video gets no 360 or 720 poster
    poster = thumbs.posters[180]
    with Image.open(poster) as image:
        assert (image.format, image.size) == ("WEBP", (180, 135))
    assert luminance(poster) > 40
    assert await asyncio.to_thread(sorted, (path.name for path in tmp_path.iterdir())) == [
        "poster_180.webp", "sprite.jpg", "sprite.vtt",
    ], "candidate frames are cleaned up"  # fmt: skip


async def test_sprite_track_covers_the_whole_video(
    ff: FFmpeg, black_start_clip: Path, tmp_path: Path
) -> None:
    thumbs = await thumbnails_for(ff, black_start_clip, tmp_path)
    assert (thumbs.tile_width, thumbs.tile_height, thumbs.interval) == (160, 120, 1.0)
    vtt = thumbs.sprite_vtt.read_text()
    assert vtt.startswith("WEBVTT\n\n")
    track = cues(vtt)
    assert len(track) == 3
    assert track[0][0] == 0.0 and track[-1][1] == pytest.approx(3.0, abs=0.05)
    assert all(end == next_start for (_, end, _), (next_start, _, _) in itertools.pairwise(track))
    with Image.open(thumbs.sprite) as sprite:
        assert sprite.format == "JPEG"
        assert sprite.size == (3 * 160, 120)
        # The first tile is the black opening, the last one the pattern.
        first = sprite.crop((0, 0, 160, 120)).convert("L")
        last = sprite.crop((320, 0, 480, 120)).convert("L")
        assert ImageStat.Stat(first).mean[0] < 20 < ImageStat.Stat(last).mean[0]
    for _, _, (x, y, w, h) in track:
        assert (w, h) == (160, 120) and x + w <= 480 and y + h <= 120


async def test_portrait_sprite_from_a_rung_and_posters_never_upscaled(
    ff: FFmpeg, portrait_clip: Path, rotated_clip: Path, tmp_path: Path
) -> None:
    thumbs = await thumbnails_for(ff, rotated_clip, tmp_path, sprite_source=portrait_clip)
    assert sorted(thumbs.posters) == [180, 360]  # 480 wide once turned upright
    with Image.open(thumbs.posters[360]) as poster:
        assert poster.size == (360, 640)
    assert (thumbs.tile_width, thumbs.tile_height) == (160, 284)
    with Image.open(thumbs.sprite) as sprite:
        assert sprite.size == (2 * 160, 284)


def test_poster_widths() -> None:
    assert poster_widths(1080) == [180, 360, 720]
    assert poster_widths(720) == [180, 360, 720]
    assert poster_widths(480) == [180, 360]
    assert poster_widths(120) == [120]


def test_sprite_has_at_most_100_tiles_a_second_or_more_apart() -> None:
    assert sprite_interval(2.0) == 1.0
    assert sprite_interval(100.0) == 1.0
    assert sprite_interval(250.0) == 3.0
    track = cues(sprite_vtt(250.0, 3.0, 84, 10, 160, 90, "sprite.jpg"))
    assert len(track) == 84
    assert track[-1][1] == 250.0
    assert track[-1][2] == (3 * 160, 8 * 90, 160, 90)


def test_poster_score_prefers_detail_over_black_and_flat_frames() -> None:
    black = Image.new("RGB", (64, 64))
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    checker = Image.new("RGB", (64, 64), (200, 200, 200))
    for x in range(0, 64, 8):
        for y in range(0, 64, 8):
            if (x + y) % 16 == 0:
                checker.paste((40, 40, 40), (x, y, x + 8, y + 8))
    assert poster_score(checker) > poster_score(grey)
    assert poster_score(checker) > poster_score(black)
