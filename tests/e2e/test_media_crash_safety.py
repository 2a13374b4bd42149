"""Crashes in the middle of media work, with real processes: a worker killed mid-transcode, a
server stopped in the middle of an upload, an embedded server killed mid-transcode. Nothing
acknowledged is lost, nothing half-made is ever shown, and the work finishes once a process
is back.

The lowest rung is encoded first, in a pass of its own, and shown as it grows: an HLS EVENT
playlist of the segments finished so far. Killed then, a process leaves that rung as it was:
every listed segment whole, no end announced; the job's next attempt withdraws it and writes it
again, so nothing of the dead attempt stays published. Killed while the second pass makes the
rest of the ladder, it leaves the finished lowest rung playing and nothing of the others; the
next attempt makes only the rest.

Encodes here read their source at 1.5 times real time (a wrapper in front of the real ffmpeg),
as on a slow machine: each stage lasts long enough to be caught, whatever the machine."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import boto3
import httpx
import pytest

from reelstack.media.ffmpeg import ffmpeg_executable
from reelstack.media.ladder import HLS_SEGMENT_SECONDS
from tests import clips
from tests.conftest import S3_BUCKET
from tests.e2e.conftest import Processes, ReelstackProcess, ScaleOutEnv, reelstack_env
from tests.factories import PASSWORD
from tests.media_helpers import API, playlist_uris

LEASE_SECONDS = 3
# 1080p for the whole four-rung ladder, long enough that encoding it takes several seconds even
# on a quiet machine; 15 fps halves the frames to encode and decode without shortening it.
LONG_CLIP_SECONDS = 8.0
LADDER_1080P = {"360p": (640, 360), "480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
CRASH_SETTINGS = {
    "REELSTACK_PROCESSING_LEASE_SECONDS": str(LEASE_SECONDS),
    # Status polls and segment fetches are what this test does; the limiter is not its subject.
    "REELSTACK_RATE_LIMIT_ENABLED": "false",
}
# Starting a process costs seconds of imports; on a machine busy encoding, many more.
START_TIMEOUT = 60.0
RUNNING_TIMEOUT = 60.0
PROCESSING_TIMEOUT = 90.0
POLL_SECONDS = 0.1
READ_RATE = 1.5  # the 8 s clip: 5.3 s for the lowest rung's pass, as long again for the rest


# -- clips -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash-clips")


@pytest.fixture(scope="module")
def long_clip(clip_dir: Path) -> bytes:
    """An 8 s 1080p clip (about 3 MB): its four-rung ladder takes seconds to encode."""
    path = clips.make_clip(
        clip_dir / "long.mp4", width=1920, height=1080, seconds=LONG_CLIP_SECONDS, fps=15
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def short_clip(clip_dir: Path) -> bytes:
    """A 2 s 480p clip (two rungs), for the tests where the upload is the point."""
    return clips.make_clip(clip_dir / "short.mp4", width=854, height=480, seconds=2).read_bytes()


# -- deployments -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paced_ffmpeg(clip_dir: Path) -> str:
    """The real ffmpeg, reading the source of every encode (the runs with a filter graph) at
    most READ_RATE times as fast as it plays; every other run as it is."""
    real = ffmpeg_executable()
    script = clip_dir / "paced-ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *-filter_complex*) exec "{real}" -readrate {READ_RATE} "$@" ;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def scale_out_env(scale_out_env_with: ScaleOutEnv, paced_ffmpeg: str) -> dict[str, str]:
    return scale_out_env_with(**CRASH_SETTINGS, REELSTACK_FFMPEG_PATH=paced_ffmpeg)


@pytest.fixture
def embedded_env(tmp_path: Path, paced_ffmpeg: str) -> dict[str, str]:
    return reelstack_env(
        REELSTACK_DATA_DIR=str(tmp_path / "data"),
        REELSTACK_FFMPEG_PATH=paced_ffmpeg,
        **CRASH_SETTINGS,
    )


# -- processes ---------------------------------------------------------------------------------
def start_server(processes: Processes, env: dict[str, str], name: str) -> ReelstackProcess:
    server = processes.serve(env, name=name, wait=False)
    server.wait_until_healthy(START_TIMEOUT)
    return server


def start_worker(processes: Processes, env: dict[str, str], name: str) -> ReelstackProcess:
    worker = processes.worker(env, name=name, wait=False)
    worker.wait_for_output("worker consuming", START_TIMEOUT)
    return worker


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name may hold spaces and parentheses; the parent pid follows the last ')'.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    children, found, todo = _children_by_parent(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def crash(proc: ReelstackProcess) -> None:
    """The machine loses the process at once: SIGKILL to its process group, and to the encoders
    it started (they lead sessions of their own, so the group signal does not reach them)."""
    encoders = descendants(proc.popen.pid)
    os.killpg(proc.popen.pid, signal.SIGKILL)
    for pid in encoders:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.popen.wait(5)


# -- a client ----------------------------------------------------------------------------------
def sign_up(server: ReelstackProcess) -> dict[str, str]:
    username = f"creator_{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        response = http.post(
            f"{API}/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def start_upload(http: httpx.Client, auth: dict[str, str], size: int) -> dict[str, Any]:
    response = http.post(
        f"{API}/videos/upload/init",
        json={
            "file_size": size,
            "mime_type": "video/mp4",
            "filename": "clip.mp4",
            "caption": "a clip",
            "hashtags": [],
            "visibility": "public",
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def send_range(
    http: httpx.Client, auth: dict[str, str], upload_id: str, data: bytes, start: int, end: int
) -> dict[str, Any]:
    """PUT bytes [start, end) of `data`; fails the test unless the server acknowledges them."""
    response = http.put(
        f"{API}/videos/upload/{upload_id}/chunk",
        content=data[start:end],
        headers={**auth, "Content-Range": f"bytes {start}-{end - 1}/{len(data)}"},
    )
    assert response.status_code == 200, response.text
    acknowledged: dict[str, Any] = response.json()
    return acknowledged


def complete(http: httpx.Client, auth: dict[str, str], upload_id: str) -> None:
    response = http.post(f"{API}/videos/upload/{upload_id}/complete", headers=auth)
    assert response.status_code == 202, response.text


def upload(server: ReelstackProcess, auth: dict[str, str], data: bytes, chunk: int) -> str:
    """A chunked upload of `data`, completed; returns the video id."""
    with server.client() as http:
        started = start_upload(http, auth, len(data))
        for start in range(0, len(data), chunk):
            send_range(http, auth, started["upload_id"], data, start, min(start + chunk, len(data)))
        complete(http, auth, started["upload_id"])
    return str(started["video_id"])


def status_of(server: ReelstackProcess, auth: dict[str, str], video_id: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"{API}/videos/{video_id}/status", headers=auth)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def wait_for_status(
    server: ReelstackProcess,
    auth: dict[str, str],
    video_id: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    doing: str,
    watch: list[ReelstackProcess],
) -> dict[str, Any]:
    """Poll the processing status until `until` holds; fail at once on a failed job."""
    deadline = time.monotonic() + timeout
    state = status_of(server, auth, video_id)
    while not until(state):
        if state["status"] == "failed" or time.monotonic() > deadline:
            logs = "\n".join(proc.describe() for proc in watch)
            pytest.fail(f"not {doing} after {timeout:g}s: {state}\n{logs}")
        time.sleep(POLL_SECONDS)
        state = status_of(server, auth, video_id)
    return state


def fetch(server: ReelstackProcess, url: str) -> httpx.Response:
    """A media URL as a player fetches it: our paths from the server, presigned S3 URLs
    wherever they point."""
    if url.startswith(("http://", "https://")):
        return httpx.get(url, timeout=10.0)
    with server.client() as http:
        return http.get(url)


def play_rung(server: ReelstackProcess, url: str) -> tuple[int, int, float]:
    """Fetch a finished rung's playlist, its init section and every segment, and decode them as
    a player would: (width, height, seconds of the last frame)."""
    playlist = fetch(server, url)
    assert playlist.status_code == 200, f"{url}: {playlist.status_code} {playlist.text}"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist.text and "#EXT-X-ENDLIST" in playlist.text
    return decode_listed(server, url, playlist.text)


def decode_listed(server: ReelstackProcess, url: str, text: str) -> tuple[int, int, float]:
    uris = playlist_uris(text)
    assert len(uris) >= 2, text  # an init section and at least one segment
    data = io.BytesIO()
    for uri in uris:
        part = fetch(server, uri)
        assert part.status_code == 200, f"{uri}: {part.status_code}"
        data.write(part.content)
    data.seek(0)
    with av.open(data, mode="r", format="mp4") as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert frames, f"{url}: no picture"
    last = frames[-1]
    seconds = float(last.time) if last.time is not None else 0.0
    return frames[0].width, frames[0].height, seconds


def assert_every_listed_rung_plays(
    server: ReelstackProcess,
    video_id: str,
    ladder: dict[str, tuple[int, int]],
    *,
    duration: float,
) -> list[str]:
    """Whatever the video lists is whole: each rung's playlist and segments are there and decode
    at the rung's size, and the master playlist offers exactly those rungs. Returns them."""
    with server.client() as http:
        response = http.get(f"{API}/videos/{video_id}")
    assert response.status_code == 200, response.text
    video = response.json()
    rungs = [name for name in video["video_urls"] if name in ladder]
    assert rungs, f"nothing playable: {video}"
    for name in rungs:
        width, height, seconds = play_rung(server, video["video_urls"][name])
        assert (width, height) == ladder[name], name
        assert seconds > duration - 1.0, f"{name} stops after {seconds:.2f}s"
    master = fetch(server, video["video_urls"]["hls"])
    assert master.status_code == 200, master.text
    offered = [
        line.split("RESOLUTION=")[1].split(",")[0] for line in master.text.splitlines()
        if "RESOLUTION=" in line
    ]  # fmt: skip
    assert offered == [f"{ladder[name][0]}x{ladder[name][1]}" for name in rungs]
    return rungs


