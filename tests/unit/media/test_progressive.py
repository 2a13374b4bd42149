"""One ffmpeg run for the ladder and the thumbnails; when a growing rung may be shown."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image, ImageStat

from reelstack.media.ffmpeg import FFmpeg
from reelstack.media.ladder import parse_media_playlist, plan_ladder
from reelstack.media.probe import probe_source
from reelstack.media.progressive import (
    LiveRung,
    encode_ladder,
    event_playlist,
    finish_rung,
    progressive_mp4,
    ready_to_play,
    rung_dir,
)
from reelstack.media.thumbnails import finish_taps, plan_taps
from tests.clips import make_clip, make_source_info


@pytest.mark.parametrize(
    ("encoded", "speed", "ready"),
    [
        (1.0, 5.0, True),  # fast: far ahead of any viewer (a finished segment is asked apart)
        (2.0, 1.1, True),  # 1.1x / 1.1 margin: exactly real time, one segment ahead
        (2.0, 0.92, False),  # a little slower than real time: the gap closes before the end
        (6.0, 0.92, False),
        (6.6, 0.92, True),  # 30 * (1 - 0.836) + 0.836 * 2 = 6.58
        (27.0, 0.1, False),  # 30 * (1 - 0.091) + 0.091 * 2 = 27.45
        (28.0, 0.1, True),  # the last segment is needed 28 s from now, and done in 20 s
        (30.0, 0.1, True),  # everything is encoded
    ],
)
def test_a_viewer_starting_now_never_catches_the_encoder(
    encoded: float, speed: float, ready: bool
) -> None:
    assert ready_to_play(encoded, 30.0, speed, margin=1.1) is ready


def test_the_default_margin_is_five_percent() -> None:
    # 30 * (1 - 0.8 / 1.05) + 0.8 / 1.05 * 2 = 8.67
    assert not ready_to_play(8.6, 30.0, 0.8)
    assert ready_to_play(8.7, 30.0, 0.8)


def test_ready_needs_one_finished_segment_and_uses_the_measured_speed(tmp_path: Path) -> None:
    rung = plan_ladder(make_source_info(1280, 720, duration=30.0))[0]
    live = LiveRung(rung, tmp_path, duration=30.0, has_audio=True, started=100.0)
    live.encoded = 12.0
    assert not live.can_play(now=110.0)  # 1.2x, but nothing stored yet
    live.segments = [("seg_00000.m4s", 4.0), ("seg_00001.m4s", 4.0)]
    assert live.speed(now=110.0) == pytest.approx(1.2)
    assert live.can_play(now=110.0)
    assert not live.can_play(now=130.0)  # 0.4x: a viewer would catch up


def test_the_speed_leaves_out_ffmpegs_start_up(tmp_path: Path) -> None:
    rung = plan_ladder(make_source_info(1280, 720, duration=30.0))[0]
    live = LiveRung(rung, tmp_path, duration=30.0, has_audio=True, started=100.0)
    live.observe(0.5, now=102.0)  # two seconds to open the input and fill the lookahead
    live.observe(1.5, now=103.0)
    assert live.speed(now=103.0) == pytest.approx(1.5 / 3)  # too early to tell: from the start
    live.observe(10.5, now=112.0)
    assert live.speed(now=112.0) == pytest.approx(1.0)  # 10 s of media in 10 s


def test_the_growing_playlist_starts_at_segment_zero_and_has_no_end() -> None:
    text = event_playlist([("seg_00000.m4s", 4.0), ("seg_00001.m4s", 4.0)])
    assert text.splitlines()[:8] == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES",
        '#EXT-X-MAP:URI="init.mp4"',
    ]
    assert "#EXT-X-ENDLIST" not in text
    assert parse_media_playlist(text) == [("seg_00000.m4s", 4.0), ("seg_00001.m4s", 4.0)]


@pytest.fixture(scope="session")
def ten_second_clip(clip_dir: Path) -> Path:
    """480x854, 10 s with one second of black first: three segments per rung."""
    return make_clip(clip_dir / "ten.mp4", width=480, height=854, seconds=10, black_lead=1.0)


async def test_one_run_makes_every_rung_the_mp4_and_the_thumbnails(
    ff: FFmpeg, ten_second_clip: Path, tmp_path: Path
) -> None:
    info = probe_source(ten_second_clip, max_duration=60)
    rungs = plan_ladder(info)
    taps = plan_taps(info, tmp_path / "thumbs")
    progress: list[float] = []

    async def record(fraction: float) -> None:
        progress.append(fraction)

    await encode_ladder(ff, ten_second_clip, info, rungs, tmp_path, taps=taps, on_progress=record)
    # Progress arrives all along (the thumbnail outputs open at once and do not hold it back).
    assert len(progress) >= 3 and progress[-1] == 1.0

    finished = [finish_rung(tmp_path, rung) for rung in rungs]
    for hls in finished:
        text = (rung_dir(tmp_path, hls.rung) / "index.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        segments = parse_media_playlist(text)
        assert [seconds for _, seconds in segments] == pytest.approx([2.0] * 5, abs=0.05)
        assert hls.codecs.startswith("avc1.64") and hls.codecs.endswith(",mp4a.40.2")
        assert hls.frame_rate == pytest.approx(30.0)
        assert 0 < hls.average_bandwidth <= hls.bandwidth
    # Keyframes are aligned: every rung is cut at the same instants.
    cuts = {
        tuple(parse_media_playlist((hls.directory / "index.m3u8").read_text())) for hls in finished
    }
    assert len(cuts) == 1

    mp4 = await progressive_mp4(ff, finished[-1], tmp_path / "480p.mp4")
    head = mp4.read_bytes()[:4096]
    assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # faststart
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (480, 854)
        assert float(container.duration or 0) / 1e6 == pytest.approx(10.0, abs=0.2)

    thumbs = finish_taps(taps, info)
    assert sorted(thumbs.posters) == [180, 360]
    assert thumbs.poster_time > 1.0  # not the black opening
    with Image.open(thumbs.posters[360]) as poster:
        assert poster.size == (360, 640)
        assert ImageStat.Stat(poster.convert("L")).mean[0] > 40
    with Image.open(thumbs.sprite) as sprite:
        assert sprite.size == (10 * 160, 284)  # ten 1 s tiles in one row
        tiles = [sprite.crop((x * 160, 0, x * 160 + 160, 284)) for x in range(10)]
        brightness = [ImageStat.Stat(tile.convert("L")).mean[0] for tile in tiles]
    assert brightness[0] < 5 < 40 < min(brightness[2:])  # black, then the pattern
    assert thumbs.sprite_vtt.read_text().count("sprite.jpg#xywh=") == 10
