"""Turning feed candidates (video ids) into the rows a viewer may see, in fixed queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import BOUNDED, fetch_bounded
from reelstack.media.models import Video
from reelstack.media.service import Gated, GatedOwner, Viewer, may_see
from reelstack.social import service as social
from reelstack.social.visibility import Audience, Relationship


@dataclass(frozen=True)
class FeedItem:
    """A video placed in a feed, and why it is there."""

    video_id: str
    reason: str | None = None
    source: str = "feed"


def listable(viewer: Viewer, video: Gated, owner: GatedOwner, relation: Relationship) -> bool:
    """May the viewer find this video in a list? The one visibility function (through
    `may_see`), with unlisted videos kept out of lists and the viewer's own blocks honoured."""
    if relation.is_blocking:
        return False
    if video.visibility == Audience.UNLISTED.value and viewer.user_id != owner.id:
        return False
    return may_see(viewer, video, owner, relation)


@dataclass(frozen=True, slots=True)
class VideoCard:
    """A video as a feed card shows it: the columns shaping and the visibility check read
    (`media.views.CardVideo`, `media.service.Gated`), not a whole ORM object; a page loads
    tens of them, and building ORM objects was most of a page's cost."""

    id: str
    user_id: str
    caption: str
    description: str
    hashtags: list[str]
    category: str | None
    sound_id: str | None
    duration: float | None
    width: int | None
    height: int | None
    renditions: list[dict[str, Any]]
    mp4_key: str | None
    thumbnails: dict[str, Any]
    visibility: str
    allow_comments: bool
    status: str
    hidden_by_moderation: bool
    created_at: datetime
    view_count: int
    like_count: int
    comment_count: int
    share_count: int
    save_count: int
    counters_seq: int


@dataclass(frozen=True, slots=True)
class OwnerCard:
    id: str
    username: str
    display_name: str
    avatar_key: str | None
    is_verified: bool
    is_active: bool


Card = tuple[VideoCard, OwnerCard]
_VIDEO_FIELDS = tuple(f.name for f in fields(VideoCard))
_OWNER_FIELDS = tuple(f.name for f in fields(OwnerCard))

# Built once (a page asks for it on every request): statement building costs more than the
# query itself on SQLite.
CARDS = (
    select(
        *(getattr(Video, name) for name in _VIDEO_FIELDS),
        *(getattr(User, name) for name in _OWNER_FIELDS),
    )
    .join(User, User.id == Video.user_id)
    .where(Video.id.in_(bindparam("ids", expanding=True)))
    .execution_options(**BOUNDED)
)
_SPLIT = len(_VIDEO_FIELDS)


async def load_visible(
    session: AsyncSession, viewer: Viewer, video_ids: Sequence[str]
) -> dict[str, Card]:
    """The videos (with their creators) the viewer may find in a feed: two queries."""
    if not video_ids:
        return {}
    rows = await fetch_bounded(session, CARDS, {"ids": list(set(video_ids))})
    cards = [(VideoCard(*row[:_SPLIT]), OwnerCard(*row[_SPLIT:])) for row in rows]
    owner_ids = list({video.user_id for video, _ in cards})
    relations = await social.relationships(session, viewer.user_id, owner_ids)
    return {
        video.id: (video, owner)
        for video, owner in cards
        if listable(viewer, video, owner, relations[owner.id])
    }
