"""A poster frame worth looking at, and a sprite sheet with a WebVTT track for scrubbing."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter, ImageStat

from reelstack.media.ffmpeg import FFmpeg, untrusted_input
from reelstack.media.probe import SourceInfo

POSTER_WIDTHS = (180, 360, 720)
POSTER_CANDIDATES = 7
SPRITE_NAME = "sprite.jpg"
SPRITE_VTT_NAME = "sprite.vtt"
SPRITE_TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_MAX_TILES = 100
# Mean luminance (0..255) below which a frame counts as black (fade-ins, lens caps), and
# above which it counts as blown-out white; the luminance spread below which it is a flat card.
_TOO_DARK, _TOO_BRIGHT, _TOO_FLAT = 24.0, 235.0, 8.0


@dataclass(frozen=True)
class Thumbnails:
    """Poster WebPs by width, the moment they show, and the scrubbing sprite with its track."""

    posters: dict[int, Path]
    poster_time: float
    sprite: Path
    sprite_vtt: Path
    tile_width: int
    tile_height: int
    interval: float


async def make_thumbnails(
    ff: FFmpeg,
    source: Path,
    info: SourceInfo,
    workdir: Path,
    *,
    sprite_source: Path | None = None,
) -> Thumbnails:
    """Pick and write the poster, and build the sprite sheet and its WebVTT track.

    Poster candidates come from `source` (the upload, read through the hardened input with
    `info.format`) with fast input seeking, so only a few frames near each instant are
    decoded, at full quality. The sprite needs frames across the whole video, so it is cut
    from `sprite_source` when given, which should be the smallest rung MP4 (upright, 360p,
    cheap to decode from end to end); without it the upload itself is decoded.
    """
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    posters, poster_time = await _make_posters(ff, source, info, workdir)
    sprite, vtt, tile_width, tile_height, interval = await _make_sprite(
        ff, sprite_source or source, "mov" if sprite_source else info.format, info, workdir
    )
    return Thumbnails(posters, poster_time, sprite, vtt, tile_width, tile_height, interval)


def poster_widths(display_width: int) -> list[int]:
    """The poster widths to write: never wider than the video, always at least one."""
    return [width for width in POSTER_WIDTHS if width <= display_width] or [display_width]


def candidate_times(duration: float, count: int = POSTER_CANDIDATES) -> list[float]:
    """Instants spread evenly over the video, leaving out its first and last 5 %."""
    if count == 1:
        return [duration / 2]
    return [duration * (0.05 + 0.9 * index / (count - 1)) for index in range(count)]


async def _make_posters(
    ff: FFmpeg, source: Path, info: SourceInfo, workdir: Path
) -> tuple[dict[int, Path], float]:
    widths = poster_widths(info.width)
    times = candidate_times(info.duration)
    candidates = [workdir / f"candidate_{index}.png" for index in range(len(times))]
    args: list[str] = []
    for moment in times:
        # One decoder thread per input: several inputs are open at once in this process.
        args += ["-ss", f"{moment:.3f}", "-threads", "1", *untrusted_input(source, info.format)]
    scale = f"scale={max(widths)}:-1:flags=lanczos"
    for index, candidate in enumerate(candidates):
        args += ["-map", f"{index}:v:0", "-frames:v", "1", "-vf", scale]
        args += ["-filter_threads", "1", "-update", "1", "-f", "image2", str(candidate)]
    await ff.run(args)
    scored = await asyncio.to_thread(_score_candidates, candidates, times)
    if not scored:
        raise RuntimeError("ffmpeg produced no poster candidate")
    best_path, best_time = scored
    aspect = info.height / info.width
    posters = await asyncio.to_thread(_write_posters, best_path, widths, aspect, workdir)
    for candidate in candidates:
        candidate.unlink(missing_ok=True)
    return posters, round(best_time, 3)


def _score_candidates(candidates: list[Path], times: list[float]) -> tuple[Path, float] | None:
    best: tuple[float, Path, float] | None = None
    for candidate, moment in zip(candidates, times, strict=True):
        if not candidate.exists():  # a seek past the real end yields nothing
            continue
        with Image.open(candidate) as image:
            score = poster_score(image)
        if best is None or score > best[0]:
            best = (score, candidate, moment)
    return None if best is None else (best[1], best[2])


def poster_score(image: Image.Image) -> float:
    """Higher is a better poster: sharp detail wins, dark, blown-out or flat frames lose."""
    gray = image.convert("L")
    stats = ImageStat.Stat(gray)
    mean, spread = stats.mean[0], stats.stddev[0]
    edges = ImageStat.Stat(gray.filter(ImageFilter.FIND_EDGES)).var[0]
    # Any usable frame beats any unusable one; among each kind, the sharper wins.
    usable = _TOO_DARK <= mean <= _TOO_BRIGHT and spread >= _TOO_FLAT
    return edges + (1e9 if usable else 0.0)


def _write_posters(frame: Path, widths: list[int], aspect: float, workdir: Path) -> dict[int, Path]:
    posters: dict[int, Path] = {}
    with Image.open(frame) as image:
        picture = image.convert("RGB")
    for width in widths:
        height = max(2, round(width * aspect))
        resized = picture
        if (width, height) != picture.size:
            resized = picture.resize((width, height), Image.Resampling.LANCZOS)
        path = workdir / f"poster_{width}.webp"
        resized.save(path, "WEBP", quality=82, method=4)
        posters[width] = path
    return posters


def sprite_interval(duration: float) -> float:
    """Whole seconds between sprite tiles: at least 1 s, at most 100 tiles."""
    return float(max(1, math.ceil(duration / SPRITE_MAX_TILES)))


async def _make_sprite(
    ff: FFmpeg, source: Path, fmt: str, info: SourceInfo, workdir: Path
) -> tuple[Path, Path, int, int, float]:
    interval = sprite_interval(info.duration)
    tiles = max(1, math.ceil(info.duration / interval - 1e-6))
    columns = min(SPRITE_COLUMNS, tiles)
    rows = math.ceil(tiles / columns)
    tile_width = min(SPRITE_TILE_WIDTH, info.width - info.width % 2)
    tile_height = max(2, 2 * round(tile_width * info.height / info.width / 2))
    sprite = workdir / SPRITE_NAME
    await ff.run([
        "-threads", str(ff.threads), *untrusted_input(source, fmt),
        "-map", "0:v:0", "-filter_threads", str(ff.threads),
        "-vf", f"fps=fps=1/{interval:g}:start_time=0,"
               f"scale={tile_width}:{tile_height}:flags=bicubic,setsar=1,"
               f"tile={columns}x{rows}",
        "-frames:v", "1", "-q:v", "5", "-update", "1", "-f", "image2", str(sprite),
    ])  # fmt: skip
    vtt = workdir / SPRITE_VTT_NAME
    vtt.write_text(
        sprite_vtt(info.duration, interval, tiles, columns, tile_width, tile_height, SPRITE_NAME)
    )
    return sprite, vtt, tile_width, tile_height, interval


def sprite_vtt(
    duration: float,
    interval: float,
    tiles: int,
    columns: int,
    tile_width: int,
    tile_height: int,
    sprite_name: str,
) -> str:
    """A WebVTT track whose cues cover [0, duration), each naming its tile in the sprite."""
    lines = ["WEBVTT", ""]
    for index in range(tiles):
        start, end = index * interval, min((index + 1) * interval, duration)
        if index == tiles - 1:
            end = duration
        x, y = (index % columns) * tile_width, (index // columns) * tile_height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_name}#xywh={x},{y},{tile_width},{tile_height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
