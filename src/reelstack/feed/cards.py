"""Turning feed candidates (video ids) into what a viewer may see of them, in fixed queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, String, bindparam, exists, literal, null, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchHistory
from reelstack.db import BOUNDED, fetch_bounded
from reelstack.interactions.models import Save, VideoLike
from reelstack.media.models import VIDEO_COUNTERS, Video
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


_VIDEO_FIELDS = tuple(f.name for f in fields(VideoCard))
_OWNER_FIELDS = tuple(f.name for f in fields(OwnerCard))
# When the video and its creator last changed, as the database has them: only ever compared
# for equality (is a kept card still the video's?), so not parsed into datetimes.
_CHANGED = (type_coerce(Video.updated_at, String()), type_coerce(User.updated_at, String()))
Changed = tuple[Any, Any]

# Built once (a page asks for it on every request): statement building costs more than the
# query itself on SQLite. What a card shows, for the cards `feed.writer` has not kept.
CARDS = (
    select(
        *(getattr(Video, name) for name in _VIDEO_FIELDS),
        _CHANGED[0],
        *(getattr(User, name) for name in _OWNER_FIELDS),
        _CHANGED[1],
    )
    .join(User, User.id == Video.user_id)
    .where(Video.id.in_(bindparam("ids", expanding=True)))
    .execution_options(**BOUNDED)
)
_SPLIT = len(_VIDEO_FIELDS)


async def load_cards(
    session: AsyncSession, video_ids: Sequence[str]
) -> dict[str, tuple[VideoCard, OwnerCard, Changed]]:
    """Whole cards, with the times their video and creator last changed; no visibility check:
    only for videos `load_visible` let through."""
    if not video_ids:
        return {}
    rows = await fetch_bounded(session, CARDS, {"ids": list(set(video_ids))})
    cards = {}
    for row in rows:
        video = VideoCard(*row[:_SPLIT])
        owner = OwnerCard(*row[_SPLIT + 1 : -1])
        cards[video.id] = (video, owner, (row[_SPLIT], row[-1]))
    return cards


class Owner(NamedTuple):
    id: str
    username: str
    is_active: bool


class CardFacts(NamedTuple):
    """What a page needs of a video besides its card: what `may_see` decides on, the live
    counters' columns, when the video and its creator last changed (whether a kept card is
    still the video's), and the viewer's own state (liked, saved, where they stopped)."""

    id: str
    user_id: str
    status: str
    visibility: str
    hidden_by_moderation: bool
    sound_id: str | None
    view_count: int
    like_count: int
    comment_count: int
    share_count: int
    save_count: int
    counters_seq: int
    changed_at: Changed
    owner: Owner
    liked: bool
    saved: bool
    position_ms: int | None
    duration_ms: int | None


# `CardFacts` up to its counters' sequence number, as the columns give them in that order.
_VIDEO_FACTS = (
    Video.id,
    Video.user_id,
    Video.status,
    Video.visibility,
    Video.hidden_by_moderation,
    Video.sound_id,
    *(getattr(Video, name) for name in VIDEO_COUNTERS.fields),
    getattr(Video, VIDEO_COUNTERS.seq_column),
)
_FACT_COLUMNS = (*_VIDEO_FACTS, *_CHANGED, User.username, User.is_active)
_FLAGS = len(_FACT_COLUMNS)


def _facts_statement(*, signed_in: bool) -> Select[Any]:
    """The facts of a page's videos and the viewer's relationship to their creators, likes,
    saves and resume positions: one round trip (it was five)."""
    viewer: Any = bindparam("viewer") if signed_in else None
    mine: list[Any]
    if viewer is None:
        mine = [literal(False), literal(False), null(), null()]
    else:
        mine = [
            exists().where(VideoLike.user_id == viewer, VideoLike.video_id == Video.id),
            exists().where(Save.user_id == viewer, Save.video_id == Video.id),
            WatchHistory.position_ms,
            WatchHistory.duration_ms,
        ]
    stmt = select(*_FACT_COLUMNS, *social.gate_columns(viewer, Video.user_id), *mine).join(
        User, User.id == Video.user_id
    )
    if viewer is not None:
        stmt = stmt.outerjoin(
            WatchHistory, (WatchHistory.user_id == viewer) & (WatchHistory.video_id == Video.id)
        )
    return stmt.where(Video.id.in_(bindparam("ids", expanding=True))).execution_options(**BOUNDED)


_FACTS = {signed_in: _facts_statement(signed_in=signed_in) for signed_in in (False, True)}


def _facts(row: Any) -> tuple[CardFacts, Relationship]:
    counted = len(_VIDEO_FACTS)
    video_changed, owner_changed, username, active = row[counted:_FLAGS]
    flags = row[_FLAGS : _FLAGS + len(social.GATE_FLAGS)]
    liked, saved, position, duration = row[_FLAGS + len(social.GATE_FLAGS) :]
    facts = CardFacts._make(
        [
            *row[:counted],
            (video_changed, owner_changed),
            Owner(row[1], username, active),
            bool(liked),
            bool(saved),
            position,
            duration,
        ]
    )
    # Only the flags visibility reads are loaded; the others stay False.
    return facts, Relationship(**dict(zip(social.GATE_FLAGS, map(bool, flags), strict=True)))


async def load_visible(
    session: AsyncSession, viewer: Viewer, video_ids: Sequence[str]
) -> dict[str, CardFacts]:
    """The videos the viewer may find in a feed, with the viewer's state of each: one query."""
    if not video_ids:
        return {}
    params: dict[str, Any] = {"ids": list(set(video_ids))}
    if viewer.user_id is not None:
        params["viewer"] = viewer.user_id
    rows = await fetch_bounded(session, _FACTS[viewer.user_id is not None], params)
    visible = {}
    for row in rows:
        facts, relation = _facts(row)
        if listable(viewer, facts, facts.owner, relation):
            visible[facts.id] = facts
    return visible
