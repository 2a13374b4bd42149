"""The rendition ladder: which rungs, encoded in one pass, packaged as aligned HLS."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from reelstack.media.ffmpeg import FFmpeg
from reelstack.media.ladder import (
    HlsRendition,
    Rung,
    encode_rungs,
    package_hls,
    parse_media_playlist,
    plan_ladder,
)
from reelstack.media.probe import probe_source
from tests.clips import make_clip, make_source_info


def sizes(rungs: list[Rung]) -> list[tuple[str, int, int]]:
    return [(rung.name, rung.width, rung.height) for rung in rungs]


def test_landscape_1080p_gets_four_rungs_smallest_first() -> None:
    rungs = plan_ladder(make_source_info(1920, 1080))
    assert sizes(rungs) == [
        ("360p", 640, 360), ("480p", 854, 480), ("720p", 1280, 720), ("1080p", 1920, 1080),
    ]  # fmt: skip
    assert [(rung.maxrate_kbps, rung.bufsize_kbps) for rung in rungs] == [
        (1000, 2000), (2000, 4000), (6000, 12000), (6500, 13000),
    ]  # fmt: skip


def test_portrait_rungs_are_named_by_their_short_side() -> None:
    rungs = plan_ladder(make_source_info(1080, 1920))
    assert sizes(rungs) == [
        ("360p", 360, 640), ("480p", 480, 854), ("720p", 720, 1280), ("1080p", 1080, 1920),
    ]  # fmt: skip


def test_never_upscales() -> None:
    assert sizes(plan_ladder(make_source_info(854, 480))) == [("360p", 640, 360),
                                                              ("480p", 854, 480)]  # fmt: skip
    assert [r.name for r in plan_ladder(make_source_info(600, 1066))] == ["360p", "480p"]
    assert sizes(plan_ladder(make_source_info(3840, 2160)))[-1] == ("1080p", 1920, 1080)


def test_source_below_360p_gets_one_rung_at_its_own_even_size() -> None:
    assert sizes(plan_ladder(make_source_info(320, 240))) == [("240p", 320, 240)]
    assert sizes(plan_ladder(make_source_info(177, 321))) == [("176p", 176, 320)]


def test_every_rung_has_even_dimensions_and_keeps_the_aspect_ratio() -> None:
    for width, height in [(1920, 1080), (1080, 1920), (1440, 1080), (886, 1920), (1000, 1000)]:
        for rung in plan_ladder(make_source_info(width, height)):
            assert rung.width % 2 == 0 and rung.height % 2 == 0
            assert rung.width / rung.height == pytest.approx(width / height, rel=0.01)


@pytest.mark.parametrize(
    ("source_fps", "large", "small"),
    [
        (30.0, 30.0, 30.0),
        (25.0, 25.0, 25.0),
        (60.0, 60.0, 30.0),
        (60000 / 1001, 60000 / 1001, 30000 / 1001),
        (120.0, 60.0, 30.0),
        (29.6, 30000 / 1001, 30000 / 1001),  # a variable-rate phone clip's average
    ],
)
def test_frame_rates_are_capped_per_rung(source_fps: float, large: float, small: float) -> None:
    rungs = {rung.name: rung for rung in plan_ladder(make_source_info(1920, 1080, fps=source_fps))}
    assert rungs["1080p"].fps == pytest.approx(large) == rungs["720p"].fps
    assert rungs["480p"].fps == pytest.approx(small) == rungs["360p"].fps


def first_frame(mp4: Path) -> tuple[Image.Image, int]:
    with av.open(str(mp4)) as container:
        frame = next(container.decode(video=0))
        return frame.to_image(), frame.rotation


async def encode_and_package(
    ff: FFmpeg, source: Path, workdir: Path
) -> tuple[dict[str, Path], list[HlsRendition]]:
    info = probe_source(source, max_duration=60)
    rungs = plan_ladder(info)
    outputs = await encode_rungs(ff, source, info, rungs, workdir / "mp4")
    assert set(outputs) == {rung.name for rung in rungs}
    renditions = [
        await package_hls(ff, outputs[r.name], r, workdir / "hls" / r.name) for r in rungs
    ]
    return outputs, renditions


def check_rendition(rendition: HlsRendition, *, audio: bool) -> None:
    rung = rendition.rung
    assert (rendition.width, rendition.height) == (rung.width, rung.height)
    assert rendition.frame_rate == pytest.approx(30.0)
    video_codec, *audio_codecs = rendition.codecs.split(",")
    assert video_codec.startswith("avc1.64")  # High profile, as encoded
    assert audio_codecs == (["mp4a.40.2"] if audio else [])
    playlist = (rendition.directory / rendition.playlist).read_text()
    segments = parse_media_playlist(playlist)
    assert sum(seconds for _, seconds in segments) == pytest.approx(2.0, abs=0.1)
    assert '#EXT-X-MAP:URI="init.mp4"' in playlist
    assert all("/" not in name for name, _ in segments)
    assert rendition.files == ["init.mp4", *(name for name, _ in segments), "index.m3u8"]
    assert all((rendition.directory / name).stat().st_size > 0 for name in rendition.files)
    assert 0 < rendition.average_bandwidth <= rendition.bandwidth
    assert rendition.bandwidth < rung.maxrate_kbps * 1000 * 2 + 200_000


async def test_portrait_clip_with_audio(ff: FFmpeg, portrait_clip: Path, tmp_path: Path) -> None:
    progress: list[float] = []

    async def record(fraction: float) -> None:
        progress.append(fraction)

    info = probe_source(portrait_clip, max_duration=60)
    rungs = plan_ladder(info)
    outputs = await encode_rungs(ff, portrait_clip, info, rungs, tmp_path, on_progress=record)
    assert progress[-1] == 1.0
    for rung in rungs:
        mp4_info = probe_source(outputs[rung.name], max_duration=60)
        assert (mp4_info.width, mp4_info.height) == (rung.width, rung.height)
        assert (mp4_info.video_codec, mp4_info.audio_codec) == ("h264", "aac")
        assert not mp4_info.variable_frame_rate
        rendition = await package_hls(ff, outputs[rung.name], rung, tmp_path / rung.name)
        check_rendition(rendition, audio=True)


async def test_clip_without_audio(ff: FFmpeg, silent_clip: Path, tmp_path: Path) -> None:
    outputs, renditions = await encode_and_package(ff, silent_clip, tmp_path)
    assert [r.rung.name for r in renditions] == ["360p", "480p"]
    for rendition in renditions:
        check_rendition(rendition, audio=False)
        assert not probe_source(outputs[rendition.rung.name], max_duration=60).has_audio


async def test_rotated_clip_is_encoded_upright(
    ff: FFmpeg, rotated_clip: Path, tmp_path: Path
) -> None:
    outputs, renditions = await encode_and_package(ff, rotated_clip, tmp_path)
    assert [(r.width, r.height) for r in renditions] == [(360, 640), (480, 854)]
    for rendition in renditions:
        check_rendition(rendition, audio=True)
    picture, rotation = first_frame(outputs["480p"])
    assert rotation == 0 and picture.size == (480, 854)
    # The stored 854x480 picture turned a quarter clockwise, as a player would show it.
    stored, _ = first_frame(rotated_clip)
    upright = stored.transpose(Image.Transpose.ROTATE_270).resize(picture.size)
    squashed = stored.resize(picture.size)
    assert difference(picture, upright) < 12 < difference(picture, squashed)


def difference(first: Image.Image, second: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(first, second).convert("L")).mean[0])


async def test_segments_start_at_the_same_instants_in_every_rung(
    ff: FFmpeg, clip_dir: Path, tmp_path: Path
) -> None:
    """A 59.94 fps source gives 59.94 and 29.97 fps rungs: keyframes sit on the coarser grid,
    so even rungs encoded in separate passes switch cleanly at every segment boundary."""
    source = make_clip(clip_dir / "ntsc60.mp4", width=160, height=96, seconds=20,
                       fps=60000 / 1001)  # fmt: skip
    info = probe_source(source, max_duration=60, min_side=40)
    fast = Rung("fast", 160, 96, 23, 1000, 2000, 60000 / 1001)
    slow = Rung("slow", 80, 48, 23, 500, 1000, 30000 / 1001)
    boundaries, keyframes = [], []
    for rung in (fast, slow):  # two passes, as a quick low rung published first would be
        mp4 = (await encode_rungs(ff, source, info, [rung], tmp_path / rung.name))[rung.name]
        rendition = await package_hls(ff, mp4, rung, tmp_path / "hls" / rung.name)
        segments = parse_media_playlist((rendition.directory / rendition.playlist).read_text())
        starts = list(itertools.accumulate(seconds for _, seconds in segments))[:-1]
        boundaries.append([round(start, 3) for start in starts])
        with av.open(str(mp4)) as container:
            stream = container.streams.video[0]
            assert stream.time_base is not None
            keyframes.append(
                [round(float(packet.pts * stream.time_base), 3)
                 for packet in container.demux(stream)
                 if packet.is_keyframe and packet.pts is not None]
            )  # fmt: skip
    assert boundaries[0] == boundaries[1] == [round(2.002 * k, 3) for k in range(1, 10)]
    assert keyframes[0] == keyframes[1]
    assert keyframes[0][:3] == [0.0, 2.002, 4.004] and len(keyframes[0]) == 10
