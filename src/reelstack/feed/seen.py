"""The per-viewer seen filter: what was shown or watched in the last 30 days never comes back.
A sorted set of video ids scored by when, trimmed as it is written; rebuilt from the watch
history and For-You's impression log when the cache lost it. It expires 30 days after its
last write (so the filters of signed-out sessions that never come back do not pile up), and a
cache short of room may drop it sooner: whether it was built is a member of the set itself,
so that it goes with it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.analytics.models import WatchHistory
from reelstack.db import utcnow
from reelstack.infra.cache import BUILT
from reelstack.recommend.models import Impression

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

MAX_SEEN = 10_000
TRIM_EVERY_SECONDS = 600


def seen_key(who: str) -> str:
    return f"feed:seen:{who}"


def _trim_key(who: str) -> str:
    return f"feed:seen:trimmed:{who}"


async def mark_seen(rt: Runtime, who: str, video_ids: Sequence[str]) -> None:
    """Add what was just shown. Trimming the filter (to MAX_SEEN, and past the window) reads
    the whole set, 2.4 ms a page in the embedded cache for a viewer with 10,000 seen videos,
    so it runs once per viewer every TRIM_EVERY_SECONDS: the set may hold a few minutes of
    viewing over MAX_SEEN meanwhile, and `unseen` ignores entries past the window anyway."""
    if not video_ids:
        return
    now = time.time()
    trim = await rt.cache.add(_trim_key(who), "1", ttl=TRIM_EVERY_SECONDS)
    await rt.cache.zadd(
        seen_key(who),
        dict.fromkeys(video_ids, now),
        cap=MAX_SEEN if trim else None,
        ttl=_window_seconds(rt),
    )
    if trim:
        horizon = now - _window_seconds(rt)
        await rt.cache.zremrangebyscore(seen_key(who), float("-inf"), horizon)


def _window_seconds(rt: Runtime) -> float:
    return rt.settings.seen_filter_days * 86400.0


async def ensure_built(rt: Runtime, session: AsyncSession, who: str, user_id: str | None) -> None:
    """Refill the filter of a signed-in viewer, when the cache does not have it built (never
    yet, or lost): what they watched, and what For-You showed them (its impression log), in
    the window."""
    if user_id is None or (await rt.cache.zscores(seen_key(who), [BUILT]))[0] is not None:
        return
    since = utcnow() - timedelta(days=rt.settings.seen_filter_days)
    watched = await session.execute(
        select(WatchHistory.video_id, WatchHistory.watched_at)
        .where(WatchHistory.user_id == user_id, WatchHistory.watched_at >= since)
        .order_by(WatchHistory.watched_at.desc())
        .limit(MAX_SEEN)
    )
    last_shown = func.max(Impression.created_at)
    shown = await session.execute(
        select(Impression.video_id, last_shown)
        .where(
            Impression.user_id == user_id,
            Impression.created_at >= since,
            Impression.feed == "for_you",
        )
        .group_by(Impression.video_id)
        .order_by(last_shown.desc())
        .limit(MAX_SEEN)
    )
    members: dict[str, float] = {}
    for vid, at in [*shown, *watched]:
        members[vid] = max(members.get(vid, 0.0), at.timestamp())
    members[BUILT] = float("inf")  # a cap keeps it; the window's trim never reaches it
    await rt.cache.zadd(seen_key(who), members, cap=MAX_SEEN, ttl=_window_seconds(rt))


async def unseen(rt: Runtime, who: str | None, video_ids: Sequence[str]) -> list[str]:
    """The ids not seen within the window, in their order."""
    if who is None or not video_ids:
        return list(video_ids)
    return _fresh(rt, video_ids, await rt.cache.zscores(seen_key(who), video_ids))


async def unseen_on_page(
    rt: Runtime, session: AsyncSession, who: str, user_id: str | None, video_ids: Sequence[str]
) -> list[str]:
    """`unseen`, for a page: a signed-in viewer's filter that the cache lost since their list
    was built is rebuilt first. Whether it is there is read in the same call as the ids."""
    if not video_ids:
        return []
    scores = await rt.cache.zscores(seen_key(who), [*video_ids, BUILT])
    if user_id is not None and scores[-1] is None:
        await ensure_built(rt, session, who, user_id)
        scores = await rt.cache.zscores(seen_key(who), [*video_ids, BUILT])
    return _fresh(rt, video_ids, scores[:-1])


def _fresh(rt: Runtime, video_ids: Sequence[str], scores: Sequence[float | None]) -> list[str]:
    horizon = time.time() - _window_seconds(rt)
    return [vid for vid, at in zip(video_ids, scores, strict=True) if at is None or at < horizon]
