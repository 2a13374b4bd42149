"""Background work of sounds: a processed video's original sound, crediting a reused sound,
and forgetting what a deleted video leaves behind. Each is safe to run twice."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from reelstack.accounts.models import User
from reelstack.db import call_after_commit, insert_ignoring_conflicts, utcnow
from reelstack.events import SoundCreated
from reelstack.infra.events import publish
from reelstack.infra.ids import new_id
from reelstack.media.ffmpeg import FFmpegError
from reelstack.media.models import Video, VideoStatus
from reelstack.media.processing import ffmpeg_for, original_key
from reelstack.media.uploads import spool_dir
from reelstack.sounds.audio import extract_audio
from reelstack.sounds.models import Sound, SoundUse
from reelstack.sounds.service import audio_key, original_title, sound_prefix

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)


async def credit_reused_sound(rt: Runtime, video_id: str) -> bool:
    """If the ready video uses somebody's sound, count it once; True if it uses one (credited
    now or before), False if the video has no sound or its own original."""
    async with rt.unit_of_work() as session:
        sound_id = await session.scalar(select(Video.sound_id).where(Video.id == video_id))
        if sound_id is None:
            return False
        source = await session.scalar(select(Sound.video_id).where(Sound.id == sound_id))
        if source is None:
            # The sound went away after the upload chose it: the video keeps what it was given.
            return True
        if source == video_id:
            return False
        added = await session.execute(
            insert_ignoring_conflicts(session, SoundUse.__table__)
            .values(sound_id=sound_id, video_id=video_id, created_at=utcnow())
            .returning(SoundUse.__table__.c.sound_id)
        )
        if added.first() is not None:
            await session.execute(
                update(Sound).where(Sound.id == sound_id).values(usage_count=Sound.usage_count + 1)
            )
        return True


async def create_original_sound(rt: Runtime, video_id: str) -> str | None:
    """The video's own audio as "original sound - @creator": cut out of the published MP4 (or
    the original) once, stored, and linked from the video. Returns the sound's id, or None for
    a video without audio, one using another sound, or one gone."""
    async with rt.unit_of_work(write=False) as session:
        row = (
            await session.execute(
                select(Video, User.username)
                .join(User, User.id == Video.user_id)
                .where(Video.id == video_id)
            )
        ).one_or_none()
        if row is None or row[0].status != VideoStatus.READY.value:
            return None
        video, username = row[0], row[1]
        existing = await session.scalar(select(Sound.id).where(Sound.video_id == video_id))
        if existing is not None:
            return existing
        if video.sound_id is not None or not (video.source_info or {}).get("has_audio"):
            return None
        source_key = video.mp4_key or original_key(video_id)
        duration = float(video.duration or 0.0)
    sound_id = new_id()
    key = audio_key(sound_id)
    spool = spool_dir(rt)
    downloaded = Path(tempfile.mkstemp(prefix="sound-src-", dir=spool)[1])
    extracted = Path(tempfile.mkstemp(prefix="sound-", suffix=".m4a", dir=spool)[1])
    try:
        await rt.storage.download(source_key, downloaded)
        await extract_audio(ffmpeg_for(rt), downloaded, extracted)
        # The file first: a sound row never points at audio that is not there yet.
        await rt.storage.put_file(key, extracted, "audio/mp4")
    except FFmpegError as error:
        log.warning("video %s: no audio track to make a sound of: %s", video_id, error.detail)
        return None
    finally:
        await asyncio.to_thread(_discard, downloaded, extracted)
    return await _record_original(rt, video_id, sound_id, username, duration)


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def _record_original(
    rt: Runtime, video_id: str, sound_id: str, username: str, duration: float
) -> str | None:
    key = audio_key(sound_id)
    async with rt.unit_of_work() as session:
        video = await session.get(Video, video_id, with_for_update=True)
        created = None
        if video is not None and video.sound_id is None:
            created = (
                await session.execute(
                    insert_ignoring_conflicts(session, Sound.__table__)
                    .values(
                        id=sound_id,
                        title=original_title(username),
                        user_id=video.user_id,
                        video_id=video_id,
                        duration=round(duration, 3),
                        audio_key=key,
                        usage_count=1,
                        is_original=True,
                        created_at=utcnow(),
                    )
                    .returning(Sound.__table__.c.id)
                )
            ).scalar()
        if created is None:
            # Deleted meanwhile, or a concurrent run got there first: our copy is not needed.
            async def discard() -> None:
                await rt.storage.delete_prefix(sound_prefix(sound_id))

            call_after_commit(session, discard)
            if video is None:
                return None
            return await session.scalar(select(Sound.id).where(Sound.video_id == video_id))
        assert video is not None
        video.sound_id = sound_id
        await session.execute(
            insert_ignoring_conflicts(session, SoundUse.__table__).values(
                sound_id=sound_id, video_id=video_id, created_at=utcnow()
            )
        )
        publish(session, SoundCreated(sound_id=sound_id, video_id=video_id, user_id=video.user_id))
    return sound_id


async def forget_video(rt: Runtime, video_id: str) -> None:
    """A deleted video no longer counts as a use, and its original sound goes with it (files
    first: if removing them fails, the retry still finds the rows that name them)."""
    async with rt.unit_of_work(write=False) as session:
        own = list(await session.scalars(select(Sound.id).where(Sound.video_id == video_id)))
    for sound_id in own:
        await rt.storage.delete_prefix(sound_prefix(sound_id))
    async with rt.unit_of_work() as session:
        used = list(
            await session.scalars(select(SoundUse.sound_id).where(SoundUse.video_id == video_id))
        )
        if used:
            await session.execute(delete(SoundUse).where(SoundUse.video_id == video_id))
            await session.execute(
                update(Sound)
                .where(Sound.id.in_(used), Sound.usage_count > 0)
                .values(usage_count=Sound.usage_count - 1)
            )
        if own:
            await session.execute(delete(SoundUse).where(SoundUse.sound_id.in_(own)))
            await session.execute(delete(Sound).where(Sound.id.in_(own)))
