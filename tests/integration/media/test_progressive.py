"""The lowest rung plays while the ladder is still being encoded, and nothing a dead or failed
attempt was growing stays published."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from reelstack.db import utcnow
from reelstack.media import lease, passes, processing, progressive
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests import clips
from tests.factories import TestUser, make_user
from tests.media_helpers import API, fetch, playlist_uris, upload_video, wait_processed


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("progressive")


@pytest.fixture(scope="module")
def long_clip(clip_dir: Path) -> Path:
    """20 s of 480p: two rungs, ten 2 s segments each, a few seconds to encode."""
    return clips.make_clip(clip_dir / "long.mp4", width=854, height=480, seconds=20)


@pytest.fixture(scope="module")
def short_clip(clip_dir: Path) -> Path:
    return clips.make_clip(clip_dir / "short.mp4", width=854, height=480, seconds=1.0)


async def decode(client: httpx.AsyncClient, text: str) -> tuple[list[bytes], float]:
    """Every file the playlist names, and the time of the last frame they decode to."""
    parts = []
    for uri in playlist_uris(text):
        response = await fetch(client, uri)
        assert response.status_code == 200, uri
        parts.append(response.content)
    with av.open(io.BytesIO(b"".join(parts)), mode="r", format="mp4") as container:
        frames = list(container.decode(video=0))
    return parts, float(frames[-1].time or 0.0)


def listed_seconds(text: str) -> float:
    return sum(
        float(line[8:].split(",")[0]) for line in text.splitlines() if line[:8] == "#EXTINF:"
    )


async def wait_playable_while_encoding(
    client: httpx.AsyncClient, user: TestUser, video_id: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        response = await client.get(f"{API}/videos/{video_id}/status", headers=user.headers)
        state: dict[str, Any] = response.json()
        if state["status"] == "ready":
            assert state["progress"] < 100, f"only playable once finished: {state}"
            return state
        assert state["status"] == "processing" and time.monotonic() < deadline, state
        await asyncio.sleep(0.05)


def read_at(rate: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every encode reads its source at `rate` times real time, so each stage of the job lasts
    long enough to be looked at, whatever the speed of the machine running the test."""
    decode_args = progressive.decode_args

    def paced(*args: Any, **kwargs: Any) -> list[str]:
        return ["-readrate", str(rate), *decode_args(*args, **kwargs)]

    monkeypatch.setattr(progressive, "decode_args", paced)


async def wait_until(
    client: httpx.AsyncClient, url: str, done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    deadline = time.monotonic() + 60
    while not done(response := await fetch(client, url)):
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.05)
    return response