def listed_seconds(text: str) -> float:
    return sum(
        float(line[8:].split(",")[0]) for line in text.splitlines() if line[:8] == "#EXTINF:"
    )


def assert_growing_rung_plays(server: ReelstackProcess, video_id: str) -> tuple[str, float]:
    """The video offers exactly one rung, still being written: an EVENT playlist from segment
    0, with no end announced, whose every listed segment is whole (the frames decoded reach the
    end of the listed time). Returns the rung and the seconds listed."""
    with server.client() as http:
        response = http.get(f"{API}/videos/{video_id}")
    assert response.status_code == 200, response.text
    video = response.json()
    rungs = [name for name in video["video_urls"] if name in LADDER_1080P]
    assert rungs == ["360p"], video["video_urls"]
    assert "mp4" not in video["video_urls"], "the download exists before the ladder is done"
    playlist = fetch(server, video["video_urls"]["360p"])
    assert playlist.status_code == 200, playlist.text
    text = playlist.text
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-MEDIA-SEQUENCE:0" in text, text
    assert "#EXT-X-START:TIME-OFFSET=0," in text and "#EXT-X-ENDLIST" not in text, text
    assert playlist.headers["cache-control"] == "private, no-cache"
    uris = playlist_uris(text)
    assert "/seg_00000.m4s?" in uris[1], text  # from the start, not a live edge
    width, height, seconds = decode_listed(server, video["video_urls"]["360p"], text)
    assert (width, height) == LADDER_1080P["360p"]
    listed = listed_seconds(text)
    assert listed >= HLS_SEGMENT_SECONDS - 0.1, text  # at least one whole segment
    assert seconds > listed - 0.2, f"{listed:.2f}s listed, frames stop at {seconds:.2f}s"
    master = fetch(server, video["video_urls"]["hls"])
    assert master.status_code == 200, master.text
    assert master.text.count("#EXT-X-STREAM-INF") == 1, master.text
    # Nothing is measured yet: the rung's cap stands for its bandwidth (1000k + 128k audio).
    assert "BANDWIDTH=1128000," in master.text and "AVERAGE-BANDWIDTH" not in master.text
    return "360p", listed


