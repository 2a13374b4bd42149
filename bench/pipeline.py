"""Pipeline vs one bare ffmpeg command, time to first playable rung, one pass vs two passes.

Per repetition, in one run and interleaved (ABCD, then DCBA, ...):
  - bare single pass: ONE ffmpeg command producing the whole ladder (split filter, the
    service's x264/AAC arguments from `ladder.rung_encoder_args`, HLS fMP4 per rung), nothing
    else: no thumbnails, no MP4;
  - bare two passes: the lowest rung alone, then the other rungs from one decode (the shape
    of the pipeline since 2026-12-05: its first pass is the lowest rung and the thumbnails);
  - decoding the source alone (what a second pass's extra decode costs);
  - thumbnails two ways: tapped from the one pass (the bare single pass plus the service's
    poster/sprite branches, then picking the poster) against the earlier separate runs
    (posters by 7 seeks into the upload, the sprite from the 360p rung) after a bare pass;
  - pipeline: a real `reelstack serve` (one for the whole run: repetition 1 is the first video
    it encodes, so it knows no encode speed yet and takes two passes; later ones plan from the
    speed it measured, `media/passes.py`), chunked upload, then timed from `POST .../complete`:
    first playable = the status turns `ready` (the lowest rung plays while the ladder is still
    encoded), full = `status.progress == 100` (every rung, thumbnails and the MP4 published),
    polling the status every 0.1 s; its ffmpeg children are sampled through /proc to time
    each step, and the server log gives the job pickup and the encode speed at `ready`.

Wall time is what the issue targets; CPU time (children's rusage for bare ffmpeg, the server
process plus its reaped ffmpeg children for the pipeline) is reported beside it because it is
far less sensitive to other tenants of a shared machine.

    .venv/bin/python bench/pipeline.py [--reps N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import resource
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    CACHE,
    FFMPEG,
    THREADS,
    Api,
    Server,
    bench_clip,
    fresh_dir,
    invoked_as,
    machine_report,
    median,
    process_cpu_seconds,
    run_ffmpeg,
    running_server,
    timed_children,
)
from reelstack.media.ffmpeg import FFmpeg, untrusted_input
from reelstack.media.ladder import (
    Rung,
    decode_args,
    hls_output_args,
    plan_ladder,
    rung_encoder_args,
    scale_branch,
    split_source,
)
from reelstack.media.probe import SourceInfo, probe_source
from reelstack.media.thumbnails import ThumbnailTaps, finish_taps, make_thumbnails, plan_taps

POLL_SECONDS = 0.1
FF = FFmpeg(executable=FFMPEG, threads=THREADS)
SAMPLE_SECONDS = 0.02
FIRST_PLAYABLE_TARGET = 0.35
PIPELINE_RATIO_TARGET = 1.10


# -- the bare ffmpeg ladder --------------------------------------------------------------------
def bare_ladder_args(
    source: Path,
    info: SourceInfo,
    rungs: list[Rung],
    outdir: Path,
    taps: ThumbnailTaps | None = None,
) -> list[str]:
    """One ffmpeg command for `rungs`: the service's graph and encoder arguments, each output
    written straight to HLS fMP4, and nothing else (no progressive MP4; thumbnails only if
    `taps` are given)."""
    labels = [f"v{index}" for index in range(len(rungs))]
    branches = [f"in{label}" for label in labels] + (["cand", "tile"] if taps else [])
    graph = [split_source(len(branches), branches)]
    graph += [scale_branch(f"in{v}", rung, v) for v, rung in zip(labels, rungs, strict=True)]
    graph += taps.graph("cand", "tile") if taps else []
    args = decode_args(FF, source, info, graph)
    for label, rung in zip(labels, rungs, strict=True):
        rung_dir = outdir / rung.name
        rung_dir.mkdir(parents=True, exist_ok=True)
        args += [*rung_encoder_args(FF, info, rung, label), *hls_output_args(rung_dir)]
    return args + (taps.output_args() if taps else [])


@dataclass(frozen=True)
class BareRun:
    wall: float
    cpu: float
    first_wall: float  # when the first (lowest) rung was complete
    first_cpu: float


def bare_single_pass(source: Path, info: SourceInfo, rungs: list[Rung], outdir: Path) -> BareRun:
    fresh_dir(outdir)
    with timed_children() as spent:
        run_ffmpeg(bare_ladder_args(source, info, rungs, outdir))
    return BareRun(spent[0].wall, spent[0].cpu, spent[0].wall, spent[0].cpu)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_single_pass_with_taps(
    source: Path, info: SourceInfo, rungs: list[Rung], outdir: Path
) -> BareRun:
    """The bare single pass plus the service's thumbnail taps, and picking the poster."""
    fresh_dir(outdir)
    own = own_cpu_seconds()
    with timed_children() as spent:
        taps = plan_taps(info, outdir / "thumbs")
        run_ffmpeg(bare_ladder_args(source, info, rungs, outdir, taps))
        finish_taps(taps, info)
    cpu = spent[0].cpu + own_cpu_seconds() - own
    return BareRun(spent[0].wall, cpu, spent[0].wall, cpu)


