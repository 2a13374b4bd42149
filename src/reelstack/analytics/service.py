"""Views, watch positions and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchHistory
from reelstack.analytics.schemas import WatchPositionRequest
from reelstack.db import BOUNDED, fetch_bounded, utcnow
from reelstack.infra.pagination import Keyset, PageParams, next_cursor
from reelstack.media.models import Video
from reelstack.media.service import Viewer, may_see, visible_video
from reelstack.social import service as social

# Stopped this close to the end, the viewer finished: the video starts over next time.
FINISHED_WITHIN_MS = 2000
FINISHED_WITHIN_SHARE = 0.05
HISTORY_KEY = [WatchHistory.__table__.c.user_id, WatchHistory.__table__.c.video_id]


def resume_from(position_ms: int, duration_ms: int) -> float | None:
    """Where to resume, in seconds; None at the very start or once the video was finished."""
    if position_ms <= 0:
        return None
    if duration_ms > 0:
        remaining = duration_ms - position_ms
        if remaining <= max(FINISHED_WITHIN_MS, duration_ms * FINISHED_WITHIN_SHARE):
            return None
    return position_ms / 1000


# Built once: every card of a feed page asks for its position.
POSITIONS = (
    select(WatchHistory.video_id, WatchHistory.position_ms, WatchHistory.duration_ms)
    .where(
        WatchHistory.user_id == bindparam("viewer"),
        WatchHistory.video_id.in_(bindparam("ids", expanding=True)),
    )
    .execution_options(**BOUNDED)
)


async def resume_positions(
    session: AsyncSession, viewer_id: str | None, video_ids: list[str]
) -> dict[str, float]:
    """Where the viewer stopped in each video they have a position for, in seconds."""
    if viewer_id is None or not video_ids:
        return {}
    params = {"viewer": viewer_id, "ids": list(set(video_ids))}
    rows = await fetch_bounded(session, POSITIONS, params)
    positions = {video_id: resume_from(position, duration) for video_id, position, duration in rows}
    return {video_id: seconds for video_id, seconds in positions.items() if seconds is not None}


async def save_position(
    session: AsyncSession, viewer: Viewer, video_id: str, at: WatchPositionRequest
) -> None:
    """Remember where a signed-in viewer is in a video they may see; it joins their history."""
    assert viewer.user_id is not None
    await visible_video(session, viewer, video_id)
    values = {
        "position_ms": round(at.position * 1000),
        "duration_ms": round(at.duration * 1000),
        "watched_at": utcnow(),
    }
    stmt = history_insert(session).values(user_id=viewer.user_id, video_id=video_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=HISTORY_KEY, set_=values)  # last one wins
    )


def history_insert(session: AsyncSession) -> Any:
    """INSERT into watch_history in the session's dialect, for its ON CONFLICT clauses."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(WatchHistory.__table__)


@dataclass(frozen=True)
class HistoryEntry:
    video: Video
    owner: User
    watched_at: datetime


@dataclass(frozen=True)
class HistoryList:
    entries: list[HistoryEntry]
    next_cursor: str | None


async def history(session: AsyncSession, viewer: Viewer, page: PageParams) -> HistoryList:
    """The viewer's watched videos, most recent first, leaving out the ones they may no longer
    see; a fixed number of queries per page."""
    assert viewer.user_id is not None
    query = select(WatchHistory).where(WatchHistory.user_id == viewer.user_id)
    rows = list(
        await session.scalars(
            Keyset(WatchHistory.watched_at, WatchHistory.video_id).apply(
                query, page.cursor, page.size
            )
        )
    )
    watched, cursor = next_cursor(rows, page.size, lambda h: (h.watched_at, h.video_id))
    found = (
        await session.execute(
            select(Video, User)
            .join(User, User.id == Video.user_id)
            .where(Video.id.in_([h.video_id for h in watched]))
        )
    ).all()
    videos = {video.id: (video, owner) for video, owner in found}
    relations = await social.relationships(
        session, viewer.user_id, list({owner.id for _, owner in videos.values()})
    )
    entries = []
    for h in watched:
        if h.video_id not in videos:
            continue
        video, owner = videos[h.video_id]
        if may_see(viewer, video, owner, relations[owner.id]):
            entries.append(HistoryEntry(video, owner, h.watched_at))
    return HistoryList(entries, cursor)


async def forget(session: AsyncSession, viewer_id: str, video_id: str | None = None) -> None:
    """Remove one video from the viewer's history (and its resume position), or all of them."""
    query = delete(WatchHistory).where(WatchHistory.user_id == viewer_id)
    if video_id is not None:
        query = query.where(WatchHistory.video_id == video_id)
    await session.execute(query)
