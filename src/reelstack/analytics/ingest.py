"""The request path of a view: may the viewer see the video, does this view count, and into
the analytics stream with it. Nothing here writes to the database.

At 2,000 views a second the visibility check is the expensive part, so what it needs is cached
for at most `view_visibility_cache_seconds` (5 s by default): a video's owner, audience, status,
moderation flag and whether its owner is active (one key per video); for a signed-in viewer,
who blocks them (one key per viewer) and, for followers-only videos only, whether they follow
the owner (one key per viewer and owner). The decision itself is still `media.service.may_see`,
the one visibility function. So for up to that long after a change (a video made private or
deleted, a block, an unfollow) views may still be accepted from viewers who can no longer see
the video, or refused from ones who just gained it; the batch writer drops views of videos
deleted meanwhile. Nothing else reads these keys.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import exists, select

from reelstack.accounts.models import User
from reelstack.analytics.schemas import ViewReport
from reelstack.errors import NotFound, Unprocessable
from reelstack.feed import signals as feed_signals
from reelstack.infra.streams import StreamEvent
from reelstack.media.models import Video
from reelstack.media.service import VIDEO_NOT_FOUND, Viewer, may_see
from reelstack.social.models import Block, Follow
from reelstack.social.visibility import NO_RELATIONSHIP, Audience, Relationship

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

# A view counts once per viewer per video in this window...
VIEW_WINDOW_SECONDS = 3600
# ...after this much watching, or half of a shorter video.
QUALIFYING_WATCH_MS = 3000


@dataclass(frozen=True)
class VideoFacts:
    """What deciding visibility needs of a video and its owner."""

    owner_id: str
    visibility: str
    status: str
    hidden_by_moderation: bool
    owner_active: bool

    def dumps(self) -> str:
        return json.dumps(
            [
                self.owner_id,
                self.visibility,
                self.status,
                self.hidden_by_moderation,
                self.owner_active,
            ]
        )

    @classmethod
    def loads(cls, raw: str) -> VideoFacts:
        owner_id, visibility, status, hidden, active = json.loads(raw)
        return cls(str(owner_id), str(visibility), str(status), bool(hidden), bool(active))

    def as_rows(self, video_id: str) -> tuple[Video, User]:
        """Unsaved stand-ins for the rows, carrying exactly what `may_see` reads."""
        video = Video(
            id=video_id,
            user_id=self.owner_id,
            visibility=self.visibility,
            status=self.status,
            hidden_by_moderation=self.hidden_by_moderation,
        )
        return video, User(id=self.owner_id, is_active=self.owner_active)


def qualifies(report: ViewReport) -> bool:
    """Watched long enough to count: 3 s, or half of a video shorter than 6 s."""
    return report.watched_ms >= min(QUALIFYING_WATCH_MS, report.duration_ms / 2)


async def record_view(rt: Runtime, viewer: Viewer, video_id: str, report: ViewReport) -> bool:
    """Check the video is visible, decide whether the view counts (once per viewer per video
    per hour) and queue the watch event; returns whether it counted."""
    if viewer.user_id is None and report.session_id is None:
        raise Unprocessable(
            "Send the player's session_id to report a view while signed out.",
            code="session_id_required",
        )
    await _check_visible(rt, viewer, video_id)
    qualified = qualifies(report)
    who = f"u:{viewer.user_id}" if viewer.user_id else f"s:{report.session_id}"
    # The marker is set only by a qualifying view, so a skip never uses up the hour.
    counted = qualified and await rt.cache.add(
        f"views:once:{video_id}:{who}", "1", ttl=VIEW_WINDOW_SECONDS
    )
    rt.analytics.publish(watch_event(video_id, viewer.user_id, report, qualified, counted))
    # The For-You feed reacts to this watch on the viewer's next page, not after a batch.
    await feed_signals.record_watch(
        rt,
        feed_signals.viewer_key(viewer.user_id, report.session_id),
        video_id,
        report.watched_ms,
        report.duration_ms,
    )
    return counted


def watch_event(
    video_id: str, user_id: str | None, report: ViewReport, qualified: bool, counted: bool
) -> StreamEvent:
    """A watch event as the analytics stream carries it (JSON)."""
    return {
        "video_id": video_id,
        "user_id": user_id,
        "session_id": report.session_id,
        "watched_ms": report.watched_ms,
        "duration_ms": report.duration_ms,
        "source": report.source.value,
        "qualified": qualified,
        "counted": counted,
        "at": time.time(),
    }


async def _check_visible(rt: Runtime, viewer: Viewer, video_id: str) -> None:
    facts = await _video_facts(rt, video_id)
    if facts is None:
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    relation = NO_RELATIONSHIP
    if viewer.user_id is not None and viewer.user_id != facts.owner_id:
        relation = await _relationship(rt, viewer.user_id, facts)
    video, owner = facts.as_rows(video_id)
    if not may_see(viewer, video, owner, relation):
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")


# Loads in progress in this process, so that requests missing the same key share one query.
_loading: dict[str, asyncio.Task[str]] = {}


async def _cached(rt: Runtime, key: str, load: Callable[[], Awaitable[str]]) -> str:
    """`key` from the cache, or loaded from the database and kept for the cache time."""
    cached = await rt.cache.get(key)
    if cached is not None:
        return cached
    task = _loading.get(key)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = _loading[key] = asyncio.create_task(_load_and_keep(rt, key, load))
        task.add_done_callback(lambda done: _forget_load(key, done))
    # A request that goes away does not cancel the load the others wait for.
    return await asyncio.shield(task)


async def _load_and_keep(rt: Runtime, key: str, load: Callable[[], Awaitable[str]]) -> str:
    value = await load()
    ttl = rt.settings.view_visibility_cache_seconds
    if ttl > 0:
        # Spread over the second half of the time, so that keys filled together (a cold start)
        # do not all expire, and all go to the database, in the same instant.
        await rt.cache.set(key, value, ttl=ttl * random.uniform(0.5, 1.0))  # noqa: S311
    return value


def _forget_load(key: str, done: asyncio.Task[str]) -> None:
    _loading.pop(key, None)
    if not done.cancelled():
        done.exception()  # seen by every waiter; this only marks it retrieved


async def _video_facts(rt: Runtime, video_id: str) -> VideoFacts | None:
    async def load() -> str:
        async with rt.unit_of_work(write=False) as session:
            row = (
                await session.execute(
                    select(
                        Video.user_id,
                        Video.visibility,
                        Video.status,
                        Video.hidden_by_moderation,
                        User.is_active,
                    )
                    .join(User, User.id == Video.user_id)
                    .where(Video.id == video_id)
                )
            ).one_or_none()
        # A missing video is remembered too (as ""), so made-up ids cannot hammer the database.
        return "" if row is None else VideoFacts(*row).dumps()

    raw = await _cached(rt, f"views:video:{video_id}", load)
    return VideoFacts.loads(raw) if raw else None


async def _relationship(rt: Runtime, viewer_id: str, facts: VideoFacts) -> Relationship:
    """What `can_view` reads of the viewer's relationship to a video's owner: whether the owner
    blocks them, and for a followers-only video whether they follow the owner. The rest of
    the relationship stays unset: deciding a video never reads it."""
    blocked_by = facts.owner_id in await _blockers_of(rt, viewer_id)
    following = False
    if facts.visibility == Audience.FOLLOWERS.value and not blocked_by:
        following = await _follows(rt, viewer_id, facts.owner_id)
    return Relationship(is_following=following, is_blocked_by=blocked_by)


async def _blockers_of(rt: Runtime, viewer_id: str) -> set[str]:
    """Who blocks the viewer: one key per viewer, usually an empty list."""

    async def load() -> str:
        async with rt.unit_of_work(write=False) as session:
            blockers = await session.scalars(
                select(Block.blocker_id).where(Block.blocked_id == viewer_id)
            )
            return json.dumps(list(blockers))

    return set(json.loads(await _cached(rt, f"views:blockers:{viewer_id}", load)))


async def _follows(rt: Runtime, viewer_id: str, owner_id: str) -> bool:
    async def load() -> str:
        async with rt.unit_of_work(write=False) as session:
            found = await session.scalar(
                select(
                    exists().where(Follow.follower_id == viewer_id, Follow.followee_id == owner_id)
                )
            )
        return "1" if found else "0"

    return await _cached(rt, f"views:follows:{viewer_id}:{owner_id}", load) == "1"
