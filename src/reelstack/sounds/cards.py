"""The sound shown on video cards: one batched query per page of videos."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import BOUNDED, fetch_bounded
from reelstack.media.models import Video, VideoStatus
from reelstack.social.visibility import NO_RELATIONSHIP, Audience, can_view
from reelstack.sounds.models import Sound
from reelstack.sounds.schemas import SoundCard, SoundCardCreator

# Built once: a feed page asks it for the sounds of its cards.
SOUND_CARDS = (
    select(
        Sound.id,
        Sound.title,
        Sound.is_original,
        User.id,
        User.username,
        User.is_active,
        Video.visibility,
        Video.status,
        Video.hidden_by_moderation,
    )
    .join(Video, Video.id == Sound.video_id)
    .join(User, User.id == Video.user_id)
    .where(Sound.id.in_(bindparam("ids", expanding=True)))
    .execution_options(**BOUNDED)
)


async def sound_cards(
    session: AsyncSession, viewer_id: str | None, sound_ids: Collection[str]
) -> dict[str, SoundCard]:
    """Cards of the sounds whose source video the viewer may see, by id; no query at all when
    no video on the page has a sound.

    The relationship to each sound's creator is not loaded (a page would need three more
    queries), so followers-only sources count as not visible, the strict side of `can_view`.
    """
    if not sound_ids:
        return {}
    rows = await fetch_bounded(session, SOUND_CARDS, {"ids": list(sound_ids)})
    cards: dict[str, SoundCard] = {}
    for sound_id, title, original, user_id, username, active, audience, status, hidden in rows:
        playable = status == VideoStatus.READY.value and active
        if viewer_id != user_id and not playable:
            continue
        if not can_view(
            viewer_id, user_id, Audience(audience), NO_RELATIONSHIP, hidden_by_moderation=hidden
        ):
            continue
        cards[sound_id] = SoundCard(
            sound_id=sound_id,
            title=title,
            creator=SoundCardCreator(user_id=user_id, username=username),
            is_original=original,
        )
    return cards
