"""Candidate sources for the For-You feed, each its own query in its own session so they run
concurrently: co-engagement, content affinity, following, trending, fresh uploads, random
exploration. Also the viewer's taste as the database knows it, and the facts of candidates."""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    cast,
    exists,
    func,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchEvent
from reelstack.db import utcnow
from reelstack.feed import trending
from reelstack.feed.schemas import TimeRange
from reelstack.feed.signals import SKIP_UNDER_MS, Signal
from reelstack.interactions.models import Save, VideoLike
from reelstack.media.models import Video, VideoStatus
from reelstack.media.newest import newest_of
from reelstack.recommend.features import Taste, VideoFacts
from reelstack.recommend.models import NotInterested
from reelstack.social.models import Follow
from reelstack.social.visibility import Audience

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

PER_SOURCE = 200
RECENT_DAYS = 30
NEW_CREATOR_VIDEOS = 3
MAX_FOLLOWEES = 2000  # the newest of this many followed accounts feed the following source
EXPLORE_STRETCHES = 3
MIN_PER_KEY = 12  # the fewest newest videos a source reads of each creator or sound


@dataclass(frozen=True)
class Candidate:
    video_id: str
    source: str


def _playable_now() -> list[ColumnElement[bool]]:
    """Public, ready, recent: what any source may offer (the page re-checks each viewer)."""
    return [
        Video.status == VideoStatus.READY.value,
        Video.visibility.in_([Audience.PUBLIC.value, Audience.FOLLOWERS.value]),
        Video.hidden_by_moderation.is_(False),
        Video.published_at >= utcnow() - timedelta(days=RECENT_DAYS),
    ]


def _playable(query: Select[Any]) -> Select[Any]:
    return query.where(*_playable_now())


