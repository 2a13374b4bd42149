"""Tone clips, what frequencies a track holds, and sound rows for tests of listings."""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from reelstack.db import utcnow
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from reelstack.sounds.models import Sound, SoundUse
from reelstack.sounds.service import audio_key, original_title
from tests.clips import ffmpeg
from tests.factories import TestUser
from tests.factories import eventually as shared_eventually
from tests.media_helpers import API, fetch

JOB_TIMEOUT = 60.0


def make_tone_clip(path: Path, frequency: int | None, *, seconds: float = 2.0) -> Path:
    """A small 320x240 H.264 clip with a pure tone of `frequency` Hz (None: no audio track)."""
    args = ["-f", "lavfi", "-i", f"testsrc2=s=320x240:r=30:d={seconds}"]
    if frequency is not None:
        args += ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000"]
    args += ["-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    if frequency is not None:
        args += ["-map", "1:a", "-c:a", "aac"]
    ffmpeg(*args, "-t", str(seconds), "-f", "mp4", str(path))
    return path


def tone_strengths(media: bytes, frequencies: list[int]) -> dict[int, float]:
    """How strong each frequency is in the first audio track of an MP4, relative to the
    strongest component of the whole spectrum (1.0 = it is the dominant one)."""
    with av.open(io.BytesIO(media), format="mov") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        chunks = [frame.to_ndarray()[0] for frame in container.decode(stream)]
    samples = np.concatenate(chunks).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    peak = float(spectrum.max())

    def around(frequency: int) -> float:
        near = (bins > frequency - 15) & (bins < frequency + 15)
        return float(spectrum[near].max()) / peak

    return {frequency: around(frequency) for frequency in frequencies}


def dominant_frequency(media: bytes) -> float:
    with av.open(io.BytesIO(media), format="mov") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(spectrum.argmax())])


eventually = functools.partial(shared_eventually, timeout=JOB_TIMEOUT, interval=0.1)


async def get_video(client: httpx.AsyncClient, user: TestUser, video_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/videos/{video_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def video_sound(client: httpx.AsyncClient, user: TestUser, video_id: str) -> dict[str, Any]:
    """The video's sound card, once the sound job has given it one."""

    async def probe() -> dict[str, Any] | None:
        sound: dict[str, Any] | None = (await get_video(client, user, video_id))["sound"]
        return sound

    found: dict[str, Any] = await eventually(probe, what=f"a sound on video {video_id}")
    return found


async def media_bytes(client: httpx.AsyncClient, url: str) -> bytes:
    r = await fetch(client, url)
    assert r.status_code == 200, url
    return r.content


async def add_sound(
    rt: Runtime,
    owner: TestUser,
    video_id: str,
    *,
    uses: list[datetime] | None = None,
    created_at: datetime | None = None,
) -> str:
    """A sound row of `video_id` (no audio file: for listings), with a use at each time given
    (videos of the same owner made here stand for the reusing videos)."""
    from tests.factories import make_video

    async with rt.unit_of_work() as session:
        sound = Sound(
            title=original_title(owner.username),
            user_id=owner.id,
            video_id=video_id,
            duration=30.0,
            audio_key="",
            usage_count=0,
            is_original=True,
            created_at=created_at or utcnow(),
        )
        session.add(sound)
        await session.flush()
        sound.audio_key = audio_key(sound.id)
        sound_id = sound.id
        (await session.get_one(Video, video_id)).sound_id = sound_id
    for moment in uses or []:
        user_video = await make_video(rt, owner)
        async with rt.unit_of_work() as session:
            session.add(SoundUse(sound_id=sound_id, video_id=user_video, created_at=moment))
            row = await session.get_one(Sound, sound_id)
            row.usage_count += 1
    return sound_id
