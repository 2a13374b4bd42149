"""From upload to an adaptive stream: rungs, thumbnails, failures with reasons, crash recovery."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from reelstack.db import utcnow
from reelstack.media import lease, processing, tasks
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests import clips
from tests.factories import assert_problem, make_user
from tests.media_helpers import (
    API,
    fetch,
    init_upload,
    playlist_uris,
    put_range,
    upload_video,
    wait_processed,
)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def portrait_clip(clip_dir: Path) -> Path:
    return clips.make_clip(clip_dir / "portrait.mp4", width=1080, height=1920, seconds=1.5)


@pytest.fixture(scope="module")
def small_clip(clip_dir: Path) -> Path:
    return clips.make_clip(clip_dir / "small.mp4", width=640, height=360, seconds=1.0, audio=False)


async def play_rung(client: httpx.AsyncClient, url: str) -> tuple[int, int, float]:
    """Fetch a rung playlist and every segment it names; decode them as a player would and
    return (width, height, seconds)."""
    playlist = await fetch(client, url)
    assert playlist.status_code == 200, playlist.text
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    data = io.BytesIO()
    for uri in playlist_uris(playlist.text):
        part = await fetch(client, uri)
        assert part.status_code == 200, uri
        data.write(part.content)
    data.seek(0)
    with av.open(data, mode="r", format="mp4") as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    last = frames[-1]
    seconds = float(last.time) if last.time is not None else 0.0
    return frames[0].width, frames[0].height, seconds


async def test_a_chunked_upload_with_a_repeat_and_a_resume_becomes_a_playable_ladder(
    runtime: Runtime, client: httpx.AsyncClient, portrait_clip: Path
) -> None:
    creator = await make_user(runtime)
    data = portrait_clip.read_bytes()
    total = len(data)
    chunk = total // 4 + 1
    started = await init_upload(
        client, creator, total, filename="portrait.mp4", caption="first #Clip", hashtags=["fun"]
    )
    upload_id = started["upload_id"]
    ranges = [(s, data[s : s + chunk]) for s in range(0, total, chunk)]
    # Out of order, and the second chunk sent twice.
    for start, body in [ranges[1], ranges[0], ranges[1]]:
        sent = await put_range(client, creator, upload_id, body, start, total)
        assert sent.status_code == 200, sent.text
    assert sent.json()["bytes_uploaded"] == len(ranges[0][1]) + len(ranges[1][1])
    # The connection drops in the middle of the third chunk: nothing of it is kept.
    start, body = ranges[2]
    cut = await client.put(
        f"{API}/videos/upload/{upload_id}/chunk",
        content=body[: len(body) // 2],
        headers={
            **creator.headers,
            "Content-Range": f"bytes {start}-{start + len(body) - 1}/{total}",
        },
    )
    assert_problem(cut, 400, "content_length_mismatch")
    early = await client.post(f"{API}/videos/upload/{upload_id}/complete", headers=creator.headers)
    assert_problem(early, 409, "upload_incomplete")
    # Resume: ask what is missing and send exactly that.
    state = (await client.get(f"{API}/videos/upload/{upload_id}", headers=creator.headers)).json()
    assert state["missing"] == [{"start": ranges[2][0], "end": total - 1}]
    for gap in state["missing"]:
        piece = data[gap["start"] : gap["end"] + 1]
        sent = await put_range(client, creator, upload_id, piece, gap["start"], total)
        assert sent.json() == {"bytes_uploaded": total, "total_bytes": total, "status": "uploaded"}
    done = await client.post(f"{API}/videos/upload/{upload_id}/complete", headers=creator.headers)
    assert done.status_code == 202
    assert done.json() == {"video_id": started["video_id"], "status": "processing"}

    status = await wait_processed(client, creator, started["video_id"])
    assert status["status"] == "ready" and status["error"] is None
    assert status["renditions_ready"] == ["360p", "480p", "720p", "1080p"]

    video = (await client.get(f"{API}/videos/{started['video_id']}")).json()
    assert video["user"]["username"] == creator.username
    assert video["hashtags"] == ["fun", "clip"]
    assert (video["width"], video["height"]) == (1080, 1920)
    assert 1.3 < video["duration"] < 1.7
    assert set(video["video_urls"]) == {"hls", "mp4", "360p", "480p", "720p", "1080p"}

    master = await client.get(video["video_urls"]["hls"])
    assert master.status_code == 200
    lines = master.text.splitlines()
    resolutions = [
        line.split("RESOLUTION=")[1].split(",")[0] for line in lines if "RESOLUTION=" in line
    ]
    # Portrait: the rungs are measured on the short side, so 1080p is 1080 wide.
    assert resolutions == ["360x640", "480x854", "720x1280", "1080x1920"]
    assert all(
        'CODECS="avc1.' in line and "mp4a.40.2" in line for line in lines if "CODECS" in line
    )
    assert all("BANDWIDTH=" in line for line in lines if line.startswith("#EXT-X-STREAM-INF"))

    for name, size in [("360p", (360, 640)), ("1080p", (1080, 1920))]:
        width, height, seconds = await play_rung(client, video["video_urls"][name])
        assert (width, height) == size
        assert seconds > 1.2

    progressive = await fetch(client, video["video_urls"]["mp4"])
    assert progressive.status_code == 200
    assert progressive.content[4:8] == b"ftyp"

    posters = video["thumbnails"]["posters"]
    assert set(posters) == {"180", "360", "720"}
    poster = await fetch(client, posters["360"])
    image = Image.open(io.BytesIO(poster.content))
    assert image.width == 360 and image.height == 640
    assert video["thumbnail_url"] == posters["360"]
    track = await fetch(client, video["thumbnails"]["storyboard_vtt"])
    assert track.status_code == 200 and track.text.startswith("WEBVTT")
    sprite_url = next(line for line in track.text.splitlines() if "#xywh=" in line)
    sprite = await fetch(client, sprite_url.split("#")[0])
    assert sprite.status_code == 200 and sprite.content[:2] == b"\xff\xd8"


async def test_a_small_source_is_never_upscaled(
    runtime: Runtime, client: httpx.AsyncClient, small_clip: Path
) -> None:
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, small_clip)
    status = await wait_processed(client, creator, video_id)
    assert status["renditions_ready"] == ["360p"]
    video = (await client.get(f"{API}/videos/{video_id}")).json()
    master = (await client.get(video["video_urls"]["hls"])).text
    assert "RESOLUTION=640x360" in master
    assert "mp4a" not in master  # a silent source has no audio track to announce
    width, height, seconds = await play_rung(client, video["video_urls"]["360p"])
    assert (width, height) == (640, 360)
    assert seconds == pytest.approx(1.0, abs=0.2)


def _hostile(kind: str, directory: Path) -> Path:
    source = directory / "source.mp4"
    if not source.exists():
        clips.make_clip(source, width=320, height=240, seconds=1.0)
    if kind == "text":
        return clips.make_text_file(directory / "notes.mp4")
    if kind == "playlist":
        return clips.make_hls_playlist(directory / "list.mp4")
    if kind == "ffconcat":
        return clips.make_ffconcat(directory / "concat.mp4")
    if kind == "audio_only":
        return clips.make_audio_only(directory / "audio.mp4")
    if kind == "huge":
        return clips.make_huge_claim_mp4(directory / "huge.mp4")
    if kind == "truncated":
        return clips.make_truncated(directory / "truncated.mp4", source)
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("text", "unsupported_format"),
        ("playlist", "playlist_refused"),
        ("ffconcat", "playlist_refused"),
        ("audio_only", "no_video_stream"),
        ("huge", "dimensions_too_large"),
        ("truncated", "truncated_file"),
    ],
)
async def test_hostile_uploads_fail_with_their_reason_and_publish_nothing(
    runtime: Runtime, client: httpx.AsyncClient, clip_dir: Path, kind: str, code: str
) -> None:
    creator = await make_user(runtime)
    stranger = await make_user(runtime)
    video_id = await upload_video(client, creator, _hostile(kind, clip_dir))
    status = await wait_processed(client, creator, video_id, timeout=30)
    assert status["status"] == "failed"
    assert status["error"]["code"] == code
    assert status["error"]["detail"]
    assert status["renditions_ready"] == []
    assert_problem(
        await client.get(f"{API}/videos/{video_id}", headers=stranger.headers),
        404,
        "video_not_found",
    )
    listed = await client.get(f"{API}/users/{creator.id}/videos")
    assert listed.json()["videos"] == []
    own = (await client.get(f"{API}/users/{creator.id}/videos", headers=creator.headers)).json()
    assert [(v["video_id"], v["status"]) for v in own["videos"]] == [(video_id, "failed")]


async def test_a_worker_that_dies_mid_job_is_replaced_and_the_video_finishes(
    runtime: Runtime, client: httpx.AsyncClient, small_clip: Path
) -> None:
    """The job's lease lapses when its worker dies; the sweeper queues it again."""
    creator = await make_user(runtime)
    await runtime.jobs.stop_consumer()  # no worker yet: the job waits in the queue
    video_id = await upload_video(client, creator, small_clip)
    dead = await lease.claim_video(runtime, video_id)  # a worker takes it, then dies
    assert dead is not None
    assert await lease.claim_video(runtime, video_id) is None  # its lease is still live
    async with runtime.unit_of_work() as session:
        await session.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert await tasks.requeue_stalled(runtime) == 1
    runtime.jobs.start_consumer(runtime, workers=1)
    status = await wait_processed(client, creator, video_id)
    assert status["status"] == "ready" and status["renditions_ready"] == ["360p"]
    async with runtime.unit_of_work(write=False) as session:
        video = await session.get_one(Video, video_id)
        assert video.attempts >= 2 and video.lease_owner is None