def assert_rewritten(
    before: dict[str, Any], after: dict[str, Any], playlist_files: set[str]
) -> None:
    """Every file the dead attempt stored was replaced by the new attempt, and nothing but the
    finished rung's files (init, segments, playlist) is left under its prefix."""
    assert {key.rsplit("/", 1)[-1] for key in after} == playlist_files, sorted(after)
    assert before, "the dead attempt stored nothing"
    for key, stamp in before.items():
        assert key in after, key
        assert after[key] != stamp, f"{key} of the dead attempt is still there"


def final_playlist_files(server: ReelstackProcess, video_id: str, rung: str) -> set[str]:
    with server.client() as http:
        video = http.get(f"{API}/videos/{video_id}").json()
    text = fetch(server, video["video_urls"][rung]).text
    names = {uri.split("?", 1)[0].rsplit("/", 1)[1] for uri in playlist_uris(text)}
    return names | {"index.m3u8"}


def wait_past_lease(killed_at: float) -> None:
    """The last renewal happened before the kill, so its lease ends within LEASE_SECONDS."""
    time.sleep(max(0.0, killed_at + LEASE_SECONDS + 0.5 - time.monotonic()))


def first_rung_only(state: dict[str, Any]) -> bool:
    """The lowest rung plays while the ladder is still being encoded."""
    return bool(state["renditions_ready"] == ["360p"] and state["progress"] < 100)