def separate_thumbnails(
    source: Path, info: SourceInfo, lowest_rung: Path, workdir: Path
) -> BareRun:
    """The earlier way, after the ladder: posters by seeking into the upload, the sprite by
    decoding the lowest rung (its HLS segments joined into one fragmented MP4)."""
    fresh_dir(workdir)
    joined = workdir / "lowest.mp4"
    with joined.open("wb") as out:
        for part in [lowest_rung / "init.mp4", *sorted(lowest_rung.glob("seg_*.m4s"))]:
            out.write(part.read_bytes())
    own = own_cpu_seconds()
    with timed_children() as spent:
        asyncio.run(make_thumbnails(FF, source, info, workdir / "thumbs", sprite_source=joined))
    cpu = spent[0].cpu + own_cpu_seconds() - own
    return BareRun(spent[0].wall, cpu, spent[0].wall, cpu)


def bare_two_passes(source: Path, info: SourceInfo, rungs: list[Rung], outdir: Path) -> BareRun:
    fresh_dir(outdir)
    with timed_children() as first:
        run_ffmpeg(bare_ladder_args(source, info, rungs[:1], outdir))
    with timed_children() as rest:
        run_ffmpeg(bare_ladder_args(source, info, rungs[1:], outdir))
    # The lowest rung is playable after the first pass.
    return BareRun(
        first[0].wall + rest[0].wall, first[0].cpu + rest[0].cpu, first[0].wall, first[0].cpu
    )


def bare_decode(source: Path, info: SourceInfo) -> BareRun:
    """Decoding the source alone: what every extra pass over the source costs at least."""
    with timed_children() as spent:
        threads = str(THREADS)
        run_ffmpeg(["-threads", threads, *untrusted_input(source, info.format),
                    "-map", "0:v:0", "-f", "null", "-"])  # fmt: skip
    return BareRun(spent[0].wall, spent[0].cpu, spent[0].wall, spent[0].cpu)


# -- the pipeline ------------------------------------------------------------------------------
@dataclass
class Step:
    """One ffmpeg child of the server, as seen by polling /proc."""

    label: str
    start: float
    end: float
    cpu: float = 0.0  # the child's own user + system time, as last seen