async def test_a_rerun_keeps_published_rungs_and_finishes_the_rest(
    runtime: Runtime, client: httpx.AsyncClient, clip_dir: Path
) -> None:
    """A job that stopped after the first rung resumes after it instead of starting over."""
    source = clips.make_clip(clip_dir / "sd.mp4", width=854, height=480, seconds=1.0)
    creator = await make_user(runtime)
    video_id = await upload_video(client, creator, source)
    first = await wait_processed(client, creator, video_id)
    assert first["renditions_ready"] == ["360p", "480p"]
    async with runtime.unit_of_work() as session:
        video = await session.get_one(Video, video_id)
        kept: list[dict[str, Any]] = [r for r in video.renditions if r["name"] == "360p"]
        video.renditions = kept
        video.job_state = "queued"
        video.lease_until = utcnow() - timedelta(seconds=1)
        video.progress = 40
    await processing.process_video(runtime, video_id)
    async with runtime.unit_of_work(write=False) as session:
        video = await session.get_one(Video, video_id)
        assert [r["name"] for r in video.renditions] == ["360p", "480p"]
        assert video.renditions[0] == kept[0]
        assert video.job_state == "done"


async def test_a_starting_process_clears_what_a_killed_one_left_on_disk(
    runtime: Runtime, client: httpx.AsyncClient, small_clip: Path
) -> None:
    creator = await make_user(runtime)
    await runtime.jobs.stop_consumer()
    video_id = await upload_video(client, creator, small_clip)
    assert await lease.claim_video(runtime, video_id) is not None  # a live job
    data_dir = runtime.settings.data_dir
    live = data_dir / "work" / f"{video_id}-live"
    dead = data_dir / "work" / "01deadvideo0000000000000000-x"
    for folder in (live, dead):
        folder.mkdir(parents=True)
        (folder / "source").write_bytes(b"x" * 1000)
    spool = data_dir / "tmp"
    spool.mkdir(exist_ok=True)
    old, fresh = spool / "chunk-old", spool / "chunk-fresh"
    old.write_bytes(b"half a chunk")
    fresh.write_bytes(b"a chunk arriving now")
    an_hour_ago = time.time() - processing.STALE_SPOOL_SECONDS - 10
    os.utime(old, (an_hour_ago, an_hour_ago))

    assert await processing.sweep_local_leftovers(runtime) == 2
    assert live.exists() and fresh.exists()
    assert not dead.exists() and not old.exists()