def first_rung_playlist(server: ReelstackProcess, video_id: str) -> str:
    with server.client() as http:
        video = http.get(f"{API}/videos/{video_id}").json()
    return fetch(server, video["video_urls"]["360p"]).text


def first_rung_growing(server: ReelstackProcess, video_id: str) -> Callable[[dict[str, Any]], bool]:
    """The lowest rung plays while its own pass is still writing it."""

    def check(state: dict[str, Any]) -> bool:
        return first_rung_only(state) and "#EXT-X-ENDLIST" not in first_rung_playlist(
            server, video_id
        )

    return check


def first_rung_whole(server: ReelstackProcess, video_id: str) -> Callable[[dict[str, Any]], bool]:
    """The lowest rung's pass is over and it plays whole; the rest is still being encoded."""

    def check(state: dict[str, Any]) -> bool:
        return first_rung_only(state) and "#EXT-X-ENDLIST" in first_rung_playlist(server, video_id)

    return check


def stored_objects(s3_endpoint: str, prefix: str) -> dict[str, tuple[str, Any]]:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"]: (item["ETag"], item["LastModified"]) for item in listed}


# -- 1. scale-out: a worker killed mid-transcode -----------------------------------------------
def test_a_worker_killed_mid_transcode_never_shows_half_a_video_and_a_new_worker_finishes(
    processes: Processes,
    scale_out_env: dict[str, str],
    s3_endpoint: str,
    storage_prefix: str,
    long_clip: bytes,
) -> None:
    api = processes.serve(scale_out_env, name="api", wait=False)
    worker = start_worker(processes, scale_out_env, "worker")
    api.wait_until_healthy(START_TIMEOUT)
    auth = sign_up(api)
    video_id = upload(api, auth, long_clip, chunk=1024 * 1024)

    # The lowest rung's own pass is over and it plays whole; the worker dies while the second
    # pass makes the rest of the ladder.
    wait_for_status(
        api, auth, video_id, first_rung_whole(api, video_id),
        timeout=RUNNING_TIMEOUT, doing="the first rung whole", watch=[worker],
    )  # fmt: skip
    crash(worker)
    killed_at = time.monotonic()

    # Nobody sees half a rung: the 360p rung plays to the end, and nothing else is offered (not
    # the download, made from the 720p rung) or stored.
    state = status_of(api, auth, video_id)
    assert state["status"] == "ready" and state["progress"] < 100, state
    assert state["error"] is None, state
    assert state["renditions_ready"] == ["360p"], state
    listed = assert_every_listed_rung_plays(api, video_id, LADDER_1080P, duration=LONG_CLIP_SECONDS)
    assert listed == ["360p"]
    with api.client() as http:
        assert "mp4" not in http.get(f"{API}/videos/{video_id}").json()["video_urls"]
    first_rung_prefix = f"{storage_prefix}/videos/{video_id}/hls/360p/"
    first_rung_files = stored_objects(s3_endpoint, first_rung_prefix)
    assert first_rung_files, "the published 360p rung has no stored files"
    for other in ("480p", "720p", "1080p"):
        assert not stored_objects(s3_endpoint, f"{storage_prefix}/videos/{video_id}/hls/{other}/")

    # Without a worker nothing moves: the job is not lost, it waits.
    wait_past_lease(killed_at)
    stalled = status_of(api, auth, video_id)
    assert stalled["renditions_ready"] == ["360p"] and stalled["progress"] < 100, stalled

    # A new worker finds the lapsed lease as it starts and makes the rest of the ladder.
    replacement = start_worker(processes, scale_out_env, "worker-replacement")
    done = wait_for_status(
        api, auth, video_id, lambda s: s["progress"] == 100,
        timeout=PROCESSING_TIMEOUT, doing="finished", watch=[replacement],
    )  # fmt: skip
    assert done["status"] == "ready" and done["error"] is None, done
    assert done["renditions_ready"] == list(LADDER_1080P), done
    assert "requeued 1 stalled video jobs" in replacement.output(), replacement.describe()
    assert "withdrew" not in replacement.output(), replacement.describe()
    listed = assert_every_listed_rung_plays(api, video_id, LADDER_1080P, duration=LONG_CLIP_SECONDS)
    assert listed == list(LADDER_1080P)
    # The finished rung was kept as it was: not one of its files was written again.
    assert stored_objects(s3_endpoint, first_rung_prefix) == first_rung_files