async def _newest(
    session: AsyncSession, key: Any, values: Sequence[str], limit: int, source: str
) -> list[Candidate]:
    """The newest playable videos of these creators or sounds, each read from its own index
    range (see `media.newest`); a few of each rather than all `limit` from the most prolific
    one: a source should offer variety, and reading `limit` rows of every creator to keep
    `limit` of them all was most of a list build's database time."""
    per_key = max(MIN_PER_KEY, -(-2 * limit // max(1, len(values))))
    rows = await newest_of(session, key, values, *_playable_now(), limit=limit, per_key=per_key)
    return [Candidate(vid, source) for vid, _ in rows]


def has_hashtag(session: AsyncSession, tag: str) -> Any:
    """`videos.hashtags` (a JSON list) contains `tag`, in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(Video.hashtags, JSONB).contains([tag])
    each = func.json_each(Video.hashtags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


async def _ids(session: AsyncSession, query: Select[Any], source: str) -> list[Candidate]:
    return [Candidate(vid, source) for vid in await session.scalars(query)]


async def positive_videos(session: AsyncSession, user_id: str, limit: int = 30) -> list[str]:
    """Videos the user liked or watched through most recently: seeds of co-engagement."""
    liked = await session.scalars(
        select(VideoLike.video_id)
        .where(VideoLike.user_id == user_id)
        .order_by(VideoLike.created_at.desc())
        .limit(limit)
    )
    return list(liked)


async def co_engagement(session: AsyncSession, seeds: Sequence[str]) -> list[Candidate]:
    """People who liked what the viewer liked also liked these."""
    if not seeds:
        return []
    likers = select(VideoLike.user_id).where(VideoLike.video_id.in_(seeds)).limit(500)
    query = (
        select(VideoLike.video_id)
        .where(VideoLike.user_id.in_(likers), VideoLike.video_id.not_in(seeds))
        .group_by(VideoLike.video_id)
        .order_by(func.count().desc())
        .limit(PER_SOURCE)
    )
    return await _ids(session, query, "coengagement")


async def affinity(session: AsyncSession, taste: Taste) -> list[Candidate]:
    """Recent videos of the hashtags, creators, categories and sounds the viewer likes."""
    found: list[Candidate] = []

    def top(weights: dict[str, float], n: int) -> list[str]:
        return [k for k, v in sorted(weights.items(), key=lambda kv: -kv[1])[:n] if v > 0]

    base = _playable(select(Video.id)).order_by(Video.published_at.desc())
    for tag in top(taste.hashtags, 4):
        found += await _ids(session, base.where(has_hashtag(session, tag)).limit(80), "affinity")
    found += await _newest(session, Video.user_id, top(taste.creators, 10), 80, "affinity")
    for category in top(taste.categories, 2):
        found += await _ids(session, base.where(Video.category == category).limit(60), "affinity")
    found += await _newest(session, Video.sound_id, top(taste.sounds, 5), 40, "affinity")
    return found


async def following(session: AsyncSession, user_id: str) -> list[Candidate]:
    followees = await session.scalars(
        select(Follow.followee_id)
        .where(Follow.follower_id == user_id)
        .order_by(Follow.created_at.desc())
        .limit(MAX_FOLLOWEES)
    )
    return await _newest(session, Video.user_id, list(followees), PER_SOURCE // 2, "following")


async def fresh(session: AsyncSession) -> list[Candidate]:
    """Uploads of the last 24 hours (new creators get their boost in ranking)."""
    query = (
        _playable(select(Video.id))
        .where(Video.published_at >= utcnow() - timedelta(hours=24))
        .order_by(Video.published_at.desc())
        .limit(PER_SOURCE)
    )
    return await _ids(session, query, "fresh")


async def explore(
    session: AsyncSession, rng: random.Random, stretches: int = EXPLORE_STRETCHES
) -> list[Candidate]:
    """A few random stretches of the last month: cheap on the publish-time index, and read in
    one statement (a `UNION ALL` of the stretches), not one round trip each."""
    now = utcnow()
    parts = [
        select(
            _playable(select(Video.id))
            .where(Video.published_at >= now - timedelta(days=RECENT_DAYS * rng.random()))
            .order_by(Video.published_at)
            .limit(30)
            .subquery()
        )
        for _ in range(stretches)
    ]
    if not parts:
        return []
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    return [Candidate(vid, "explore") for vid in (await session.execute(statement)).scalars()]


async def trending_now(rt: Runtime) -> list[Candidate]:
    return [
        Candidate(t.video_id, "trending") for t in await trending.trending_ids(rt, TimeRange.DAY)
    ]


async def in_own_session(
    rt: Runtime, work: Callable[[AsyncSession], Awaitable[list[Candidate]]]
) -> list[Candidate]:
    async with rt.unit_of_work(write=False) as session:
        return await work(session)


# -- the viewer's taste ---------------------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
    creator_id: str
    hashtags: tuple[str, ...]
    category: str | None
    sound_id: str | None


# What this process read of videos' attributes lately, reused for a few minutes: every page
# of a For-You session folds the same recently watched videos into its taste. A hashtag edit
# reaches the taste once the entry expires.
ATTRIBUTES_KEPT = 50_000
ATTRIBUTES_SECONDS = 300.0
_attributes: OrderedDict[str, tuple[float, Attributes]] = OrderedDict()


async def attributes(session: AsyncSession, video_ids: Sequence[str]) -> dict[str, Attributes]:
    found: dict[str, Attributes] = {}
    missing = []
    now = time.monotonic()
    for vid in set(video_ids):
        kept = _attributes.get(vid)
        if kept is not None and now - kept[0] < ATTRIBUTES_SECONDS:
            found[vid] = kept[1]
        else:
            missing.append(vid)
    if not missing:
        return found
    rows = await session.execute(
        select(Video.id, Video.user_id, Video.hashtags, Video.category, Video.sound_id).where(
            Video.id.in_(missing)
        )
    )
    for vid, uid, tags, cat, snd in rows:
        found[vid] = Attributes(uid, tuple(tags or ()), cat, snd)
        _attributes[vid] = (now, found[vid])
        _attributes.move_to_end(vid)
    while len(_attributes) > ATTRIBUTES_KEPT:
        _attributes.popitem(last=False)
    return found


def apply_signals(taste: Taste, signals: Sequence[Signal], attrs: dict[str, Attributes]) -> None:
    """Fold signals into a taste; "not interested" demotes the video's creator and hashtags."""
    for signal in signals:
        if signal.video_id is None:
            taste.add(signal.weight, creator=signal.creator_id)
            continue
        found = attrs.get(signal.video_id)
        if found is not None:
            taste.add(
                signal.weight,
                hashtags=found.hashtags,
                creator=found.creator_id,
                category=found.category,
                sound=found.sound_id,
            )


async def stored_signals(session: AsyncSession, user_id: str) -> list[Signal]:
    """The user's lasting signals from the rows: likes, saves, follows, not-interested marks
    and the last month's watches."""
    since = utcnow() - timedelta(days=RECENT_DAYS)
    found: list[Signal] = []
    for kind, model in (("like", VideoLike), ("save", Save), ("not_interested", NotInterested)):
        rows = await session.scalars(
            select(model.video_id)
            .where(model.user_id == user_id)
            .order_by(model.created_at.desc())
            .limit(200)
        )
        found += [Signal(kind, vid, None, 0.0) for vid in rows]
    followees = await session.scalars(
        select(Follow.followee_id).where(Follow.follower_id == user_id).limit(500)
    )
    found += [Signal("follow", None, creator, 0.0) for creator in followees]
    watches = await session.execute(
        select(WatchEvent.video_id, WatchEvent.watched_ms, WatchEvent.duration_ms)
        .where(WatchEvent.user_id == user_id, WatchEvent.created_at >= since)
        .order_by(WatchEvent.created_at.desc())
        .limit(500)
    )
    for vid, watched, duration in watches:
        if watched >= duration / 2:
            found.append(Signal("watched", vid, None, 0.0))
        elif watched < SKIP_UNDER_MS:
            found.append(Signal("skipped", vid, None, 0.0))
    return found


async def build_taste(
    session: AsyncSession, user_id: str | None, session_signals: Sequence[Signal]
) -> tuple[Taste, set[str]]:
    """The viewer's taste from stored and session signals, and the videos they turned down."""
    signals = list(session_signals)
    if user_id is not None:
        signals += await stored_signals(session, user_id)
    attrs = await attributes(session, [s.video_id for s in signals if s.video_id])
    taste = Taste()
    apply_signals(taste, signals, attrs)
    rejected = {s.video_id for s in signals if s.video_id and s.kind == "not_interested"}
    return taste, rejected


# -- facts of candidates ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """What a list build reads of a candidate and its creator: the facts ranking needs and
    the columns visibility is decided on (`media.service.may_see`), not whole rows."""

    id: str
    user_id: str
    status: str
    visibility: str
    hidden_by_moderation: bool
    sound_id: str | None
    category: str | None
    hashtags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CandidateOwner:
    id: str
    is_active: bool


# Built once: composing the statement costs more than running it on SQLite.
_CANDIDATE_COLUMNS = (
    select(
        Video.id,
        Video.user_id,
        Video.status,
        Video.visibility,
        Video.hidden_by_moderation,
        Video.sound_id,
        Video.category,
        Video.hashtags,
        Video.published_at,
        Video.created_at,
        Video.view_count,
        Video.like_count,
        Video.share_count,
        User.username,
        User.is_active,
        User.video_count,
    )
    .join(User, User.id == Video.user_id)
    .where(Video.id.in_(bindparam("ids", expanding=True)))
)


async def facts_of(
    session: AsyncSession, video_ids: Sequence[str]
) -> tuple[dict[str, VideoFacts], dict[str, tuple[CandidateRow, CandidateOwner]]]:
    """What ranking needs of each candidate (two queries), and what visibility is decided on."""
    if not video_ids:
        return {}, {}
    ids = list(set(video_ids))
    rows = (await session.execute(_CANDIDATE_COLUMNS, {"ids": ids})).all()
    since = utcnow() - timedelta(days=7)
    through = func.sum(case((WatchEvent.watched_ms * 2 >= WatchEvent.duration_ms, 1), else_=0))
    completion = {
        vid: (float(done or 0) / total if total else 0.5)
        for vid, done, total in await session.execute(
            select(WatchEvent.video_id, through, func.count())
            .where(WatchEvent.video_id.in_(ids), WatchEvent.created_at >= since)
            .group_by(WatchEvent.video_id)
        )
    }
    facts: dict[str, VideoFacts] = {}
    found: dict[str, tuple[CandidateRow, CandidateOwner]] = {}
    for r in rows:
        hashtags = tuple(r.hashtags or ())
        facts[r.id] = VideoFacts(
            video_id=r.id,
            creator_id=r.user_id,
            creator_name=r.username,
            hashtags=hashtags,
            category=r.category,
            sound_id=r.sound_id,
            published_ts=(r.published_at or r.created_at).timestamp(),
            views=r.view_count,
            likes=r.like_count,
            shares=r.share_count,
            completion=completion.get(r.id, 0.5),
            new_creator=r.video_count <= NEW_CREATOR_VIDEOS,
        )
        found[r.id] = (
            CandidateRow(
                r.id,
                r.user_id,
                r.status,
                r.visibility,
                r.hidden_by_moderation,
                r.sound_id,
                r.category,
                hashtags,
            ),
            CandidateOwner(r.user_id, r.is_active),
        )
    return facts, found