class ChildSampler:
    """Polls the server's children every 20 ms and names each ffmpeg run by its arguments."""

    def __init__(self, pid: int, origin: float) -> None:
        self._pid = pid
        self._origin = origin
        self._seen: dict[int, Step] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def steps(self) -> list[Step]:
        return sorted(self._seen.values(), key=lambda step: step.start)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter() - self._origin
            for child in self._children():
                step = self._seen.get(child)
                if step is None:
                    label = self._label(child)
                    if label is None:
                        continue
                    step = self._seen[child] = Step(label, now, now)
                step.end = now
                with contextlib.suppress(OSError, IndexError):
                    step.cpu = process_cpu_seconds(child)
            self._stop.wait(SAMPLE_SECONDS)

    def _children(self) -> list[int]:
        found: list[int] = []
        try:
            for task in Path(f"/proc/{self._pid}/task").iterdir():
                try:
                    found += [int(pid) for pid in (task / "children").read_text().split()]
                except OSError:
                    continue
        except OSError:
            pass
        return found

    @staticmethod
    def _label(pid: int) -> str | None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        args = [arg.decode(errors="replace") for arg in argv if arg]
        if not args or "ffmpeg" not in Path(args[0]).name:
            return None
        joined = " ".join(args)
        if "libx264" in joined:
            names = [Path(arg).parent.name for arg in args if arg.endswith(".m3u8")]
            taps = " + thumbnail taps" if "rawvideo" in joined else ""
            return "encode " + "+".join(names) + taps
        if "+faststart" in joined:
            return "remux the progressive MP4 (-c copy)"
        if "-f hls" in joined:
            return "package HLS " + Path(args[-1]).parent.name
        if "candidate_" in joined:
            return "thumbnails: posters (7 seeks)"
        if "tile=" in joined:
            source = Path(args[args.index("-i") + 1]).name
            return f"thumbnails: sprite (from {source})"
        return "ffmpeg (other)"


@dataclass
class PipelineRun:
    wall: float
    cpu: float
    first_ready: float
    rung_ready: dict[str, float] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    video_id: str = ""
    job_log: list[str] = field(default_factory=list)
    pickup: float | None = None  # `complete` answered -> the job starts (server log)
    polls: int = 0
    playable_note: str = ""  # the server's "playable after ..." line: encoded seconds, speed
    plan: str = ""  # the server's "one pass" / "two passes" line, with the predicted speed


def pipeline_once(api: Api, server: Server, clip: Path) -> PipelineRun:
    """Upload the clip (not timed), then time processing from `complete` to progress 100."""
    size = clip.stat().st_size
    upload = api.init_upload(size, clip.name)
    api.upload_chunks(upload["upload_id"], clip, upload["chunk_size"])
    video_id = upload["video_id"]
    log_offset = server.log_path.stat().st_size
    origin = time.perf_counter()
    cpu_before = server.cpu_seconds()
    first_ready: float | None = None
    rung_ready: dict[str, float] = {}
    polls = 0
    with ChildSampler(server.pid, origin) as sampler:
        api.complete(upload["upload_id"])
        completed_at = dt.datetime.now()  # the server logs local time
        while True:
            status = api.status(video_id)
            polls += 1
            now = time.perf_counter() - origin
            if status["error"]:
                raise RuntimeError(f"processing failed: {status['error']}")
            if status["status"] == "ready" and first_ready is None:
                first_ready = now
            for name in status["renditions_ready"]:
                rung_ready.setdefault(name, now)
            if status["progress"] == 100:
                wall = now
                break
            time.sleep(POLL_SECONDS)
        cpu = server.cpu_seconds() - cpu_before
    assert first_ready is not None
    job_log = _job_log(server, log_offset)
    started = next((line for line in job_log if "Executing" in line), None)
    pickup = None
    if started is not None:
        logged = dt.datetime.strptime(started[:23], "%Y-%m-%d %H:%M:%S,%f")
        pickup = (logged - completed_at).total_seconds()
    note = next((line.split(" playable ", 1)[1] for line in job_log if " playable " in line), "")
    plan = next((line.split(f"{video_id}: ", 1)[1] for line in job_log if _is_plan(line)), "?")
    return PipelineRun(
        wall, cpu, first_ready, rung_ready, sampler.steps(), video_id, job_log, pickup, polls, note,
        plan,
    )  # fmt: skip


def _is_plan(line: str) -> bool:
    return ": one pass (" in line or ": two passes, " in line


def _job_log(server: Server, offset: int) -> list[str]:
    """The server's lines about the processing job: huey's "Executing" and our "done in" (the
    latter is written just after the status turns 100, so wait for it briefly)."""
    for _ in range(50):
        with server.log_path.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
        job = [
            line
            for line in lines
            if "process_uploaded_video" in line or "playable" in line or _is_plan(line)
        ]
        if any(" done in " in line for line in job):
            return [
                line
                for line in job
                if "Executing" in line
                or " done in " in line
                or " playable after " in line
                or _is_plan(line)
            ]
        time.sleep(0.1)
    return []