# -- 2. embedded: a server restarted in the middle of an upload --------------------------------
def chunk_ranges(total: int, count: int) -> list[tuple[int, int]]:
    step = -(-total // count)
    return [(start, min(start + step, total)) for start in range(0, total, step)]


def spooled_chunks(data_dir: Path) -> list[Path]:
    """Chunk bodies the server has started to receive."""
    return list((data_dir / "tmp").glob("chunk-*"))


def start_chunk_and_stall(
    server: ReelstackProcess,
    auth: dict[str, str],
    upload_id: str,
    data: bytes,
    chunk: tuple[int, int],
) -> socket.socket:
    """A client that sends the headers and half the body of a chunk, then goes quiet."""
    start, end = chunk
    body = data[start:end]
    sock = socket.create_connection(("127.0.0.1", server.port or 0), timeout=5)
    head = (
        f"PUT {API}/videos/upload/{upload_id}/chunk HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {auth['Authorization']}\r\n"
        f"Content-Range: bytes {start}-{end - 1}/{len(data)}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_a_server_restarted_mid_upload_keeps_every_acknowledged_chunk(
    processes: Processes,
    embedded_env: dict[str, str],
    tmp_path: Path,
    short_clip: bytes,
    stop: str,
) -> None:
    data, total = short_clip, len(short_clip)
    ranges = chunk_ranges(total, 6)
    server = start_server(processes, embedded_env, "embedded")
    auth = sign_up(server)
    with server.client() as http:
        started = start_upload(http, auth, total)
        upload_id = started["upload_id"]
        # Half the chunks, not all in order: two separate stretches are acknowledged.
        for start, end in (ranges[0], ranges[3], ranges[1]):
            send_range(http, auth, upload_id, data, start, end)

    stalled: socket.socket | None = None
    if stop == "sigterm":
        assert server.stop(), f"no graceful shutdown\n{server.describe()}"
    else:
        # A chunk is on its way when the server dies: it has begun to spool half a body.
        stalled = start_chunk_and_stall(server, auth, upload_id, data, ranges[4])
        deadline = time.monotonic() + 10
        while not spooled_chunks(tmp_path / "data"):
            assert time.monotonic() < deadline, f"the chunk never arrived\n{server.describe()}"
            time.sleep(0.05)
        crash(server)

    try:
        restarted = start_server(processes, embedded_env, "embedded-restarted")
    finally:
        if stalled is not None:
            stalled.close()
    with restarted.client() as http:
        # The same sign-in still works, and the upload is exactly where the client left it.
        response = http.get(f"{API}/videos/upload/{upload_id}", headers=auth)
        assert response.status_code == 200, response.text
        state = response.json()
        acknowledged = [(ranges[0][0], ranges[1][1]), ranges[3]]
        assert [(r["start"], r["end"] + 1) for r in state["received"]] == acknowledged
        assert state["bytes_uploaded"] == sum(end - start for start, end in acknowledged)
        assert state["status"] == "uploading"
        missing = [(r["start"], r["end"] + 1) for r in state["missing"]]
        assert missing == [ranges[2], (ranges[4][0], total)]

        # The client sends what is missing and nothing else; the video is the file it sent.
        for start, end in missing:
            acked = send_range(http, auth, upload_id, data, start, end)
        assert acked == {"bytes_uploaded": total, "total_bytes": total, "status": "uploaded"}
        complete(http, auth, upload_id)
    done = wait_for_status(
        restarted, auth, started["video_id"], lambda s: s["progress"] == 100,
        timeout=PROCESSING_TIMEOUT, doing="processed", watch=[restarted],
    )  # fmt: skip
    assert done["status"] == "ready" and done["renditions_ready"] == ["360p", "480p"], done
    ladder = {"360p": (640, 360), "480p": (854, 480)}
    rungs = assert_every_listed_rung_plays(restarted, started["video_id"], ladder, duration=2.0)
    assert rungs == ["360p", "480p"]


# -- 3. embedded: the one server killed mid-transcode ------------------------------------------
def local_files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}


