"""Probing untrusted uploads: every hostile input gets its own reason, real videos are described."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from reelstack.media import probe
from reelstack.media.probe import ProbeRejected, probe_source, sniff_format
from tests.clips import (
    make_audio_only,
    make_clip,
    make_empty_file,
    make_ffconcat,
    make_hls_playlist,
    make_huge_claim_mp4,
    make_text_file,
    make_truncated,
)


@pytest.fixture
def no_demuxing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if PyAV is asked to open the file at all."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the file reached a demuxer: {args}")

    monkeypatch.setattr(probe.av, "open", refuse)


@pytest.fixture(scope="session")
def hostile(clip_dir: Path) -> dict[str, Path]:
    folder = clip_dir / "hostile"
    folder.mkdir()
    moov_last = make_clip(folder / "moov-last.mp4", width=160, height=120, seconds=1)
    faststart = make_clip(folder / "faststart.mp4", width=160, height=120, seconds=1,
                          faststart=True)  # fmt: skip
    bom_playlist = folder / "bom.mp4"
    bom_playlist.write_bytes(b"\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\nseg.ts\n")
    url_list = folder / "links.mov"
    url_list.write_text("see https://example.com/clip.mp4 for the real thing\n")
    return {
        "empty": make_empty_file(folder / "empty.mp4"),
        "text": make_text_file(folder / "notes.mp4"),
        "truncated_moov_last": make_truncated(folder / "cut-moov-last.mp4", moov_last),
        "truncated_faststart": make_truncated(folder / "cut-faststart.mp4", faststart),
        "m3u8": make_hls_playlist(folder / "playlist.m3u8"),
        "m3u8_named_mp4": make_hls_playlist(folder / "playlist.mp4"),
        "bom_m3u8": bom_playlist,
        "ffconcat": make_ffconcat(folder / "concat.mp4"),
        "url_list": url_list,
        "audio_only": make_audio_only(folder / "song.m4a"),
        "huge_30000": make_huge_claim_mp4(folder / "huge.mp4"),
        "huge_12000": make_huge_claim_mp4(folder / "big.mp4", claimed=12000),
    }


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty", "empty_file"),
        ("text", "unsupported_format"),
        ("truncated_moov_last", "truncated_file"),
        ("truncated_faststart", "truncated_file"),
        ("m3u8", "playlist_refused"),
        ("m3u8_named_mp4", "playlist_refused"),
        ("bom_m3u8", "playlist_refused"),
        ("ffconcat", "playlist_refused"),
        ("url_list", "playlist_refused"),
        ("audio_only", "no_video_stream"),
        ("huge_30000", "dimensions_too_large"),
        ("huge_12000", "dimensions_too_large"),
    ],
)
@pytest.mark.usefixtures("no_demuxing")
def test_hostile_upload_is_refused_before_any_demuxer_opens_it(
    hostile: dict[str, Path], name: str, code: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ProbeRejected) as refused:
        probe_source(hostile[name], max_duration=600)
    assert refused.value.code == code
    assert refused.value.detail
    assert time.monotonic() - started < 0.5


def test_size_claims_are_what_a_real_demuxer_reports(hostile: dict[str, Path]) -> None:
    """The patched file is not a strawman: FFmpeg's own mov demuxer and H.264 parser read the
    claimed size (the decoder is capped so the check itself allocates nothing large)."""
    options = {"protocol_whitelist": "file", "max_pixels": "1000000"}
    with av.open(str(hostile["huge_12000"]), format="mov", options=options) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (12000, 12000)


def test_size_claimed_only_by_the_bitstream_is_refused_before_decoding(clip_dir: Path) -> None:
    liar = make_huge_claim_mp4(clip_dir / "sps-liar.mp4", claimed=12000, only_sps=True)
    started = time.monotonic()
    with pytest.raises(ProbeRejected) as refused:
        probe_source(liar, max_duration=600)
    assert refused.value.code == "dimensions_too_large"
    assert "12000x12000" in refused.value.detail
    assert time.monotonic() - started < 1


def test_playlist_naming_a_secret_is_refused_without_reading_it(
    hostile: dict[str, Path], no_demuxing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = Path.open

    def watched_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", watched_open)
    for name in ("m3u8", "ffconcat"):
        with pytest.raises(ProbeRejected, match="playlist_refused"):
            probe_source(hostile[name], max_duration=600)
    assert opened == [str(hostile["m3u8"]), str(hostile["ffconcat"])]


def test_undecodable_stream_is_refused(clip_dir: Path) -> None:
    garbage = clip_dir / "garbage.mkv"
    garbage.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(4096))
    with pytest.raises(ProbeRejected) as refused:
        probe_source(garbage, max_duration=600)
    assert refused.value.code == "undecodable"


def test_too_long_is_refused(portrait_clip: Path) -> None:
    with pytest.raises(ProbeRejected) as refused:
        probe_source(portrait_clip, max_duration=1.5)
    assert refused.value.code == "too_long"


def test_too_small_is_refused(clip_dir: Path) -> None:
    tiny = make_clip(clip_dir / "tiny.mp4", width=96, height=64, seconds=0.5, audio=False)
    with pytest.raises(ProbeRejected) as refused:
        probe_source(tiny, max_duration=60)
    assert refused.value.code == "dimensions_too_small"


def test_real_size_above_the_limit_is_refused(clip_dir: Path) -> None:
    wide = make_clip(clip_dir / "wide.mp4", width=1280, height=720, seconds=0.2, audio=False)
    with pytest.raises(ProbeRejected) as refused:
        probe_source(wide, max_duration=60, max_long_side=1000)
    assert refused.value.code == "dimensions_too_large"


@pytest.mark.parametrize(
    ("container", "demuxer", "video_codec"),
    [
        ("mp4", "mov", "h264"),
        ("mov", "mov", "h264"),
        ("mkv", "matroska", "h264"),
        ("webm", "matroska", "vp9"),
        ("avi", "avi", "h264"),
        ("ts", "mpegts", "h264"),
        ("mpg", "mpeg", "mpeg2video"),
        ("flv", "flv", "h264"),
        ("ogg", "ogg", "theora"),
    ],
)
def test_each_accepted_container_is_sniffed_and_probed(
    clip_dir: Path, container: str, demuxer: str, video_codec: str
) -> None:
    clip = make_clip(clip_dir / f"format.{container}", width=160, height=120, seconds=0.5,
                     container=container)  # fmt: skip
    assert sniff_format(clip) == demuxer
    info = probe_source(clip, max_duration=60)
    assert (info.format, info.video_codec, info.has_audio) == (demuxer, video_codec, True)
    assert (info.width, info.height) == (160, 120)
    assert 0.4 < info.duration < 0.7


ClipMaker = Callable[[Path], Path]


@pytest.mark.parametrize(
    ("make", "display", "coded", "rotation"),
    [
        (lambda d: make_clip(d / "land.mp4", width=1920, height=1080, seconds=0.3),
         (1920, 1080), (1920, 1080), 0),
        (lambda d: make_clip(d / "port.mp4", width=1080, height=1920, seconds=0.3),
         (1080, 1920), (1080, 1920), 0),
        (lambda d: make_clip(d / "rot.mp4", width=1920, height=1080, seconds=0.3, rotate=90),
         (1080, 1920), (1920, 1080), 90),
        (lambda d: make_clip(d / "rot270.mp4", width=320, height=240, seconds=0.3, rotate=270),
         (240, 320), (320, 240), 270),
    ],
    ids=["landscape", "portrait", "rotated90", "rotated270"],
)  # fmt: skip
def test_display_size_accounts_for_rotation(
    clip_dir: Path,
    make: ClipMaker,
    display: tuple[int, int],
    coded: tuple[int, int],
    rotation: int,
) -> None:
    info = probe_source(make(clip_dir), max_duration=60)
    assert (info.width, info.height) == display
    assert (info.coded_width, info.coded_height) == coded
    assert info.rotation == rotation
    assert info.fps == 30.0
    assert not info.variable_frame_rate


def test_variable_frame_rate_is_detected(clip_dir: Path) -> None:
    vfr = make_clip(clip_dir / "vfr.mp4", width=160, height=120, seconds=2, vfr=True)
    info = probe_source(vfr, max_duration=60)
    assert info.variable_frame_rate
    assert info.fps == pytest.approx(30.0)  # its nominal rate, not the 22.5 fps average


def test_clip_without_audio(silent_clip: Path) -> None:
    info = probe_source(silent_clip, max_duration=60)
    assert (info.has_audio, info.audio_codec) == (False, None)
    assert (info.width, info.height) == (480, 854)
    assert info.size_bytes == silent_clip.stat().st_size
    assert info.bit_rate is not None and info.bit_rate > 0
    assert info.duration == pytest.approx(2.0, abs=0.1)
