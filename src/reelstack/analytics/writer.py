"""The analytics stream's sink: one transaction per batch of watch events.

A batch becomes one bulk INSERT of `watch_events`, one counter move per video for the views
that counted, and one upsert of `watch_history` for the signed-in viewers who watched long
enough. Events of videos deleted meanwhile are dropped; those of deleted users are kept
anonymous (the table's ON DELETE SET NULL). The stream redelivers a batch whose transaction
failed, so everything here is all-or-nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.analytics.models import WatchEvent, WatchHistory
from reelstack.analytics.service import HISTORY_KEY, history_insert
from reelstack.events import VideoViewed
from reelstack.infra.events import publish
from reelstack.infra.streams import StreamEvent
from reelstack.media.models import VIDEO_COUNTERS, Video

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
INSERT_SLICE = 500
COUNTER_SLICE = 50  # counter moves between two turns of the event loop


@dataclass(frozen=True)
class Watch:
    """One watch event read back from the stream."""

    video_id: str
    user_id: str | None
    session_id: str | None
    watched_ms: int
    duration_ms: int
    source: str
    qualified: bool
    counted: bool
    at: datetime

    @classmethod
    def parse(cls, event: StreamEvent) -> Watch | None:
        try:
            return cls(
                video_id=str(event["video_id"]),
                user_id=None if event.get("user_id") is None else str(event["user_id"]),
                session_id=None if event.get("session_id") is None else str(event["session_id"]),
                watched_ms=int(event["watched_ms"]),
                duration_ms=int(event["duration_ms"]),
                source=str(event["source"]),
                qualified=bool(event["qualified"]),
                counted=bool(event["counted"]),
                at=datetime.fromtimestamp(float(event["at"]), UTC),
            )
        except (KeyError, TypeError, ValueError):
            return None


async def write_watch_events(rt: Runtime, events: list[StreamEvent]) -> None:
    """Store one batch from the stream: rows, view counters and history together."""
    watches = [watch for watch in map(Watch.parse, events) if watch is not None]
    if len(watches) < len(events):
        log.error("analytics: %d malformed watch events dropped", len(events) - len(watches))
    if not watches:
        return
    async with rt.unit_of_work() as session:
        watches = await _still_there(session, watches)
        if not watches:
            return
        rows = [
            {
                "video_id": w.video_id,
                "user_id": w.user_id,
                "session_id": w.session_id,
                "watched_ms": w.watched_ms,
                "duration_ms": w.duration_ms,
                "source": w.source,
                "counted": w.counted,
                "created_at": w.at,
            }
            for w in watches
        ]
        # In slices: binding parameters runs on the event loop, and requests wait meanwhile.
        for start in range(0, len(rows), INSERT_SLICE):
            await session.execute(
                insert(WatchEvent.__table__),  # type: ignore[arg-type]
                rows[start : start + INSERT_SLICE],
            )
        views = Counter(w.video_id for w in watches if w.counted)
        # In id order, so two writers moving the same rows cannot deadlock. Each move is one
        # row by key and runs inline on SQLite (`db.BOUNDED`): let requests in between slices.
        for n, video_id in enumerate(sorted(views), start=1):
            await rt.counters.add(session, VIDEO_COUNTERS, video_id, "view_count", views[video_id])
            if n % COUNTER_SLICE == 0:
                await asyncio.sleep(0)
        await _remember(session, watches)
        _announce_views(session, watches)


def _announce_views(session: AsyncSession, watches: list[Watch]) -> None:
    """A VideoViewed event per counted view, for whoever reacts to views."""
    from reelstack.handlers import EVENT_HANDLERS  # the table imports every feature

    # Each handler is a job per view: at thousands of views a second, skip building the
    # payloads when nobody listens.
    if not EVENT_HANDLERS.get(VideoViewed):
        return
    for w in watches:
        if w.counted:
            publish(
                session,
                VideoViewed(
                    video_id=w.video_id,
                    user_id=w.user_id,
                    watched_ms=w.watched_ms,
                    source=w.source,
                ),
            )


async def _still_there(session: AsyncSession, watches: list[Watch]) -> list[Watch]:
    """Drop the events of deleted videos; make those of deleted users anonymous."""
    video_ids = {w.video_id for w in watches}
    user_ids = {w.user_id for w in watches if w.user_id is not None}
    videos = set(await session.scalars(select(Video.id).where(Video.id.in_(video_ids))))
    users = (
        set(await session.scalars(select(User.id).where(User.id.in_(user_ids))))
        if user_ids
        else set()
    )
    kept = []
    for w in watches:
        if w.video_id not in videos:
            continue
        if w.user_id is not None and w.user_id not in users:
            w = replace(w, user_id=None)
        kept.append(w)
    return kept


async def _remember(session: AsyncSession, watches: list[Watch]) -> None:
    """Put watched videos at the top of their viewers' history, keeping any resume position."""
    latest: dict[tuple[str, str], Watch] = {}
    for w in watches:
        if w.user_id is None or not w.qualified:
            continue
        key = (w.user_id, w.video_id)
        if key not in latest or latest[key].at < w.at:
            latest[key] = w
    if not latest:
        return
    table = WatchHistory.__table__
    # Sorted: concurrent writers lock history rows in the same order.
    rows = [
        {
            "user_id": user_id,
            "video_id": video_id,
            "position_ms": 0,
            "duration_ms": w.duration_ms,
            "watched_at": w.at,
        }
        for (user_id, video_id), w in sorted(latest.items())
    ]
    stmt = history_insert(session)
    excluded = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=HISTORY_KEY,
        set_={
            # A position saved after this view was watched stays the latest.
            "watched_at": case(
                (excluded.watched_at > table.c.watched_at, excluded.watched_at),
                else_=table.c.watched_at,
            ),
            "duration_ms": case(
                (table.c.duration_ms == 0, excluded.duration_ms), else_=table.c.duration_ms
            ),
        },
    )
    # executemany: one compiled statement, however many rows.
    await session.execute(upsert, rows)
