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
    with Image.open(frame) as image:
        picture = image.convert("RGB")
    return _write_poster_images(picture, widths, aspect, workdir)


def _write_poster_images(
    picture: Image.Image, widths: list[int], aspect: float, workdir: Path
) -> dict[int, Path]:
    posters: dict[int, Path] = {}
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


# -- from the ladder's own decode ---------------------------------------------------------------
_CANDIDATES_RAW = "candidates.rgb"
_TILES_RAW = "tiles.rgb"


@dataclass(frozen=True)
class ThumbnailTaps:
    """Poster candidates and sprite tiles cut from the frames the ladder encode decodes anyway:
    two more branches of its filter graph instead of separate ffmpeg runs over the upload.

    Both branches write raw RGB frames (no image encoding inside ffmpeg), and both emit a frame
    at the very start, so ffmpeg initialises every output at once and keeps reporting progress
    (it stays silent until each output has written its header).
    """

    workdir: Path
    times: list[float]
    candidate_size: tuple[int, int]
    tile_size: tuple[int, int]
    interval: float
    tiles: int
    columns: int

    def graph(self, candidates_in: str, tiles_in: str) -> list[str]:
        """Filter chains from two outputs of the ladder's `split`, ending in [cand] and [tile]."""
        # Frame 0 opens the output (see above) and is dropped when scoring.
        picks = "+".join(f"gte(t,{t:.3f})*lt(prev_pts*TB,{t:.3f})" for t in self.times)
        width, height = self.candidate_size
        tile_width, tile_height = self.tile_size
        return [
            f"[{candidates_in}]setpts=PTS-STARTPTS,select='eq(n,0)+{picks}',"
            f"scale={width}:{height}:flags=lanczos,setsar=1,format=rgb24[cand]",
            f"[{tiles_in}]fps=fps=1/{self.interval:g}:start_time=0,"
            f"scale={tile_width}:{tile_height}:flags=bicubic,setsar=1,format=rgb24[tile]",
        ]

    def output_args(self) -> list[str]:
        raw = ["-c:v", "rawvideo", "-fps_mode", "passthrough", "-f", "rawvideo"]
        return [
            "-map", "[cand]", "-frames:v", str(len(self.times) + 1), *raw,
            str(self.workdir / _CANDIDATES_RAW),
            "-map", "[tile]", "-frames:v", str(self.tiles), *raw,
            str(self.workdir / _TILES_RAW),
        ]  # fmt: skip


def plan_taps(info: SourceInfo, workdir: Path) -> ThumbnailTaps:
    """What to cut from the ladder's decode for this video's posters and sprite."""
    workdir.mkdir(parents=True, exist_ok=True)
    width = max(poster_widths(info.width))
    height = max(2, 2 * round(width * info.height / info.width / 2))
    interval = sprite_interval(info.duration)
    tiles = max(1, math.ceil(info.duration / interval - 1e-6))
    tile_width = min(SPRITE_TILE_WIDTH, info.width - info.width % 2)
    tile_height = max(2, 2 * round(tile_width * info.height / info.width / 2))
    return ThumbnailTaps(
        workdir=workdir,
        times=candidate_times(info.duration),
        candidate_size=(width, height),
        tile_size=(tile_width, tile_height),
        interval=interval,
        tiles=tiles,
        columns=min(SPRITE_COLUMNS, tiles),
    )


def _raw_frames(path: Path, size: tuple[int, int]) -> list[Image.Image]:
    frame_bytes = size[0] * size[1] * 3
    data = path.read_bytes() if path.exists() else b""
    return [
        Image.frombytes("RGB", size, data[start : start + frame_bytes])
        for start in range(0, len(data) - frame_bytes + 1, frame_bytes)
    ]


def finish_taps(taps: ThumbnailTaps, info: SourceInfo) -> Thumbnails:
    """Posters and the sprite from the frames the encode wrote (blocking: run in a thread)."""
    candidates = _raw_frames(taps.workdir / _CANDIDATES_RAW, taps.candidate_size)[1:]
    if not candidates:
        raise RuntimeError("ffmpeg produced no poster candidate")
    # A candidate time past the real end yields no frame: the frames come in time order.
    scored = [(poster_score(frame), index) for index, frame in enumerate(candidates)]
    _, best = max(scored, key=lambda pair: (pair[0], -pair[1]))
    widths = poster_widths(info.width)
    posters = _write_poster_images(candidates[best], widths, info.height / info.width, taps.workdir)
    tile_width, tile_height = taps.tile_size
    rows = math.ceil(taps.tiles / taps.columns)
    sheet = Image.new("RGB", (taps.columns * tile_width, rows * tile_height))
    for index, tile in enumerate(_raw_frames(taps.workdir / _TILES_RAW, taps.tile_size)):
        if index < taps.tiles:
            position = (index % taps.columns * tile_width, index // taps.columns * tile_height)
            sheet.paste(tile, position)
    sprite = taps.workdir / SPRITE_NAME
    sheet.save(sprite, "JPEG", quality=75)
    vtt = taps.workdir / SPRITE_VTT_NAME
    track = sprite_vtt(
        info.duration, taps.interval, taps.tiles, taps.columns, tile_width, tile_height, SPRITE_NAME
    )
    vtt.write_text(track)
    return Thumbnails(
        posters, round(taps.times[best], 3), sprite, vtt, tile_width, tile_height, taps.interval
    )
