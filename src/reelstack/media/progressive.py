"""An ffmpeg run over the source for some rungs of the ladder, from one decode, with the lowest
rung playable while it is written.

The job runs one or two of these (`processing`, `passes`). In a single run every rung advances
at the pace of the slowest, and a growing rung may only be shown once a viewer starting from
the beginning could not catch up with the encoder (`ready_to_play`): on a machine that encodes
the 1080p ladder at half real time, that is after half of it; near real time, after its first
segments. So a slow machine runs the lowest rung alone with the thumbnail taps, then the rest:
alone, the lowest rung encodes faster than real time and plays after its first segment (about
0.02 of the ladder's time instead of 0.56), for about a tenth more CPU, the second decode of
the source (bench/RESULTS.md). Each finished segment is stored as soon as ffmpeg lists it, and
the rung is shown as an HLS EVENT playlist until its run ends; then it turns VOD.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelstack.media.ffmpeg import FFmpeg, ProgressCallback, untrusted_input
from reelstack.media.ladder import (
    AUDIO_BITRATE,
    HLS_SEGMENT_SECONDS,
    INIT_SEGMENT,
    PLAYLIST,
    HlsRendition,
    Rung,
    decode_args,
    describe_rendition,
    describe_streams,
    hls_output_args,
    parse_media_playlist,
    rung_encoder_args,
    scale_branch,
    split_source,
)
from reelstack.media.probe import SourceInfo
from reelstack.media.thumbnails import ThumbnailTaps

# The live encode speed is divided by this before deciding that viewers cannot catch up: the
# rest of the encode may run a little slower than so far (within one quiet benchmark run the
# speed at `ready` and over the whole encode agree within 3 %, bench/RESULTS.md). A machine that
# slows down more than this after `ready` makes early viewers wait; nothing else breaks.
SPEED_MARGIN = 1.05
SPEED_WINDOW_SECONDS = 2.0
PLAYLIST_POLL_SECONDS = 0.25


def rung_dir(workdir: Path, rung: Rung) -> Path:
    return workdir / "hls" / rung.name


async def encode_ladder(
    ff: FFmpeg,
    source: Path,
    info: SourceInfo,
    rungs: list[Rung],
    workdir: Path,
    *,
    taps: ThumbnailTaps | None = None,
    on_progress: ProgressCallback | None = None,
    sound: SoundTrack | None = None,
) -> None:
    """Encode every rung to HLS fMP4 under `rung_dir(workdir, rung)` (EVENT playlists, which
    ffmpeg ends with ENDLIST), and cut the thumbnail taps, all from one decode of the source.
    Progress counts the first (lowest) rung's frames: the taps would hold ffmpeg's time back.
    With a `sound`, every rung's audio is that sound (or the mix of both) instead."""
    if not rungs:
        raise ValueError("no rungs to encode")
    for rung in rungs:
        await asyncio.to_thread(rung_dir(workdir, rung).mkdir, parents=True, exist_ok=True)
    labels = [f"v{index}" for index in range(len(rungs))]
    branches = [f"in{label}" for label in labels]
    if taps is not None:
        branches += ["candidates", "tiles"]
    graph = [split_source(len(branches), branches)]
    graph += [
        scale_branch(f"in{label}", rung, label) for label, rung in zip(labels, rungs, strict=True)
    ]
    if taps is not None:
        graph += taps.graph("candidates", "tiles")
    more_inputs: list[str] = []
    audio: list[str | None] = [None] * len(rungs)
    if sound is not None:
        more_inputs, sound_graph, audio = sound_audio(sound, info, len(rungs))
        graph += sound_graph
    args = decode_args(ff, source, info, graph, more_inputs)
    for label, rung, track in zip(labels, rungs, audio, strict=True):
        args += rung_encoder_args(ff, info, rung, label, track)
        args += hls_output_args(rung_dir(workdir, rung), "event")
    if taps is not None:
        args += taps.output_args()
    await ff.run(
        args, duration=info.duration, on_progress=on_progress, progress_frame_rate=rungs[0].fps
    )


@dataclass(frozen=True)
class SoundTrack:
    """A reused sound's audio (a stored .m4a copied into the job's work dir) to put under the
    video: in place of its own audio, or with `mix` over it."""

    path: Path
    mix: bool


def sound_audio(
    sound: SoundTrack, info: SourceInfo, outputs: int
) -> tuple[list[str], list[str], list[str | None]]:
    """(input arguments, filter graph parts, audio map of each output) that put the sound
    under `outputs` outputs, cut to the video's length. The file is ours, but it is opened
    with the same hardening as an upload all the same."""
    inputs = ["-t", f"{info.duration:.3f}", *untrusted_input(sound.path, "mov")]
    if not (sound.mix and info.has_audio):
        return inputs, [], ["1:a:0"] * outputs
    labels = [f"a{index}" for index in range(outputs)]
    # duration=first: the mix lasts as long as the video's own audio, whatever the sound's.
    graph = f"[0:a:0][1:a:0]amix=inputs=2:duration=first,asplit={outputs}"
    return inputs, [graph + "".join(f"[{label}]" for label in labels)], [f"[{x}]" for x in labels]