def status_poll_cpu(api: Api, server: Server, video_id: str, count: int = 200) -> float:
    """Server CPU seconds per `GET .../status`, measured on an idle server."""
    before = server.cpu_seconds()
    for _ in range(count):
        api.status(video_id)
    return (server.cpu_seconds() - before) / count


# -- checks ------------------------------------------------------------------------------------
_X264_OPTIONS = re.compile(
    rb"x264 - core \d+ .*? - H\.264/MPEG-4 AVC codec .*? options: ([^\x00]+)"
)


def x264_options(rung_dir: Path) -> str:
    """The encoder settings x264 wrote into the first segment's SEI."""
    match = _X264_OPTIONS.search((rung_dir / "seg_00000.m4s").read_bytes()[:200_000])
    return match.group(1).decode(errors="replace") if match else "?"


def media_bytes(rung_dir: Path) -> int:
    return sum(path.stat().st_size for path in rung_dir.glob("seg_*.m4s"))


# -- the report --------------------------------------------------------------------------------
@dataclass
class Runs:
    single: list[BareRun] = field(default_factory=list)
    two: list[BareRun] = field(default_factory=list)
    decode: list[BareRun] = field(default_factory=list)
    pipeline: list[PipelineRun] = field(default_factory=list)
    tapped: list[BareRun] = field(default_factory=list)  # single pass + thumbnail taps
    separate: list[BareRun] = field(default_factory=list)  # thumbnails in their own runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions (>= 2)")
    options = parser.parse_args()

    clip = bench_clip()
    info = probe_source(clip, max_duration=600)
    rungs = plan_ladder(info)
    work = fresh_dir(CACHE / "pipeline-run")
    bare_dir = work / "bare"
    runs = Runs()
    with running_server(work / "server") as server:
        api = Api(server)
        try:
            for rep in range(options.reps):
                order = ["single", "tapped", "two", "decode", "pipeline"]
                if rep % 2:
                    order.reverse()  # ABCDE EDCBA: a drifting machine load cancels out
                for kind in order:
                    if kind == "single":
                        runs.single.append(bare_single_pass(clip, info, rungs, bare_dir / "one"))
                        runs.separate.append(
                            separate_thumbnails(
                                clip, info, bare_dir / "one" / rungs[0].name, bare_dir / "thumbs"
                            )
                        )
                    elif kind == "tapped":
                        runs.tapped.append(
                            bare_single_pass_with_taps(clip, info, rungs, bare_dir / "tapped")
                        )
                    elif kind == "two":
                        runs.two.append(bare_two_passes(clip, info, rungs, bare_dir / "two"))
                    elif kind == "decode":
                        runs.decode.append(bare_decode(clip, info))
                    else:
                        runs.pipeline.append(pipeline_once(api, server, clip))
                print(
                    f"rep {rep + 1}: one pass {runs.single[-1].wall:.1f} s, two passes "
                    f"{runs.two[-1].wall:.1f} s, pipeline {runs.pipeline[-1].wall:.1f} s",
                    flush=True,
                )
            poll_cpu = status_poll_cpu(api, server, runs.pipeline[-1].video_id)
        finally:
            api.close()
        stored = server.data_dir / "media" / "videos" / runs.pipeline[-1].video_id / "hls"
        fidelity = [
            (
                rung.name,
                x264_options(bare_dir / "one" / rung.name) == x264_options(stored / rung.name),
                media_bytes(bare_dir / "one" / rung.name),
                media_bytes(stored / rung.name),
            )
            for rung in rungs
        ]
    print()
    print(report(clip, info, rungs, runs, fidelity, poll_cpu))
    shutil.rmtree(work, ignore_errors=True)


def _verdict(value: float, target: float) -> str:
    return f"target ≤ {target:.2f}: {'met' if value <= target else 'NOT met'}"


