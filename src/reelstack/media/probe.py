"""Decide whether an untrusted upload is a video we will process, and describe it.

Nothing here trusts the file name or lets a demuxer choose itself: the container is sniffed
from magic bytes against an allowlist, text files that could name other files or URLs are
refused outright, and the sizes a file declares are checked before a single frame is decoded.
"""

from __future__ import annotations

import itertools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error
from av.video.stream import VideoStream

SUPPORTED_FORMATS = frozenset({"mov", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg"})

_SNIFF_BYTES = 4096
_MOV_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
# HEIF/AVIF stills share the ISO box format; they are images, not videos.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
_PLAYLIST_MARKERS = ("#extm3u", "#ext-x-", "ffconcat", "file ", "file\t", "v=0", "[playlist]")
_NAMES_A_RESOURCE = re.compile(
    r"[a-z][a-z0-9+.-]*:/|^\s*(?:/|\./|\.\./|~/|[a-z]:\\)|^\s*file\s", re.IGNORECASE | re.MULTILINE
)
_VFR_PACKETS = 72
# A stream that yields no picture after this many packets is not going to.
_MAX_PACKETS_BEFORE_A_FRAME = 600
# Packets arrive in decode order; the last few sorted timestamps may still have gaps that
# later packets (B-frames) would fill, so they are left out of the interval statistics.
_REORDER_WINDOW = 16


class ProbeRejected(Exception):
    """An upload we will not process; `code` is stable, `detail` can be shown to its owner."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SourceInfo:
    """What the pipeline needs to know about an accepted upload."""

    format: str
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    duration: float
    width: int  # as displayed: after rotation and pixel aspect ratio
    height: int
    coded_width: int  # as stored in the stream
    coded_height: int
    rotation: int  # clockwise degrees the player turns the picture: 0, 90, 180 or 270
    fps: float
    variable_frame_rate: bool
    bit_rate: int | None
    size_bytes: int


def sniff_format(path: Path) -> str:
    """The ffmpeg demuxer to force for this file, judged from its first bytes only.

    A text file that is not a playlist (say, notes renamed to .mp4) is `unsupported_format`;
    one that looks like a playlist or names another file or URL is `playlist_refused`.
    """
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise ProbeRejected("empty_file", "The file is empty.")
    if head[4:8] in _MOV_TOP_LEVEL:
        if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
            raise ProbeRejected("unsupported_format", "This is a still image, not a video.")
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if _is_transport_stream(head):
        return "mpegts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    text = _as_text(head)
    if text is not None and _looks_like_playlist(text):
        raise ProbeRejected(
            "playlist_refused", "Playlists and files that point at other files are not accepted."
        )
    raise ProbeRejected("unsupported_format", "This file is not a video format we accept.")


def _is_transport_stream(head: bytes) -> bool:
    for offset, packet in ((0, 188), (4, 192)):  # plain TS and Blu-ray M2TS
        syncs = [offset + packet * i for i in range(5) if offset + packet * i < len(head)]
        if len(syncs) >= 2 and all(head[i] == 0x47 for i in syncs):
            return True
    return False


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sniffed block is still text.
        try:
            return head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None


def _looks_like_playlist(text: str) -> bool:
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    return stripped.startswith(_PLAYLIST_MARKERS) or bool(_NAMES_A_RESOURCE.search(text))


def probe_source(
    path: Path,
    *,
    max_duration: float,
    max_long_side: int = 7680,
    max_short_side: int = 4320,
    min_side: int = 100,
) -> SourceInfo:
    """Accept or reject an upload, decoding only its first video frame. Blocking."""
    fmt = sniff_format(path)
    size_bytes = path.stat().st_size
    limits = _Limits(max_long_side, max_short_side, min_side)
    if fmt == "mov":
        _check_mov_structure(path, size_bytes, limits)
    options = {"protocol_whitelist": "file", "max_pixels": str(max_long_side * max_short_side)}
    if fmt == "mov":
        options |= {"enable_drefs": "0", "use_absolute_path": "0"}
    try:
        container = av.open(str(path), format=fmt, options=options)
    except av.error.FFmpegError as exc:
        raise ProbeRejected("undecodable", f"The video could not be read ({exc}).") from None
    with container:
        video = _main_video_stream(container)
        if video is None:
            raise ProbeRejected("no_video_stream", "The file has no video track.")
        if video.codec_context is None or not video.codec_context.width:
            raise ProbeRejected("undecodable", "The video track cannot be decoded.")
        coded_width, coded_height = video.codec_context.width, video.codec_context.height
        limits.check(coded_width, coded_height)
        duration = _duration(container, video)
        if duration > max_duration:
            raise ProbeRejected(
                "too_long", f"The video lasts {duration:.0f} s; the limit is {max_duration:.0f} s."
            )
        # The declared size passed, but the bitstream may still claim another: cap the decoder.
        video.codec_context.options = {"max_pixels": str(max_long_side * max_short_side)}
        first_frame_rotation, frame_times = _decode_first_frame(container, video)
        audio = next((s for s in container.streams.audio if s.codec_context is not None), None)
        fps, variable_frame_rate = _frame_timing(video, frame_times)
        rotation = (-round(first_frame_rotation / 90) * 90) % 360
        width, height = _display_size(video, coded_width, coded_height, rotation)
        limits.check(width, height)
        return SourceInfo(
            format=fmt,
            video_codec=video.codec_context.codec.canonical_name,
            audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
            has_audio=audio is not None,
            duration=duration,
            width=width,
            height=height,
            coded_width=coded_width,
            coded_height=coded_height,
            rotation=rotation,
            fps=fps,
            variable_frame_rate=variable_frame_rate,
            bit_rate=container.bit_rate or None,
            size_bytes=size_bytes,
        )


@dataclass(frozen=True)
class _Limits:
    max_long_side: int
    max_short_side: int
    min_side: int

    def check(self, width: int, height: int) -> None:
        long_side, short_side = max(width, height), min(width, height)
        if long_side > self.max_long_side or short_side > self.max_short_side:
            raise ProbeRejected(
                "dimensions_too_large",
                f"The video is {width}x{height}; the largest accepted is "
                f"{self.max_long_side}x{self.max_short_side}.",
            )
        if short_side < self.min_side:
            raise ProbeRejected(
                "dimensions_too_small",
                f"The video is {width}x{height}; each side must be at least {self.min_side} px.",
            )


def _main_video_stream(container: av.container.InputContainer) -> VideoStream | None:
    for stream in container.streams.video:
        # Cover art in an audio file shows up as a one-frame "attached picture" video stream.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _duration(container: av.container.InputContainer, video: VideoStream) -> float:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    raise ProbeRejected("undecodable", "The video's duration cannot be determined.")


def _decode_first_frame(
    container: av.container.InputContainer, video: VideoStream
) -> tuple[int, list[float]]:
    """The first frame's display rotation (counter-clockwise, as FFmpeg reports it), and the
    presentation times of the first packets, for telling variable frame rate apart."""
    rotation: int | None = None
    times: list[float] = []
    time_base = video.time_base or Fraction(1, 90000)
    try:
        for count, packet in enumerate(container.demux(video)):
            if rotation is None and count > _MAX_PACKETS_BEFORE_A_FRAME:
                break
            if packet.pts is not None and len(times) < _VFR_PACKETS:
                times.append(float(packet.pts * time_base))
            if rotation is None:
                frames = video.decode(packet)
                if frames:
                    rotation = frames[0].rotation
            if rotation is not None and len(times) >= _VFR_PACKETS:
                break
    except av.error.FFmpegError as exc:
        raise ProbeRejected("undecodable", f"The video could not be decoded ({exc}).") from None
    if rotation is None:
        raise ProbeRejected("undecodable", "No video frame could be decoded.")
    return rotation, times


def _frame_rate(video: VideoStream) -> float:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if rate is not None and 0 < rate <= 1000:
            return float(rate)
    return 30.0


def _display_size(video: VideoStream, width: int, height: int, rotation: int) -> tuple[int, int]:
    sar = video.sample_aspect_ratio
    if sar is not None and sar > 0 and sar != 1:
        width = round(width * sar)
    return (height, width) if rotation in (90, 270) else (width, height)


def _frame_timing(video: VideoStream, times: list[float]) -> tuple[float, bool]:
    """(frame rate, variable?). A variable-rate video is given its nominal rate (the typical
    frame interval), not its average: a phone clip at 30 fps that dips in the dark is a 30 fps
    clip, and converting it to its 26 fps average would judder through every good stretch."""
    average = _frame_rate(video)
    ordered = sorted(times)
    if len(times) >= _VFR_PACKETS:  # stopped before the end of the file
        ordered = ordered[:-_REORDER_WINDOW]
    intervals = sorted(b - a for a, b in itertools.pairwise(ordered) if b > a)
    typical = intervals[len(intervals) // 2] if len(intervals) >= 3 else None
    irregular = typical is not None and (
        intervals[-1] > typical * 1.5 or intervals[0] < typical / 1.5
    )
    base = video.base_rate
    variable = irregular or (
        base is not None and base > 0 and abs(float(base) - average) / average > 0.05
    )
    if variable and typical is not None and 1 / typical <= 1000:
        return round(1 / typical, 3), True
    return average, variable


# --- ISO base media (mov/mp4) structure, read before any demuxer sees the file ---------------

_MOV_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_MAX_TOP_LEVEL_BOXES = 1_000_000


@dataclass
class _Track:
    handler: bytes = b""
    declared_sizes: tuple[tuple[int, int], ...] = ()


def _check_mov_structure(path: Path, size: int, limits: _Limits) -> None:
    """Refuse a truncated file, an audio-only file, or a video track declaring a huge picture."""
    with path.open("rb") as f:
        moov: tuple[int, int] | None = None
        for box_type, start, end in _boxes(f, 0, size, top_level=True):
            if box_type == b"moov" and moov is None:
                moov = (start, end)
        if moov is None:
            raise ProbeRejected("truncated_file", "The file is incomplete: its index is missing.")
        tracks = [_read_track(f, start, end) for t, start, end in _boxes(f, *moov) if t == b"trak"]
    video_tracks = [t for t in tracks if t.handler == b"vide"]
    if not video_tracks:
        raise ProbeRejected("no_video_stream", "The file has no video track.")
    for track in video_tracks:
        for width, height in track.declared_sizes:
            if width and height:
                limits.check(width, height)


def _boxes(
    f: BinaryIO, start: int, end: int, *, top_level: bool = False
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in [start, end)."""
    position, count = start, 0
    while position < end:
        count += 1
        if count > _MAX_TOP_LEVEL_BOXES:
            raise ProbeRejected("undecodable", "The file has an implausible structure.")
        f.seek(position)
        header = f.read(8)
        if len(header) < 8 or end - position < 8:
            if top_level and not header.strip(b"\x00"):
                return  # zero padding at the end of the file
            raise ProbeRejected("truncated_file", "The file is incomplete.")
        box_size, box_type = struct.unpack(">I4s", header)
        payload = position + 8
        if box_size == 1:
            large = f.read(8)
            if len(large) < 8:
                raise ProbeRejected("truncated_file", "The file is incomplete.")
            (box_size,) = struct.unpack(">Q", large)
            payload += 8
        elif box_size == 0:
            box_size = end - position
        if box_size < payload - position:
            raise ProbeRejected("undecodable", "The file's structure is corrupt.")
        if position + box_size > end:
            if top_level:
                raise ProbeRejected("truncated_file", "The file is incomplete.")
            raise ProbeRejected("undecodable", "The file's structure is corrupt.")
        yield box_type, payload, position + box_size
        position += box_size


def _read_track(f: BinaryIO, start: int, end: int) -> _Track:
    track = _Track()
    sizes: list[tuple[int, int]] = []
    stack = [(b"trak", start, end)]
    while stack:
        parent, parent_start, parent_end = stack.pop()
        for box_type, payload, box_end in _boxes(f, parent_start, parent_end):
            if box_type in _MOV_CONTAINERS:
                stack.append((box_type, payload, box_end))
            elif box_type == b"tkhd" and box_end - payload >= 8:
                f.seek(box_end - 8)  # width and height, 16.16 fixed point, end every tkhd
                width, height = struct.unpack(">II", f.read(8))
                sizes.append((width >> 16, height >> 16))
            # QuickTime files also carry a data-reference hdlr inside minf; the media type
            # is the one directly in mdia.
            elif box_type == b"hdlr" and parent == b"mdia" and box_end - payload >= 12:
                f.seek(payload + 8)
                track.handler = f.read(4)
            elif box_type == b"stsd" and box_end - payload >= 8 + 36:
                # The first sample entry; a visual one holds width and height at bytes 32..36.
                f.seek(payload + 8 + 32)
                width, height = struct.unpack(">HH", f.read(4))
                sizes.append((width, height))
    track.declared_sizes = tuple(sizes)
    return track
