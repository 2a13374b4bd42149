"""Sounds: who may hear and reuse one, the sound pages, trending, and what search indexes.

A sound is usable, shown and listed only while its source video is: the viewer must be allowed
to see that video (`media.service.may_see`, over the one visibility function), and listings
further leave out what `can_view(listing=True)` leaves out (unlisted videos).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.accounts.views import avatar_url
from reelstack.db import utcnow
from reelstack.errors import NotFound
from reelstack.infra.pagination import Keyset, PageParams
from reelstack.interactions import service as interactions
from reelstack.media import service as media
from reelstack.media.models import Video, VideoStatus
from reelstack.social import service as social
from reelstack.social.visibility import Audience, Relationship, can_view
from reelstack.sounds.models import Sound, SoundUse
from reelstack.sounds.schemas import SoundCreator, SoundOut

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

SOUND_NOT_FOUND = "No such sound."
TRENDING_WINDOW = timedelta(days=7)
TRENDING_MAX = 100


def original_title(username: str) -> str:
    return f"original sound - @{username}"


def audio_key(sound_id: str) -> str:
    return f"sounds/{sound_id}/audio.m4a"


def sound_prefix(sound_id: str) -> str:
    return f"sounds/{sound_id}/"


@dataclass(frozen=True)
class SoundDoc:
    """What the search index keeps of a sound: nothing private."""

    id: str
    title: str
    creator_username: str
    creator_display_name: str
    usage_count: int
    created_at: datetime


@dataclass(frozen=True)
class SeenSound:
    sound: Sound
    creator: User
    source: Video


def _may_use(
    viewer: media.Viewer, video: Video, owner: User, relation: Relationship, *, listing: bool
) -> bool:
    """The sound's source video is one the viewer may see (and, in lists, may list)."""
    if not media.may_see(viewer, video, owner, relation):
        return False
    return not listing or can_view(
        viewer.user_id,
        owner.id,
        Audience(video.visibility),
        relation,
        listing=True,
        hidden_by_moderation=video.hidden_by_moderation,
        viewer_is_moderator=viewer.is_moderator,
    )


