"""Sound audio files: cutting a video's own track out once, and fetching a reused one for the
processing job. Both go through the storage adapter, so they work with local files and S3."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from reelstack.errors import NotFound
from reelstack.infra.storage import ObjectNotFound
from reelstack.media.ffmpeg import FFmpeg, untrusted_input
from reelstack.media.models import Video
from reelstack.media.progressive import SoundTrack
from reelstack.sounds.schemas import SoundMode
from reelstack.sounds.service import usable_sound

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
SOUND_FILE = "sound.m4a"


async def extract_audio(ff: FFmpeg, video_file: Path, output: Path) -> Path:
    """The first audio track of `video_file` as an .m4a, copied without re-encoding."""
    await ff.run([
        *untrusted_input(video_file, "mov"), "-map", "0:a:0", "-vn", "-c:a", "copy",
        "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(output),
    ])  # fmt: skip
    return output


async def fetch_reused_sound(rt: Runtime, video_id: str, workdir: Path) -> SoundTrack | None:
    """The sound chosen at upload, copied into the job's work dir, if its creator may still
    use it. One no longer usable (its source video deleted or made private since) is dropped
    from the video, which then keeps its own audio and gets an original sound of its own."""
    async with rt.unit_of_work(write=False) as session:
        row = (
            await session.execute(
                select(Video.user_id, Video.sound_id, Video.sound_mode).where(Video.id == video_id)
            )
        ).one_or_none()
        if row is None or row.sound_id is None:
            return None
        try:
            sound = await usable_sound(session, row.user_id, row.sound_id)
        except NotFound:
            sound = None
        if sound is not None and sound.video_id == video_id:
            return None  # the video's own original sound: nothing to put under it
    if sound is None:
        async with rt.unit_of_work() as session:
            await session.execute(
                update(Video).where(Video.id == video_id).values(sound_id=None, sound_mode=None)
            )
        log.info("video %s: its chosen sound is no longer usable; keeping its own", video_id)
        return None
    path = workdir / SOUND_FILE
    try:
        await rt.storage.download(sound.audio_key, path)
    except ObjectNotFound:
        log.warning("video %s: the audio of sound %s is missing", video_id, sound.id)
        return None
    return SoundTrack(path=path, mix=row.sound_mode == SoundMode.MIX.value)
