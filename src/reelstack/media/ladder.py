"""Plan the rendition ladder, encode every rung in one decoding pass, package each as HLS."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from reelstack.media.ffmpeg import FFmpeg, ProgressCallback, untrusted_input
from reelstack.media.probe import SourceInfo

# (short side, crf, maxrate kbit/s). The maxrate (with a 2x VBV buffer) only bites on busy
# scenes, keeping a rung within its bandwidth class. 720p, the progressive MP4 and the usual
# phone rung, gets crf 19 and room to 6000k: at 4000k the cap, not the crf, set its quality on
# a busy clip (VMAF 88.3 -> 90.4), and crf 20 left the camera-like benchmark clip at 89.9 on
# every frame (crf 19: 90.9, +23 % bit rate; bench/RESULTS.md).
_LADDER = ((1080, 21, 6500), (720, 19, 6000), (480, 21, 2000), (360, 21, 1000))
_HIGH_FPS_MIN_SHORT_SIDE = 720  # rungs this large keep up to 60 fps, smaller ones 30
_GOP_SECONDS = 2
# One GOP per segment. The lowest rung is shown while it is written, and a viewer who starts
# then needs each segment whole one segment ahead of the playhead: shorter segments let the
# video turn `ready` that much earlier (and start playing after a smaller first download).
HLS_SEGMENT_SECONDS = _GOP_SECONDS
PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"
AUDIO_BITRATE = "128k"
# Common rates a measured average (VFR phone footage, rounding) is snapped to.
_STANDARD_RATES = tuple(
    Fraction(numerator, denominator)
    for numerator, denominator in (
        (24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1),
        (48, 1), (50, 1), (60000, 1001), (60, 1), (120, 1),
    )
)  # fmt: skip


@dataclass(frozen=True)
class Rung:
    """One rendition: its display size, x264 quality target and bitrate cap, frame rate."""

    name: str
    width: int
    height: int
    crf: int
    maxrate_kbps: int
    bufsize_kbps: int
    fps: float


def plan_ladder(info: SourceInfo) -> list[Rung]:
    """The rungs to produce for this source, smallest first; never larger than the source.

    Rungs are named by the short side of the display size, so a portrait 1080x1920 video has
    a 1080p rung. A rung is produced only if the source's short side reaches it (a 600p source
    gets 480p and 360p); a source below 360p gets a single rung at its own even-rounded size.
    """
    short_side, long_side = min(info.width, info.height), max(info.width, info.height)
    portrait = info.height > info.width
    top_fps, low_fps = _rung_rates(info.fps)
    rungs: list[Rung] = []
    for rung_short, crf, maxrate in _LADDER:
        if rung_short > short_side:
            continue
        rung_long = _even(long_side * rung_short / short_side)
        width, height = (rung_short, rung_long) if portrait else (rung_long, rung_short)
        fps = float(top_fps if rung_short >= _HIGH_FPS_MIN_SHORT_SIDE else low_fps)
        rungs.append(Rung(f"{rung_short}p", width, height, crf, maxrate, 2 * maxrate, fps))
    if not rungs:
        _, crf, maxrate = _LADDER[-1]
        width, height = _even_down(info.width), _even_down(info.height)
        name = f"{min(width, height)}p"
        rungs.append(Rung(name, width, height, crf, maxrate, 2 * maxrate, float(low_fps)))
    return sorted(rungs, key=lambda rung: rung.width * rung.height)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _even_down(value: int) -> int:
    return max(2, value - value % 2)


def _source_rate(fps: float) -> Fraction:
    closest = min(_STANDARD_RATES, key=lambda rate: abs(float(rate) - fps))
    if abs(float(closest) - fps) / float(closest) < 0.03:
        return closest
    return Fraction(fps).limit_denominator(1001)


def _rung_rates(fps: float) -> tuple[Fraction, Fraction]:
    """Frame rates for large (≤ 60) and small (≤ 30) rungs, each the source rate divided by a
    whole number, the small one dividing the large one: every small-rung frame time is also a
    large-rung frame time, so keyframes placed on the small rung's grid exist in all rungs."""
    source = _source_rate(fps)
    top_divisor = max(1, math.ceil(source / 60 - Fraction(1, 100)))
    top = source / top_divisor
    low = top / max(1, math.ceil(top / 30 - Fraction(1, 100)))
    return top, low