def report(
    clip: Path,
    info: SourceInfo,
    rungs: list[Rung],
    runs: Runs,
    fidelity: list[tuple[str, bool, int, int]],
    poll_cpu: float,
) -> str:
    ladder = ", ".join(
        f"{r.name} {r.width}x{r.height} crf {r.crf} maxrate {r.maxrate_kbps}k" for r in rungs
    )
    audio = f" + {info.audio_codec}" if info.has_audio else ""
    out = [
        "### Pipeline vs bare ffmpeg",
        "",
        machine_report(invoked_as()),
        f"- clip: {clip.name}, {info.width}x{info.height} {info.fps:g} fps, {info.duration:.1f} s,"
        f" {info.size_bytes / 1e6:.1f} MB, {info.video_codec}{audio}",
        f"- ladder: {ladder}; ffmpeg `-threads {THREADS}` (the pipeline's default: one per CPU)",
        "- wall = `POST .../complete` until status progress 100 (polled every 0.1 s) for the "
        "pipeline; the ffmpeg process for bare runs. CPU = user + system of the server process "
        "and its reaped ffmpeg children / of the bare ffmpeg children.",
        "",
        "| rep | bare 1 pass wall / CPU (s) | bare 2 passes wall / CPU (s) | "
        "pipeline wall / CPU (s) | pipeline / bare 1 pass: wall | CPU | pipeline's plan |",
        "|---|---|---|---|---|---|---|",
    ]
    wall_ratios, cpu_ratios = [], []
    for rep, (one, two, pipe) in enumerate(zip(runs.single, runs.two, runs.pipeline, strict=True)):
        wall_ratios.append(pipe.wall / one.wall)
        cpu_ratios.append(pipe.cpu / one.cpu)
        out.append(
            f"| {rep + 1} | {one.wall:.1f} / {one.cpu:.1f} | {two.wall:.1f} / {two.cpu:.1f} | "
            f"{pipe.wall:.1f} / {pipe.cpu:.1f} | {wall_ratios[-1]:.2f} | {cpu_ratios[-1]:.2f} | "
            f"{pipe.plan} |"
        )
    wall_ratio = median(wall_ratios)
    out += [
        "",
        f"**Median pipeline / bare ratio: {wall_ratio:.2f} wall ({_verdict(wall_ratio, 1.10)}), "
        f"{median(cpu_ratios):.2f} CPU.**",
        "",
        "### Time to first playable rung",
        "",
        "| rep | pipeline first `ready` (s) | pipeline full ladder (s) | first / full | "
        "rungs listed at (s) | server at `ready` | bare 2 passes: first rung / full (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    first_ratios = []
    for rep, (two, pipe) in enumerate(zip(runs.two, runs.pipeline, strict=True)):
        first_ratios.append(pipe.first_ready / pipe.wall)
        ready = ", ".join(f"{name} {at:.1f}" for name, at in pipe.rung_ready.items())
        out.append(
            f"| {rep + 1} | {pipe.first_ready:.1f} | {pipe.wall:.1f} | {first_ratios[-1]:.2f} | "
            f"{ready} | {pipe.playable_note or '?'} | {two.first_wall:.1f} / {two.wall:.1f} |"
        )
    first_ratio = median(first_ratios)
    out += [
        "",
        f"**Median first playable / full ladder: {first_ratio:.2f} "
        f"({_verdict(first_ratio, FIRST_PLAYABLE_TARGET)}).**",
        "",
        *one_vs_two_passes(rungs, runs),
        *thumbnail_costs(runs),
        *pipeline_steps(runs.pipeline[-1], poll_cpu),
        "### Same encodes? (bare 1-pass output vs the pipeline's stored HLS, last rep)",
        "",
        "| rung | x264 options identical | bare segment bytes | pipeline segment bytes |",
        "|---|---|---|---|",
    ]
    for name, same, bare_bytes, pipe_bytes in fidelity:
        out.append(f"| {name} | {'yes' if same else 'NO'} | {bare_bytes} | {pipe_bytes} |")
    return "\n".join(out)


def one_vs_two_passes(rungs: list[Rung], runs: Runs) -> list[str]:
    def row(label: str, samples: list[BareRun]) -> str:
        return (
            f"| {label} | {median([r.wall for r in samples]):.1f} | "
            f"{median([r.cpu for r in samples]):.1f} | "
            f"{median([r.first_wall for r in samples]):.1f} / "
            f"{median([r.first_cpu for r in samples]):.1f} |"
        )

    pairs = list(zip(runs.single, runs.two, strict=True))
    return [
        "### One pass vs two passes (bare ffmpeg, medians)",
        "",
        "| | wall (s) | CPU (s) | lowest rung done after: wall / CPU (s) |",
        "|---|---|---|---|",
        row("one pass, all rungs", runs.single),
        row(f"two passes: {rungs[0].name} alone, then the rest", runs.two),
        row("decoding the source alone (`-f null`)", runs.decode),
        "",
        f"Two passes / one pass: {median([t.wall / o.wall for o, t in pairs]):.2f} wall, "
        f"{median([t.cpu / o.cpu for o, t in pairs]):.2f} CPU; the extra CPU "
        f"({median([t.cpu - o.cpu for o, t in pairs]):.1f} s) against one decode of the source "
        f"({median([d.cpu for d in runs.decode]):.1f} s).",
        "",
    ]


def thumbnail_costs(runs: Runs) -> list[str]:
    tapped = [
        (t.wall - o.wall, t.cpu - o.cpu) for o, t in zip(runs.single, runs.tapped, strict=True)
    ]
    separate = [(s.wall, s.cpu) for s in runs.separate]
    return [
        "### Thumbnails: taps in the one pass vs separate runs (medians)",
        "",
        "| | extra wall (s) | extra CPU (s) | all reps, wall / CPU (s) |",
        "|---|---|---|---|",
        f"| taps in the ladder pass (+ picking the poster): pass with taps minus bare pass | "
        f"{median([w for w, _ in tapped]):.2f} | {median([c for _, c in tapped]):.2f} | "
        + ", ".join(f"{w:.2f} / {c:.2f}" for w, c in tapped)
        + " |",
        "| separate runs after the ladder (7 poster seeks, sprite from the lowest rung) | "
        f"{median([w for w, _ in separate]):.2f} | {median([c for _, c in separate]):.2f} | "
        + ", ".join(f"{w:.2f} / {c:.2f}" for w, c in separate)
        + " |",
        "",
    ]


def pipeline_steps(last: PipelineRun, poll_cpu: float) -> list[str]:
    lines = [
        "### Pipeline steps (last rep; ffmpeg children of the server, polled every 20 ms)",
        "",
        "| step | start (s after complete) | wall (s) | CPU (s) |",
        "|---|---|---|---|",
    ]
    busy = cpu = 0.0
    for step in last.steps:
        busy += step.end - step.start
        cpu += step.cpu
        lines.append(
            f"| {step.label} | {step.start:.2f} | {step.end - step.start:.2f} | {step.cpu:.1f} |"
        )
    job = "; ".join(f"`{line}`" for line in last.job_log) or "(none)"
    pickup = "?" if last.pickup is None else f"{last.pickup:.2f}"
    return [
        *lines,
        "| outside ffmpeg: job pickup, fetch/probe/copy of the source, storing files, DB, "
        f"status polls | | {last.wall - busy:.2f} | {last.cpu - cpu:.1f} |",
        f"| ↳ of which job pickup (`complete` answered → huey's 'Executing' log line) | | "
        f"{pickup} | |",
        f"| ↳ of which the benchmark's own {last.polls} status polls "
        f"({poll_cpu * 1000:.1f} ms server CPU each, measured idle) | | | "
        f"{last.polls * poll_cpu:.1f} |",
        f"| **total, complete → progress 100** | | **{last.wall:.2f}** | **{last.cpu:.1f}** |",
        "",
        f"Server log: {job}",
        "",
    ]


if __name__ == "__main__":
    main()