async def test_the_lowest_rung_plays_while_it_is_written_and_whole_while_the_rest_is_encoded(
    runtime: Runtime, client: httpx.AsyncClient, long_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the encoder were far faster than playback: playable from its first segment on.
    monkeypatch.setattr(progressive, "SPEED_MARGIN", 1e-3)
    read_at(4.0, monkeypatch)  # each of the two passes over the 20 s clip lasts 5 s
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, long_clip, chunk=4 * 1024 * 1024)

    state = await wait_playable_while_encoding(client, creator, video_id)
    assert state["renditions_ready"] == ["360p"], state
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    assert set(video["video_urls"]) == {"hls", "360p"}  # no download before the end
    growing = await fetch(client, video["video_urls"]["360p"])
    assert growing.headers["cache-control"] == "private, no-cache"
    text = growing.text
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-MEDIA-SEQUENCE:0" in text
    assert "#EXT-X-START:TIME-OFFSET=0," in text  # players begin at the start, not the edge
    assert "#EXT-X-ENDLIST" not in text
    uris = playlist_uris(text)
    assert "/init.mp4?" in uris[0] and "/seg_00000.m4s?" in uris[1], text
    early_parts, last_frame = await decode(client, text)
    assert last_frame > listed_seconds(text) - 0.2  # every listed segment is whole
    master = (await fetch(client, video["video_urls"]["hls"])).text
    assert master.count("#EXT-X-STREAM-INF") == 1
    # Nothing measured yet: the rung's cap and the audio bit rate.
    assert "BANDWIDTH=1128000,RESOLUTION=640x360," in master
    assert video["thumbnail_url"] is None

    # Its own pass ends long before the rest of the ladder: it is published whole, with the
    # thumbnails, while the 480p rung is still being encoded.
    whole = await wait_until(client, video["video_urls"]["360p"], lambda r: "ENDLIST" in r.text)
    state = (await client.get(f"{API}/videos/{video_id}/status", headers=creator.headers)).json()
    assert state["renditions_ready"] == ["360p"] and state["progress"] < 100, state
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in whole.text
    parts, last_frame = await decode(client, whole.text)
    assert last_frame > 19.5
    assert parts[: len(early_parts)] == early_parts  # what early viewers got is unchanged
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    assert set(video["video_urls"]) == {"hls", "360p"}, video["video_urls"]
    assert video["thumbnail_url"] is not None
    poster = await fetch(client, video["thumbnail_url"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/webp"
    master = (await fetch(client, video["video_urls"]["hls"])).text
    assert master.count("#EXT-X-STREAM-INF") == 1 and "AVERAGE-BANDWIDTH=" in master

    done = await wait_processed(client, creator, video_id)
    assert done["status"] == "ready" and done["renditions_ready"] == ["360p", "480p"], done
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    assert set(video["video_urls"]) == {"hls", "mp4", "360p", "480p"}
    finished = await fetch(client, video["video_urls"]["360p"])
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in finished.text and "#EXT-X-ENDLIST" in finished.text
    assert finished.headers["cache-control"] == "private, max-age=60"
    parts, last_frame = await decode(client, finished.text)
    assert last_frame > 19.5
    # A player that started early keeps getting the very bytes it already has.
    assert parts[: len(early_parts)] == early_parts
    master = (await fetch(client, video["video_urls"]["hls"])).text
    assert master.count("#EXT-X-STREAM-INF") == 2 and master.count("AVERAGE-BANDWIDTH=") == 2
    assert "BANDWIDTH=1128000," not in master  # measured now
    # The first video taught the machine its encode speed: the next one's plan uses it.
    assert await passes.known_throughput(runtime.cache) is not None


async def test_a_fast_machine_makes_every_rung_in_one_run_and_the_lowest_plays_early(
    runtime: Runtime, client: httpx.AsyncClient, long_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progressive, "SPEED_MARGIN", 1e-3)
    read_at(2.0, monkeypatch)  # the one run over the 20 s clip lasts 10 s
    # Earlier jobs on this machine ran far faster than real time.
    await passes.remember_throughput(runtime.cache, work=1e12, seconds=10.0)
    learned = await passes.known_throughput(runtime.cache)
    runs: list[list[str]] = []
    encode_ladder = processing.encode_ladder

    async def counted(ff: Any, source: Path, info: Any, rungs: list[Any], *a: Any, **k: Any) -> Any:
        runs.append([rung.name for rung in rungs])
        return await encode_ladder(ff, source, info, rungs, *a, **k)

    monkeypatch.setattr(processing, "encode_ladder", counted)
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, long_clip, chunk=4 * 1024 * 1024)

    state = await wait_playable_while_encoding(client, creator, video_id)
    assert state["renditions_ready"] == ["360p"], state
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    growing = (await fetch(client, video["video_urls"]["360p"])).text
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing and "#EXT-X-ENDLIST" not in growing
    early_parts, _ = await decode(client, growing)

    # Every rung grows in step: the lowest is whole only when the whole ladder is.
    deadline = time.monotonic() + 120
    while True:
        playlist = (await fetch(client, video["video_urls"]["360p"])).text
        status = await client.get(f"{API}/videos/{video_id}/status", headers=creator.headers)
        state = status.json()
        if "#EXT-X-ENDLIST" in playlist:
            assert state["progress"] == 100, state
            break
        assert state["status"] == "ready" and state["renditions_ready"] == ["360p"], state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)
    assert state["renditions_ready"] == ["360p", "480p"], state
    assert runs == [["360p", "480p"]]
    parts, last_frame = await decode(client, playlist)
    assert last_frame > 19.5 and parts[: len(early_parts)] == early_parts
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    assert set(video["video_urls"]) == {"hls", "mp4", "360p", "480p"}
    poster = await fetch(client, video["thumbnail_url"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/webp"
    # This encode (at twice real time, not a million times) is averaged into what is known.
    now_known = await passes.known_throughput(runtime.cache)
    assert learned is not None and now_known is not None and now_known < learned


async def test_a_short_clip_is_published_whole_at_the_end(
    runtime: Runtime, client: httpx.AsyncClient, short_clip: Path
) -> None:
    """Shorter than one segment: there is nothing to show early, and nothing stays growing."""
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, short_clip)
    done = await wait_processed(client, creator, video_id)
    assert done["renditions_ready"] == ["360p", "480p"]
    async with runtime.unit_of_work(write=False) as session:
        video = await session.get_one(Video, video_id)
        assert not any(r.get("live") for r in video.renditions)


async def growing_rung_of_a_dead_attempt(runtime: Runtime, video_id: str) -> lease.Claim:
    """What a worker that died mid-transcode leaves: a 360p rung shown while it grew, one
    segment stored and listed, one more stored (its playlist never got to name it)."""
    claim = await lease.claim_video(runtime, video_id)
    assert claim is not None
    prefix = processing.rung_prefix(video_id, "360p")
    for name, data in [("init.mp4", b"old init"), ("seg_00000.m4s", b"old segment"),
                       ("seg_00001.m4s", b"a segment nobody listed")]:  # fmt: skip
        await runtime.storage.put_bytes(prefix + name, data, "video/mp4")
    growing = {
        "name": "360p", "width": 640, "height": 360, "bandwidth": 1128000,
        "average_bandwidth": None, "codecs": "avc1.64001e,mp4a.40.2", "frame_rate": 30.0,
        "playlist_key": prefix + "index.m3u8", "live": True,
        "segments": [["seg_00000.m4s", 4.0]],
    }  # fmt: skip
    async with runtime.unit_of_work() as session:
        video = await session.get_one(Video, video_id)
        video.renditions = [growing]
        video.status = "ready"
    return claim


async def test_a_rerun_withdraws_the_rung_a_dead_attempt_was_growing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    short_clip: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creator = await make_user(runtime)
    await runtime.jobs.stop_consumer()  # this test runs the job itself
    video_id = await upload_video(client, creator, short_clip)
    await growing_rung_of_a_dead_attempt(runtime, video_id)
    async with runtime.unit_of_work() as session:
        video = await session.get_one(Video, video_id)
        video.lease_until = utcnow() - timedelta(seconds=1)  # the dead worker's lease lapses
    prefix = processing.rung_prefix(video_id, "360p")

    # What the video looks like once the new attempt starts, before it encodes anything.
    seen: dict[str, Any] = {}
    fetch_source = processing.fetch_source

    async def look_then_fetch(rt: Runtime, claim: lease.Claim, *args: Any) -> None:
        async with rt.unit_of_work(write=False) as session:
            video = await session.get_one(Video, claim.video_id, populate_existing=True)
            seen.update(status=video.status, renditions=list(video.renditions))
        seen["files"] = [n for n in ("init.mp4", "seg_00000.m4s", "seg_00001.m4s")
                         if await rt.storage.exists(prefix + n)]  # fmt: skip
        await fetch_source(rt, claim, *args)

    monkeypatch.setattr(processing, "fetch_source", look_then_fetch)
    await processing.process_video(runtime, video_id)
    assert seen == {"status": "processing", "renditions": [], "files": []}

    status = (await client.get(f"{API}/videos/{video_id}/status", headers=creator.headers)).json()
    assert status["progress"] == 100 and status["renditions_ready"] == ["360p", "480p"], status
    assert not await runtime.storage.exists(prefix + "seg_00001.m4s")
    assert await runtime.storage.get_bytes(prefix + "seg_00000.m4s") != b"old segment"
    video = (await client.get(f"{API}/videos/{video_id}", headers=creator.headers)).json()
    playlist = (await fetch(client, video["video_urls"]["360p"])).text
    assert "#EXT-X-ENDLIST" in playlist
    _, last_frame = await decode(client, playlist)
    assert last_frame > 0.8


async def test_a_failed_attempt_withdraws_the_rung_it_was_growing(
    runtime: Runtime, client: httpx.AsyncClient, short_clip: Path
) -> None:
    creator = await make_user(runtime)
    await runtime.jobs.stop_consumer()
    video_id = await upload_video(client, creator, short_clip)
    claim = await growing_rung_of_a_dead_attempt(runtime, video_id)
    await processing.fail(runtime, claim, "transcode_failed", "the decoder gave up half way")
    status = (await client.get(f"{API}/videos/{video_id}/status", headers=creator.headers)).json()
    assert status["status"] == "failed" and status["renditions_ready"] == [], status
    assert status["error"]["code"] == "transcode_failed"
    for name in ("init.mp4", "seg_00000.m4s", "seg_00001.m4s"):
        assert not await runtime.storage.exists(processing.rung_prefix(video_id, "360p") + name)
