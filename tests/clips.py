"""Small real media files made with ffmpeg's lavfi sources, and hostile look-alikes.

Every helper writes `path` and returns it. Clips are tiny on purpose; callers pick sizes only
where the size is what the test is about.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from reelstack.media.ffmpeg import ffmpeg_executable
from reelstack.media.probe import SourceInfo

# Codecs per container; mp4-family and most others get H.264 + AAC like phone uploads.
_CODECS: dict[str, tuple[list[str], list[str], str]] = {
    "mp4": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "aac"], "mp4"),
    "mov": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "aac"], "mov"),
    "mkv": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "aac"], "matroska"),
    "webm": (
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
        ["-c:a", "libopus"],
        "webm",
    ),
    "avi": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "libmp3lame"], "avi"),
    "ts": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "aac"], "mpegts"),
    "mpg": (["-c:v", "mpeg2video", "-q:v", "4"], ["-c:a", "mp2"], "mpeg"),
    "flv": (["-c:v", "libx264", "-preset", "veryfast"], ["-c:a", "aac"], "flv"),
    "ogg": (["-c:v", "libtheora", "-q:v", "6"], ["-c:a", "libvorbis"], "ogg"),
}  # fmt: skip


def ffmpeg(*args: str) -> None:
    """Run the project's ffmpeg synchronously, failing loudly with its stderr."""
    command = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    result = subprocess.run(  # noqa: S603 - our ffmpeg, arguments from the test
        [*command, *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed:\n{result.stderr}")


def make_clip(
    path: Path,
    *,
    width: int,
    height: int,
    seconds: float,
    fps: float = 30,
    audio: bool = True,
    rotate: int | None = None,
    vfr: bool = False,
    container: str = "mp4",
    faststart: bool = False,
    black_lead: float = 0.0,
    noise: int = 0,
) -> Path:
    """A testsrc2 clip (with a 440 Hz tone if `audio`).

    `rotate` is the clockwise angle a player must turn the stored picture (a phone's
    `rotate` tag): the stream stays `width`x`height`, the display matrix says otherwise.
    `vfr` keeps every frame of the first half and every other frame of the second half.
    `black_lead` seconds of black come before the pattern; `noise` adds film-grain noise.
    """
    video_args, audio_args, muxer = _CODECS[container]
    size, pattern_seconds = f"{width}x{height}", seconds - black_lead
    graph = f"testsrc2=s={size}:r={fps}:d={pattern_seconds}"
    if noise:
        graph += f",noise=alls={noise}:allf=t"
    if black_lead:
        graph = f"color=c=black:s={size}:r={fps}:d={black_lead}[lead];{graph}[pattern];"
        graph += "[lead][pattern]concat=n=2:v=1:a=0"
    if vfr:
        graph += f",select='lt(t\\,{seconds / 2})+not(mod(n\\,2))'"
    graph += ",format=yuv420p[v]"
    args = []
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-filter_complex", graph, "-map", "[v]", *video_args]
    if vfr:
        args += ["-fps_mode", "vfr"]
    if audio:
        args += ["-map", "0:a", *audio_args]
    if faststart and muxer in ("mp4", "mov"):
        args += ["-movflags", "+faststart"]
    target = path if rotate is None else path.with_name(f"unrotated-{path.name}")
    ffmpeg(*args, "-t", str(seconds), "-f", muxer, str(target))
    if rotate is not None:
        # A stream copy keeps the picture as stored and only writes the display matrix.
        ffmpeg("-display_rotation:v", str(-rotate), "-i", str(target), "-c", "copy",
               "-f", muxer, str(path))  # fmt: skip
        target.unlink()
    return path


def make_source_info(
    width: int, height: int, *, fps: float = 30.0, duration: float = 10.0, audio: bool = True
) -> SourceInfo:
    """A SourceInfo as probe_source would describe an upright H.264 upload."""
    return SourceInfo(
        format="mov",
        video_codec="h264",
        audio_codec="aac" if audio else None,
        has_audio=audio,
        duration=duration,
        width=width,
        height=height,
        coded_width=width,
        coded_height=height,
        rotation=0,
        fps=fps,
        variable_frame_rate=False,
        bit_rate=None,
        size_bytes=1,
    )


def make_audio_only(path: Path, *, seconds: float = 1.0) -> Path:
    """An AAC .m4a: a valid mp4-family file without any video track."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
           "-c:a", "aac", "-f", "mp4", str(path))  # fmt: skip
    return path


def make_empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def make_text_file(path: Path) -> Path:
    """Plain notes saved under a video's name."""
    path.write_text("Shopping list\n- milk\n- eggs\n- bread\n")
    return path


def make_truncated(path: Path, source: Path) -> Path:
    """The first half of `source`, as an interrupted upload would leave it."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_hls_playlist(path: Path) -> Path:
    """An HLS playlist naming a local secret and a URL (saved under whatever name)."""
    path.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n"
        "#EXTINF:10,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n"
    )
    return path


def make_ffconcat(path: Path, targets: list[str] | None = None) -> Path:
    """An ffconcat script naming `targets` (by default /etc/passwd and a URL)."""
    names = targets if targets is not None else ["/etc/passwd", "http://127.0.0.1:9/x.mp4"]
    path.write_text("ffconcat version 1.0\n" + "".join(f"file '{name}'\n" for name in names))
    return path


def make_huge_claim_mp4(path: Path, *, claimed: int = 30000, only_sps: bool = False) -> Path:
    """A tiny real H.264 mp4 whose tkhd, avc1 entry and SPS all claim `claimed`² pixels
    (with `only_sps`, the container tells the truth and only the bitstream lies).

    The moov sits after mdat, so growing it (the SPS gets longer) moves no sample offsets.
    """
    small = path.with_name(f"small-{path.name}")
    # 176x144 is a whole number of macroblocks, so the SPS carries no cropping to fix up.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=176x144:r=30:d=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4", str(small))  # fmt: skip
    boxes = _parse_boxes(small.read_bytes())
    small.unlink()
    moov = next(box for box in boxes if box.type == b"moov")
    assert boxes.index(moov) == len(boxes) - 1, "moov must come last"
    _patch_sizes(moov, claimed, only_sps=only_sps)
    path.write_bytes(b"".join(box.serialize() for box in boxes))
    return path


# --- a minimal ISO box tree, just enough to rewrite a moov ----------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
# Boxes with fixed fields before their children: stsd (version, count), avc1 (visual entry).
_FIELDS_BEFORE_CHILDREN = {b"stsd": 8, b"avc1": 78}


@dataclass
class _Box:
    type: bytes
    payload: bytes = b""
    children: list[_Box] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = self.payload + b"".join(child.serialize() for child in self.children)
        return struct.pack(">I4s", 8 + len(body), self.type) + body


def _parse_boxes(data: bytes) -> list[_Box]:
    boxes, position = [], 0
    while position < len(data):
        size, box_type = struct.unpack(">I4s", data[position : position + 8])
        assert size >= 8, "this helper only handles 32-bit box sizes"
        payload = data[position + 8 : position + size]
        if box_type in _CONTAINERS:
            boxes.append(_Box(box_type, children=_parse_boxes(payload)))
        elif box_type in _FIELDS_BEFORE_CHILDREN:
            cut = _FIELDS_BEFORE_CHILDREN[box_type]
            boxes.append(_Box(box_type, payload[:cut], _parse_boxes(payload[cut:])))
        else:
            boxes.append(_Box(box_type, payload))
        position += size
    return boxes


def _walk(box: _Box) -> list[_Box]:
    return [box, *(descendant for child in box.children for descendant in _walk(child))]


def _patch_sizes(moov: _Box, claimed: int, *, only_sps: bool) -> None:
    for box in _walk(moov):
        if box.type == b"avcC":
            box.payload = _patch_avcc(box.payload, claimed)
        elif only_sps:
            continue
        elif box.type == b"tkhd" and box.payload[-8:] != bytes(8):  # the video track
            box.payload = box.payload[:-8] + struct.pack(">II", claimed << 16, claimed << 16)
        elif box.type == b"avc1":
            fields = bytearray(box.payload)
            fields[24:28] = struct.pack(">HH", claimed, claimed)
            box.payload = bytes(fields)


def _patch_avcc(avcc: bytes, claimed: int) -> bytes:
    assert avcc[5] & 0x1F == 1, "expected exactly one SPS"
    (sps_length,) = struct.unpack(">H", avcc[6:8])
    sps = _rewrite_sps(avcc[8 : 8 + sps_length], claimed)
    return avcc[:6] + struct.pack(">H", len(sps)) + sps + avcc[8 + sps_length :]


def _rewrite_sps(nal: bytes, claimed: int) -> bytes:
    """Re-encode an SPS NAL unit with a new picture size in macroblocks."""
    reader, writer = _BitReader(_unescape(nal[1:])), _BitWriter()
    profile = reader.copy_bits(writer, 24)  # profile_idc, constraint flags, level_idc
    writer.ue(reader.ue())  # seq_parameter_set_id
    if profile >> 16 in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = reader.ue()
        writer.ue(chroma_format)
        if chroma_format == 3:
            reader.copy_bits(writer, 1)
        writer.ue(reader.ue())  # bit_depth_luma_minus8
        writer.ue(reader.ue())  # bit_depth_chroma_minus8
        reader.copy_bits(writer, 1)  # qpprime_y_zero_transform_bypass_flag
        assert reader.copy_bits(writer, 1) == 0, "scaling matrices are not handled"
    writer.ue(reader.ue())  # log2_max_frame_num_minus4
    poc_type = reader.ue()
    writer.ue(poc_type)
    if poc_type == 0:
        writer.ue(reader.ue())
    elif poc_type == 1:
        reader.copy_bits(writer, 1)
        writer.se(reader.se())
        writer.se(reader.se())
        cycle = reader.ue()
        writer.ue(cycle)
        for _ in range(cycle):
            writer.se(reader.se())
    writer.ue(reader.ue())  # max_num_ref_frames
    reader.copy_bits(writer, 1)  # gaps_in_frame_num_value_allowed_flag
    reader.ue(), reader.ue()  # the old width and height in macroblocks
    writer.ue(claimed // 16 - 1)
    writer.ue(claimed // 16 - 1)
    # Everything after, up to and including the stop bit, copied verbatim; then realign.
    writer.bits.append(reader.bits[reader.position :].rstrip("0"))
    return nal[:1] + _escape(writer.to_bytes())


def _unescape(data: bytes) -> bytes:
    return data.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in data:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{byte:08b}" for byte in data)
        self.position = 0

    def read(self, count: int) -> int:
        value = int(self.bits[self.position : self.position + count], 2)
        self.position += count
        return value

    def copy_bits(self, writer: _BitWriter, count: int) -> int:
        value = self.read(count)
        writer.write(value, count)
        return value

    def ue(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + (self.read(zeros) if zeros else 0)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def write(self, value: int, count: int) -> None:
        self.bits.append(format(value, f"0{count}b") if count else "")

    def ue(self, value: int) -> None:
        code = format(value + 1, "b")
        self.bits.append("0" * (len(code) - 1) + code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def to_bytes(self) -> bytes:
        bits = "".join(self.bits)
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big")
