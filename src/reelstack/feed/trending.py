"""Trending: engagement velocity in a time window (views, likes, comments and shares, weighted,
newer engagement counting more), recomputed by a periodic job and served from the cache.

Each computation is a snapshot under its own version, so a reader paging through one keeps
its snapshot (for a while) even when the next one replaces it as current."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchEvent
from reelstack.comments.models import Comment
from reelstack.db import utcnow
from reelstack.errors import Unprocessable
from reelstack.feed.cards import CardFacts, FeedItem, load_visible
from reelstack.feed.schemas import TimeRange
from reelstack.infra.pagination import PageParams, decode_cursor, encode_cursor
from reelstack.interactions.models import Share, VideoLike
from reelstack.media.models import Video, VideoStatus
from reelstack.media.service import Viewer
from reelstack.social.visibility import Audience

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

ENGAGEMENT_WEIGHTS = {"views": 1.0, "likes": 4.0, "comments": 6.0, "shares": 8.0}
BUCKETS = 4  # the window in quarters: the newest quarter counts fully, the oldest 1/8
DECAY = (1.0, 0.5, 0.25, 0.125)
KEEP = 2000
GLOBAL = "global"


@dataclass(frozen=True)
class Trend:
    video_id: str
    score: float
    category: str | None


def current_key(time_range: TimeRange) -> str:
    return f"feed:trending:{time_range.value}"


def snapshot_key(time_range: TimeRange, version: str) -> str:
    return f"feed:trending:{time_range.value}:{version}"


async def _bucketed(
    rt: Runtime,
    column_video: Any,
    column_at: Any,
    since: datetime,
    now: datetime,
    *conditions: Any,
) -> dict[str, float]:
    """Decayed counts per video of one kind of engagement in [since, now]; each in its own
    short transaction, so the job never holds locks on several tables at once."""
    span = (now - since) / BUCKETS
    weight = case(
        *[(column_at >= now - span * (n + 1), DECAY[n]) for n in range(BUCKETS - 1)],
        else_=DECAY[-1],
    )
    async with rt.unit_of_work(write=False) as session:
        rows = await session.execute(
            select(column_video, func.sum(weight))
            .where(column_at >= since, *conditions)
            .group_by(column_video)
        )
        return {video_id: float(total or 0) for video_id, total in rows}


async def compute(rt: Runtime, time_range: TimeRange) -> list[Trend]:
    """Score every video engaged with in the window; the top ones, best first."""
    now = utcnow()
    since = now - timedelta(hours=time_range.hours)
    kinds = {
        "views": await _bucketed(
            rt, WatchEvent.video_id, WatchEvent.created_at, since, now, WatchEvent.counted.is_(True)
        ),
        "likes": await _bucketed(rt, VideoLike.video_id, VideoLike.created_at, since, now),
        "comments": await _bucketed(
            rt, Comment.video_id, Comment.created_at, since, now, Comment.is_deleted.is_(False)
        ),
        "shares": await _bucketed(rt, Share.video_id, Share.created_at, since, now),
    }
    scores: dict[str, float] = defaultdict(float)
    for kind, counts in kinds.items():
        for video_id, count in counts.items():
            scores[video_id] += ENGAGEMENT_WEIGHTS[kind] * count
    top = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[: KEEP * 2]
    if not top:
        return []
    # Only what anyone may find in a list: public, playing, not hidden, creator active.
    async with rt.unit_of_work(write=False) as session:
        rows = await session.execute(
            select(Video.id, Video.category)
            .join(User, User.id == Video.user_id)
            .where(
                Video.id.in_([vid for vid, _ in top]),
                Video.visibility == Audience.PUBLIC.value,
                Video.status == VideoStatus.READY.value,
                Video.hidden_by_moderation.is_(False),
                User.is_active.is_(True),
            )
        )
        categories = dict(rows.all())
    return [
        Trend(vid, round(score, 4), categories[vid]) for vid, score in top if vid in categories
    ][:KEEP]


async def refresh(rt: Runtime, time_range: TimeRange) -> str:
    """Compute one window's ranking and make it current; returns its version."""
    trends = await compute(rt, time_range)
    version = str(int(time.time() * 1000))
    raw = json.dumps([[t.video_id, t.score, t.category] for t in trends])
    ttl = rt.settings.trending_refresh_minutes * 60 * 3
    await rt.cache.set(snapshot_key(time_range, version), raw, ttl=ttl)
    await rt.cache.set(current_key(time_range), version, ttl=ttl)
    return version


async def refresh_all(rt: Runtime) -> None:
    for time_range in TimeRange:
        await refresh(rt, time_range)


async def snapshot(
    rt: Runtime, time_range: TimeRange, version: str | None
) -> tuple[str, list[Trend]]:
    """The cursor's snapshot if it is still kept, else the current one (computed when cold)."""
    raw = await rt.cache.get(snapshot_key(time_range, version)) if version else None
    if raw is None:
        version = await rt.cache.get(current_key(time_range))
        raw = await rt.cache.get(snapshot_key(time_range, version)) if version else None
    if raw is None or version is None:
        version = await refresh(rt, time_range)
        raw = await rt.cache.get(snapshot_key(time_range, version)) or "[]"
    return version, _decoded(time_range, version, raw)


# Snapshots decoded, by range and version: a version's snapshot never changes, and decoding
# its 2,000 entries for every page cost more than the page's own queries (bench/RESULTS.md).
_DECODED: dict[tuple[TimeRange, str], list[Trend]] = {}
DECODED_KEEP = 8


def _decoded(time_range: TimeRange, version: str, raw: str) -> list[Trend]:
    key = (time_range, version)
    trends = _DECODED.get(key)
    if trends is None:
        trends = [Trend(v, s, c) for v, s, c in json.loads(raw)]
        if len(_DECODED) >= DECODED_KEEP:
            del _DECODED[next(iter(_DECODED))]  # the oldest decoded
        _DECODED[key] = trends
    return trends


async def trending_ids(
    rt: Runtime, time_range: TimeRange, category: str | None = None, limit: int = 200
) -> list[Trend]:
    """The top of the current ranking, for other feeds to draw from."""
    _, trends = await snapshot(rt, time_range, None)
    return [t for t in trends if category is None or t.category == category][:limit]


@dataclass(frozen=True)
class Page:
    items: list[FeedItem]
    rows: dict[str, CardFacts]
    next_cursor: str | None


async def trending_page(
    rt: Runtime,
    session: AsyncSession,
    viewer: Viewer,
    page: PageParams,
    *,
    time_range: TimeRange,
    category: str | None,
    region: str | None,
) -> Page:
    """One page of trending videos. `region` narrows nothing yet: videos carry no region, so
    every region sees the global ranking."""
    position = decode_cursor(page.cursor, "v", "p")
    version, offset = None, 0
    if position is not None:
        version = position["v"]
        try:
            offset = int(position["p"])
        except ValueError:
            raise Unprocessable(
                "The cursor is not one this list gave out.", code="invalid_cursor"
            ) from None
    version, trends = await snapshot(rt, time_range, version)
    listed = [t for t in trends if category is None or t.category == category]
    window = listed[offset : offset + page.size]
    visible = await load_visible(session, viewer, [t.video_id for t in window])
    where = f"in {category}" if category else f"in {region}" if region else "now"
    items = [
        FeedItem(t.video_id, f"trending {where}", "trending")
        for t in window
        if t.video_id in visible
    ]
    nxt = offset + len(window)
    cursor = encode_cursor({"v": version, "p": str(nxt)}) if nxt < len(listed) else None
    return Page(items, {i.video_id: visible[i.video_id] for i in items}, cursor)