def _keyframe_expression(info: SourceInfo) -> str:
    """Keyframes every 2 s, moved to the first frame of the smallest rung's grid at or after
    each 2 s mark. The grid depends on the source only, so rungs encoded in separate passes
    (a fast 360p first, the rest later) still cut HLS segments at the same instants."""
    _, grid = _rung_rates(info.fps)
    rate = f"{float(grid):.9f}"
    # The 4 ms slack absorbs float rounding; it is under half a frame even at 120 fps.
    return f"expr:gte(t,ceil(n_forced*{_GOP_SECONDS}*{rate}-0.000001)/{rate}-0.004)"


def _rate_argument(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def scale_branch(source_label: str, rung: Rung, label: str) -> str:
    """The filter chain that turns the decoded source into one rung's frames."""
    return (
        f"[{source_label}]fps=fps={_rate_argument(rung.fps)}:start_time=0,"
        f"scale={rung.width}:{rung.height}:flags=lanczos,setsar=1,format=yuv420p[{label}]"
    )


def rung_encoder_args(
    ff: FFmpeg, info: SourceInfo, rung: Rung, label: str, audio: str | None = None
) -> list[str]:
    """x264 (and AAC) arguments for one rung fed from filter output `label`: the quality
    settings of `_LADDER` and keyframes every 2 s on the shared grid, so rungs switch cleanly.
    `audio` maps another audio stream than the source's own (a reused sound)."""
    args = [
        "-map", f"[{label}]",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-crf", str(rung.crf),
        "-maxrate", f"{rung.maxrate_kbps}k", "-bufsize", f"{rung.bufsize_kbps}k",
        "-pix_fmt", "yuv420p", "-fps_mode", "cfr",
        "-force_key_frames", _keyframe_expression(info), "-forced-idr", "1",
        "-sc_threshold", "0",
        # Longer than the forced interval, so x264 never adds a keyframe of its own.
        "-g", str(math.ceil(rung.fps * _GOP_SECONDS * 2)),
        "-threads", str(ff.threads),
    ]  # fmt: skip
    if audio is not None:
        args += ["-map", audio, "-c:a", "aac", "-b:a", AUDIO_BITRATE,
                 "-ac", "2", "-ar", "48000"]  # fmt: skip
    elif info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", AUDIO_BITRATE,
                 "-ac", "2", "-ar", "48000"]  # fmt: skip
    # A file that declares a short duration and then goes on and on is cut off.
    return [*args, "-map_metadata", "-1", "-t", f"{info.duration * 1.5 + 5:.3f}"]


def decode_args(
    ff: FFmpeg, source: Path, info: SourceInfo, graph: list[str], more_inputs: Sequence[str] = ()
) -> list[str]:
    """The hardened input and one filter graph that decodes it once for every output;
    `more_inputs` (already hardened) follow the source as inputs 1, 2, ..."""
    return [
        "-threads", str(ff.threads), *untrusted_input(source, info.format), *more_inputs,
        "-filter_complex", ";".join(graph),
        "-filter_complex_threads", str(ff.threads),
    ]  # fmt: skip


def split_source(count: int, labels: list[str]) -> str:
    return f"[0:v:0]split={count}" + "".join(f"[{label}]" for label in labels)