async def visible_sound(session: AsyncSession, viewer: media.Viewer, sound_id: str) -> SeenSound:
    """The sound, if the viewer may see its source video; otherwise it does not exist for them.
    One round trip: sound, creator, source video and the viewer's relationship to the creator."""
    query = (
        select(Sound, User, Video, *social.relationship_columns(viewer.user_id, Video.user_id))
        .join(Video, Video.id == Sound.video_id)
        .join(User, User.id == Video.user_id)
        .where(Sound.id == sound_id)
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(SOUND_NOT_FOUND, code="sound_not_found")
    sound, creator, source = row[0], row[1], row[2]
    if not _may_use(viewer, source, creator, social.relationship_from_row(row), listing=False):
        raise NotFound(SOUND_NOT_FOUND, code="sound_not_found")
    return SeenSound(sound, creator, source)


async def usable_sound(session: AsyncSession, user_id: str, sound_id: str) -> Sound:
    """A sound `user_id` may put under a new video (404 `sound_not_found` otherwise)."""
    return (await visible_sound(session, media.Viewer(user_id), sound_id)).sound


def sound_out(rt: Runtime, sound: Sound, creator: User) -> SoundOut:
    """Only call after the visibility check: this signs the audio URL."""
    return SoundOut(
        sound_id=sound.id,
        title=sound.title,
        creator=SoundCreator(
            user_id=creator.id,
            username=creator.username,
            display_name=creator.display_name,
            avatar_url=avatar_url(rt.media, creator, "small"),
        ),
        duration=sound.duration,
        usage_count=sound.usage_count,
        is_original=sound.is_original,
        audio_url=rt.playback.file_url(sound.audio_key),
        created_at=sound.created_at,
    )


async def sounds_out(
    rt: Runtime,
    session: AsyncSession,
    viewer: media.Viewer,
    sound_ids: Sequence[str],
    *,
    listing: bool = True,
) -> list[SoundOut]:
    """The sounds the viewer may see (in lists: may list), in the order given; two queries
    plus the relationship look-ups, whatever their number (search pages use this too)."""
    if not sound_ids:
        return []
    rows = (
        await session.execute(
            select(Sound, User, Video)
            .join(Video, Video.id == Sound.video_id)
            .join(User, User.id == Video.user_id)
            .where(Sound.id.in_(list(sound_ids)))
        )
    ).all()
    relations = await social.relationships(
        session, viewer.user_id, list({row[1].id for row in rows})
    )
    found = {
        sound.id: sound_out(rt, sound, creator)
        for sound, creator, source in rows
        if _may_use(viewer, source, creator, relations[creator.id], listing=listing)
    }
    return [found[sound_id] for sound_id in sound_ids if sound_id in found]


async def sound_videos(
    session: AsyncSession, viewer: media.Viewer, sound_id: str, page: PageParams
) -> interactions.VideoListPage:
    """Ready videos that use the sound, newest first, those the viewer may list."""
    await visible_sound(session, viewer, sound_id)
    query = select(Video, Video.created_at, Video.id).where(
        Video.sound_id == sound_id,
        Video.status == VideoStatus.READY.value,
        # Unlisted videos stay out of lists, except for their own creator.
        or_(Video.visibility != Audience.UNLISTED.value, Video.user_id == viewer.user_id),
    )
    return await interactions.visible_page(
        session, viewer, query, Keyset(Video.created_at, Video.id), page
    )


async def trending_sound_ids(
    session: AsyncSession, limit: int, *, now: datetime | None = None
) -> list[str]:
    """Sounds of public, playable videos ranked by how many videos took them up in the last
    seven days (then by all-time use, then newest)."""
    since = (now or utcnow()) - TRENDING_WINDOW
    growth = (
        select(SoundUse.sound_id, func.count().label("uses"))
        .where(SoundUse.created_at >= since)
        .group_by(SoundUse.sound_id)
        .subquery()
    )
    query = (
        select(Sound.id)
        .join(growth, growth.c.sound_id == Sound.id)
        .join(Video, Video.id == Sound.video_id)
        .join(User, User.id == Video.user_id)
        .where(
            Video.visibility == Audience.PUBLIC.value,
            Video.status == VideoStatus.READY.value,
            Video.hidden_by_moderation.is_(False),
            User.is_active.is_(True),
        )
        .order_by(growth.c.uses.desc(), Sound.usage_count.desc(), Sound.created_at.desc(), Sound.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def trending_sounds(
    rt: Runtime, session: AsyncSession, viewer: media.Viewer, limit: int
) -> list[SoundOut]:
    # A few more than asked: creators who block the viewer are dropped after ranking.
    ids = await trending_sound_ids(session, min(TRENDING_MAX, limit * 2))
    return (await sounds_out(rt, session, viewer, ids, listing=True))[:limit]


# -- for the search index (contract with SEARCH) ------------------------------------------------
async def sound_titles(session: AsyncSession, sound_ids: Collection[str]) -> dict[str, str]:
    """Titles by sound id, for indexing videos by the sound they use."""
    if not sound_ids:
        return {}
    rows = await session.execute(select(Sound.id, Sound.title).where(Sound.id.in_(list(sound_ids))))
    return {sound_id: title for sound_id, title in rows}


async def sound_doc(session: AsyncSession, sound_id: str) -> SoundDoc | None:
    """A sound as the search index stores it; None if it is gone. Search still filters what
    it returns through `sounds_out`, which applies the source video's visibility."""
    row = (
        await session.execute(
            select(Sound, User.username, User.display_name)
            .join(User, User.id == Sound.user_id)
            .where(Sound.id == sound_id)
        )
    ).one_or_none()
    if row is None:
        return None
    sound, username, display_name = row
    return SoundDoc(
        id=sound.id,
        title=sound.title,
        creator_username=username,
        creator_display_name=display_name,
        usage_count=sound.usage_count,
        created_at=sound.created_at,
    )