def test_an_embedded_server_killed_mid_transcode_finishes_the_video_once_restarted(
    processes: Processes, embedded_env: dict[str, str], tmp_path: Path, long_clip: bytes
) -> None:
    server = start_server(processes, embedded_env, "embedded")
    auth = sign_up(server)
    video_id = upload(server, auth, long_clip, chunk=1024 * 1024)
    # The lowest rung plays while its own pass is still writing it, and the server dies.
    wait_for_status(
        server, auth, video_id, first_rung_growing(server, video_id),
        timeout=RUNNING_TIMEOUT, doing="playable while encoding", watch=[server],
    )  # fmt: skip
    # It plays from the start with every listed segment whole and no end announced.
    assert_growing_rung_plays(server, video_id)
    crash(server)
    killed_at = time.monotonic()
    first_rung_dir = tmp_path / "data" / "media" / "videos" / video_id / "hls" / "360p"
    first_rung_files = local_files(first_rung_dir)
    assert {"init.mp4", "seg_00000.m4s"} <= set(first_rung_files), first_rung_files
    assert "index.m3u8" not in first_rung_files, "a growing rung has no stored VOD playlist"
    wait_past_lease(killed_at)

    # Its consumer's start-up sweep finds the job the dead process held, and runs it again.
    restarted = start_server(processes, embedded_env, "embedded-restarted")
    done = wait_for_status(
        restarted, auth, video_id, lambda s: s["progress"] == 100,
        timeout=PROCESSING_TIMEOUT, doing="finished", watch=[restarted],
    )  # fmt: skip
    assert done["status"] == "ready" and done["error"] is None, done
    assert done["renditions_ready"] == list(LADDER_1080P), done
    assert "requeued 1 stalled video jobs" in restarted.output(), restarted.describe()
    assert "withdrew the unfinished ['360p']" in restarted.output(), restarted.describe()
    rungs = assert_every_listed_rung_plays(
        restarted, video_id, LADDER_1080P, duration=LONG_CLIP_SECONDS
    )
    assert rungs == list(LADDER_1080P)
    assert_rewritten(
        first_rung_files,
        local_files(first_rung_dir),
        final_playlist_files(restarted, video_id, "360p"),
    )