# -- deciding when the lowest rung can be watched -----------------------------------------------
def ready_to_play(
    encoded: float,
    duration: float,
    speed: float,
    *,
    segment: float = HLS_SEGMENT_SECONDS,
    margin: float | None = None,
) -> bool:
    """Whether a viewer who starts now, from the beginning, at normal speed, never waits for
    the encoder. `encoded` seconds are done and the encoder makes `speed` seconds of media per
    second. The viewer needs segment k (ending at most one segment after the playhead) when
    the playhead reaches it; the tightest moment is the last segment, which gives
    encoded >= duration * (1 - s) + s * segment, with s = speed / margin."""
    if encoded >= duration:
        return True
    pace = speed / (SPEED_MARGIN if margin is None else margin)
    return encoded >= duration * (1 - pace) + pace * segment


@dataclass
class LiveRung:
    """Follows the lowest rung's playlist while ffmpeg writes it."""

    rung: Rung
    directory: Path
    duration: float
    has_audio: bool
    started: float = field(default_factory=time.monotonic)
    encoded: float = 0.0  # seconds of the rung encoded so far, from ffmpeg's progress
    first_report: tuple[float, float] | None = None  # (when, encoded) at ffmpeg's first report
    segments: list[tuple[str, float]] = field(default_factory=list)  # stored, in order
    codecs: str | None = None
    playable: bool = False

    def finished_segments(self) -> list[tuple[str, float]]:
        """Segments ffmpeg has finished since the last call. The playlist is renamed into
        place whole (`temp_file`), and it lists a segment only once that file is complete."""
        try:
            text = (self.directory / PLAYLIST).read_text()
        except FileNotFoundError:
            return []
        listed = parse_media_playlist(text, allow_empty=True)
        return listed[len(self.segments) :]

    def observe(self, encoded: float, now: float | None = None) -> None:
        """Take in ffmpeg's progress: `encoded` seconds of the rung are done."""
        if self.first_report is None:
            self.first_report = (time.monotonic() if now is None else now, encoded)
        self.encoded = encoded

    def speed(self, now: float | None = None) -> float:
        """Seconds of media encoded per second, from ffmpeg's first progress report on: opening
        the input and filling the encoders' lookahead happen once, not at the pace of what
        follows. From the start until that report is a couple of seconds old."""
        moment = time.monotonic() if now is None else now
        if self.first_report is not None:
            since, done = self.first_report
            if moment - since >= SPEED_WINDOW_SECONDS:
                return (self.encoded - done) / (moment - since)
        elapsed = moment - self.started
        return self.encoded / elapsed if elapsed > 0 else 0.0

    def can_play(self, now: float | None = None) -> bool:
        if not self.segments:
            return False
        return ready_to_play(self.encoded, self.duration, self.speed(now))

    def rendition(self, playlist_key: str) -> dict[str, Any]:
        """The rung as the video row records it while it grows: the master playlist declares
        its cap as BANDWIDTH (no segment is measured yet), and the rung playlist is rendered
        from `segments` as an EVENT playlist."""
        audio = int(AUDIO_BITRATE.rstrip("k")) if self.has_audio else 0
        return {
            "name": self.rung.name,
            "width": self.rung.width,
            "height": self.rung.height,
            "bandwidth": (self.rung.maxrate_kbps + audio) * 1000,
            "average_bandwidth": None,
            "codecs": self.codecs,
            "frame_rate": round(self.rung.fps, 3),
            "playlist_key": playlist_key,
            "live": True,
            "segments": [[name, seconds] for name, seconds in self.segments],
        }

    def read_codecs(self) -> str:
        codecs, *_ = describe_streams(self.directory / INIT_SEGMENT)
        self.codecs = codecs
        return codecs


def event_playlist(segments: list[tuple[str, float]]) -> str:
    """An HLS EVENT media playlist of the segments so far: it starts at segment 0 and has no
    ENDLIST, so players keep reloading it; EXT-X-START asks them to begin at the beginning
    rather than near the newest segment, as they would for a live stream."""
    longest = max((seconds for _, seconds in segments), default=HLS_SEGMENT_SECONDS)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(HLS_SEGMENT_SECONDS, math.ceil(longest))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES",
        f'#EXT-X-MAP:URI="{INIT_SEGMENT}"',
    ]
    for name, seconds in segments:
        lines += [f"#EXTINF:{seconds:.6f},", name]
    return "\n".join(lines) + "\n"


# -- finishing ----------------------------------------------------------------------------------
def finish_rung(workdir: Path, rung: Rung) -> HlsRendition:
    """A rung whose encode has ended: its playlist becomes VOD (it has every segment and
    ENDLIST), and its bandwidth is measured on the segments (blocking: run in a thread)."""
    directory = rung_dir(workdir, rung)
    playlist = directory / PLAYLIST
    text = playlist.read_text()
    if "#EXT-X-ENDLIST" not in text:
        raise RuntimeError(f"the {rung.name} playlist was not finished")
    playlist.write_text(text.replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD"))
    return describe_rendition(rung, directory)


async def progressive_mp4(ff: FFmpeg, hls: HlsRendition, output: Path) -> Path:
    """The rung's segments joined into one faststart MP4 for download and <video src>: no
    re-encode, and ffmpeg reads one local file (init + media segments form a fragmented MP4)."""
    joined = output.with_suffix(".fragmented.mp4")

    def join() -> None:
        with joined.open("wb") as out:
            for name in hls.files[:-1]:  # init, then the segments; not the playlist
                out.write((hls.directory / name).read_bytes())

    await asyncio.to_thread(join)
    await ff.run([
        *untrusted_input(joined, "mov"), "-map", "0", "-c", "copy",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ])  # fmt: skip
    joined.unlink(missing_ok=True)
    return output
