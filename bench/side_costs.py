"""Two side costs behind the pipeline numbers, measured on their own.

1. Poster candidates (`thumbnails._make_posters`: 7 fast seeks, one decoder thread each) on the
   benchmark clip (1 s GOP, like phone footage) and on the same picture with x264's default
   GOP (keyint 250, 8.3 s): each seek decodes from the keyframe before it.
2. Decoding the benchmark clip with and without `-skip_loop_filter all`: what a cheaper
   decode could save in the fast first pass, which decodes the whole source a second time.

    .venv/bin/python bench/side_costs.py [--reps N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from common import (
    BENCH_CLIP_SECONDS,
    CACHE,
    FFMPEG,
    THREADS,
    Timed,
    bench_clip,
    invoked_as,
    machine_report,
    median,
    run_ffmpeg,
    timed_children,
)
from reelstack.media.ffmpeg import FFmpeg, untrusted_input
from reelstack.media.probe import probe_source
from reelstack.media.thumbnails import _make_posters


def long_gop_clip(source: Path) -> Path:
    """The benchmark clip re-encoded with x264's default keyframe interval."""
    path = CACHE / f"longgop-{source.name}"
    if not path.exists():
        partial = path.with_suffix(".partial.mp4")
        run_ffmpeg([
            "-i", str(source), "-map", "0", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "18", "-c:a", "copy", "-movflags", "+faststart", str(partial),
        ])  # fmt: skip
        partial.replace(path)
    return path


def posters(clip: Path) -> Timed:
    info = probe_source(clip, max_duration=600)
    ff = FFmpeg(executable=FFMPEG, threads=THREADS)
    with tempfile.TemporaryDirectory() as workdir, timed_children() as spent:
        asyncio.run(_make_posters(ff, clip, info, Path(workdir)))
    return spent[0]


def decode(clip: Path, extra: list[str]) -> Timed:
    with timed_children() as spent:
        run_ffmpeg(["-threads", str(THREADS), *extra, *untrusted_input(clip, "mov"),
                    "-map", "0:v:0", "-f", "null", "-"])  # fmt: skip
    return spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    options = parser.parse_args()

    short_gop = bench_clip()
    long_gop = long_gop_clip(short_gop)
    cases = {
        "posters, 1 s GOP source": lambda: posters(short_gop),
        "posters, 8.3 s GOP source": lambda: posters(long_gop),
        "decode, default": lambda: decode(short_gop, []),
        "decode, `-skip_loop_filter all`": lambda: decode(short_gop, ["-skip_loop_filter", "all"]),
    }
    samples: dict[str, list[Timed]] = {name: [] for name in cases}
    for rep in range(options.reps):
        for name in cases if rep % 2 == 0 else list(cases)[::-1]:
            samples[name].append(cases[name]())
    lines = [
        "### Side costs: poster seeks vs GOP length, decode without the loop filter",
        "",
        machine_report(invoked_as()),
        f"- clip: the {BENCH_CLIP_SECONDS} s 1080x1920 benchmark clip; {options.reps} "
        "interleaved repetitions, medians",
        "",
        "| case | wall (s) | CPU (s) |",
        "|---|---|---|",
    ]
    for name, runs in samples.items():
        wall, cpu = median([r.wall for r in runs]), median([r.cpu for r in runs])
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