async def encode_rungs(
    ff: FFmpeg,
    source: Path,
    info: SourceInfo,
    rungs: list[Rung],
    workdir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Encode `rungs` to one faststart MP4 each, decoding the source once. {name: mp4}.

    The same encoder settings as the service's HLS ladder (`progressive.encode_ladder`); used
    where a plain MP4 per rung is wanted (quality measurements, tests).
    ffmpeg's autorotation turns the picture upright before scaling, so every output is stored
    in its display orientation without a rotation flag; variable frame rate becomes constant.
    """
    if not rungs:
        raise ValueError("no rungs to encode")
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    labels = [f"v{index}" for index in range(len(rungs))]
    graph = [split_source(len(rungs), [f"in{label}" for label in labels])]
    graph += [
        scale_branch(f"in{label}", rung, label) for label, rung in zip(labels, rungs, strict=True)
    ]
    args = decode_args(ff, source, info, graph)
    outputs: dict[str, Path] = {}
    for label, rung in zip(labels, rungs, strict=True):
        output = workdir / f"{rung.name}.mp4"
        args += rung_encoder_args(ff, info, rung, label)
        args += ["-movflags", "+faststart", "-f", "mp4", str(output)]
        outputs[rung.name] = output
    await ff.run(args, duration=info.duration, on_progress=on_progress)
    return outputs


@dataclass(frozen=True)
class HlsRendition:
    """One rung as an HLS fMP4 media playlist, with what the master playlist needs."""

    rung: Rung
    directory: Path
    playlist: str
    files: list[str]  # relative to `directory`: init segment, media segments, playlist
    bandwidth: int  # peak segment bit rate, bit/s
    average_bandwidth: int
    codecs: str
    width: int
    height: int
    frame_rate: float


def hls_output_args(outdir: Path, playlist_type: str = "vod") -> list[str]:
    """HLS fMP4 output: 2 s segments cut on the aligned keyframes. Each segment and the
    playlist are written to a temporary name and renamed when complete, so a segment the
    playlist lists is always whole (an `event` playlist is read while ffmpeg still writes)."""
    return [
        "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", str(HLS_SEGMENT_SECONDS),
        "-hls_playlist_type", playlist_type, "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", INIT_SEGMENT,
        "-hls_segment_filename", str(outdir / SEGMENT_PATTERN),
        str(outdir / PLAYLIST),
    ]  # fmt: skip


async def package_hls(ff: FFmpeg, mp4: Path, rung: Rung, outdir: Path) -> HlsRendition:
    """Remux one rung MP4 (no re-encode) into fMP4 HLS segments of about 4 s."""
    await asyncio.to_thread(outdir.mkdir, parents=True, exist_ok=True)
    await ff.run(
        [*untrusted_input(mp4, "mov"), "-map", "0", "-c", "copy", *hls_output_args(outdir)]
    )
    return await asyncio.to_thread(describe_rendition, rung, outdir, mp4)


def describe_rendition(rung: Rung, outdir: Path, streams: Path | None = None) -> HlsRendition:
    """A finished HLS rung: bandwidth measured on its segments, codecs from what was written
    (`streams`: an MP4 of the rung, else its init segment)."""
    segments = parse_media_playlist((outdir / PLAYLIST).read_text())
    sizes = [(outdir / name).stat().st_size for name, _ in segments]
    peak = max(
        math.ceil(size * 8 / seconds) for size, (_, seconds) in zip(sizes, segments, strict=True)
    )
    average = math.ceil(sum(sizes) * 8 / sum(seconds for _, seconds in segments))
    codecs, width, height, frame_rate = describe_streams(streams or outdir / INIT_SEGMENT)
    return HlsRendition(
        rung=rung,
        directory=outdir,
        playlist=PLAYLIST,
        files=[INIT_SEGMENT, *(name for name, _ in segments), PLAYLIST],
        bandwidth=peak,
        average_bandwidth=average,
        codecs=codecs,
        width=width,
        height=height,
        # Encoded at a constant rate; an init segment alone does not say which.
        frame_rate=frame_rate or rung.fps,
    )


_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)")


def parse_media_playlist(text: str, *, allow_empty: bool = False) -> list[tuple[str, float]]:
    """(segment URI, duration) for each segment of a media playlist."""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in text.splitlines():
        line = line.strip()
        if match := _EXTINF.match(line):
            duration = float(match.group(1))
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    if (not segments and not allow_empty) or any(seconds <= 0 for _, seconds in segments):
        raise ValueError("the media playlist lists no segments")
    return segments


def describe_streams(mp4: Path) -> tuple[str, int, int, float]:
    """RFC 6381 codecs (from the avcC and AudioSpecificConfig actually written), size, rate."""
    with av.open(str(mp4), format="mov", options={"protocol_whitelist": "file"}) as container:
        video = container.streams.video[0]
        avcc = video.codec_context.extradata
        if not avcc or len(avcc) < 4 or avcc[0] != 1:
            raise ValueError(f"{mp4.name} has no avcC configuration")
        codecs = [f"avc1.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"]
        for audio in container.streams.audio[:1]:
            config = audio.codec_context.extradata
            object_type = config[0] >> 3 if config else 2
            codecs.append(f"mp4a.40.{object_type}")
        rate = video.average_rate
        return (
            ",".join(codecs),
            video.codec_context.width,
            video.codec_context.height,
            float(rate) if rate else 0.0,
        )
