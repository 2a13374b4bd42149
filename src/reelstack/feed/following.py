"""The following feed: hybrid fan-out. Creators below the threshold push each new video into
their followers' inboxes (a capped sorted set in the cache, scored by publish time); videos of
bigger creators are pulled at read time and merged. Reads drop unfollowed creators and videos
the viewer may not see, so the inbox never needs cleaning up to stay correct. An inbox a read
built goes a week after that (or a follow's backfill), or sooner from a cache short of room:
the next read rebuilds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import BOUNDED, BOUNDED_ROWS, execute_core, fetch_bounded
from reelstack.errors import Unprocessable
from reelstack.feed.cards import CardFacts, FeedItem, load_visible
from reelstack.infra.cache import BUILT, INF
from reelstack.infra.pagination import PageParams, decode_cursor, encode_cursor
from reelstack.media.models import Video, VideoStatus
from reelstack.media.newest import newest_of
from reelstack.media.service import Viewer
from reelstack.social.models import Follow
from reelstack.social.visibility import Audience

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

# Audiences a follower may find in lists: what fan-out pushes and pulls.
FOLLOWER_AUDIENCES = (Audience.PUBLIC.value, Audience.FOLLOWERS.value)
FAN_OUT_BATCH = 1000
MAX_WINDOWS = 6  # a page scans at most this many windows of invisible items before stopping
INBOX_TTL_SECONDS = 7 * 86400


def inbox_key(user_id: str) -> str:
    return f"feed:inbox:{user_id}"


def _inbox_cap(rt: Runtime) -> int:
    return rt.settings.feed_inbox_size + 1  # the videos, and the built mark above them


async def inbox_built(rt: Runtime, user_id: str) -> bool:
    """Was the user's inbox built from the database since the cache last lost it?"""
    return (await rt.cache.zscores(inbox_key(user_id), [BUILT]))[0] is not None


def position_of(published_at: datetime) -> float:
    return published_at.timestamp()


@dataclass(frozen=True)
class Page:
    items: list[FeedItem]
    rows: dict[str, CardFacts]
    next_cursor: str | None


async def fan_out_to_followers(rt: Runtime, video_id: str) -> int:
    """Push a ready video into the inbox of each follower of its creator, if the creator is
    small enough to push; returns how many inboxes it reached. Safe to run twice."""
    async with rt.unit_of_work(write=False) as session:
        row = (
            await session.execute(
                select(Video.user_id, Video.status, Video.visibility, Video.published_at)
                .join(User, User.id == Video.user_id)
                .where(Video.id == video_id, User.follower_count < rt.settings.fanout_threshold)
            )
        ).one_or_none()
    if row is None or row.status != VideoStatus.READY.value or row.published_at is None:
        return 0  # gone, or a big creator whose followers pull instead
    if row.visibility not in FOLLOWER_AUDIENCES:
        return 0
    score = position_of(row.published_at)
    after, reached = "", 0
    while True:
        async with rt.unit_of_work(write=False) as session:
            batch = list(
                await session.scalars(
                    select(Follow.follower_id)
                    .where(Follow.followee_id == row.user_id, Follow.follower_id > after)
                    .order_by(Follow.follower_id)
                    .limit(FAN_OUT_BATCH)
                )
            )
        if not batch:
            return reached
        keys = [inbox_key(follower) for follower in batch]
        # No expiry here: with one, a push into Redis cost 40 % more (48.2 against 34.5 us a
        # follower at 100K, bench/RESULTS.md), and inboxes are one per user at most; an
        # expiry a read set stays as it is.
        await rt.cache.zadd_to_many(keys, video_id, score, cap=_inbox_cap(rt))
        reached += len(batch)
        after = batch[-1]


async def backfill_followed(rt: Runtime, follower_id: str, followee_id: str) -> None:
    """A new follow brings the creator's recent videos into an inbox already built."""
    if not await inbox_built(rt, follower_id):
        return  # the rebuild on the next read includes them
    async with rt.unit_of_work(write=False) as session:
        rows = await session.execute(
            _listable_videos([followee_id]).limit(rt.settings.feed_inbox_size)
        )
        members = {vid: position_of(at) for vid, at in rows if at is not None}
    if members:
        await rt.cache.zadd(
            inbox_key(follower_id), members, cap=_inbox_cap(rt), ttl=INBOX_TTL_SECONDS
        )


def _for_followers() -> tuple[ColumnElement[bool], ...]:
    """Videos a follower may find in the feed (each read re-checks the viewer)."""
    return (
        Video.status == VideoStatus.READY.value,
        Video.visibility.in_(FOLLOWER_AUDIENCES),
    )


def _listable_videos(user_ids: list[str]) -> Select[str, datetime | None]:
    """Videos of these creators a follower may find, newest first (for refilling inboxes:
    small creators, few videos each)."""
    return (
        select(Video.id, Video.published_at)
        .where(Video.user_id.in_(user_ids), Video.published_at.is_not(None), *_for_followers())
        .order_by(Video.published_at.desc(), Video.id.desc())
    )


async def rebuild_inbox(
    rt: Runtime, session: AsyncSession, user_id: str, small_creators: list[str]
) -> None:
    """Refill a lost inbox from the database: the newest videos of the small creators."""
    members = {BUILT: INF}
    if small_creators:
        rows = await session.execute(
            _listable_videos(small_creators).limit(rt.settings.feed_inbox_size)
        )
        members.update((vid, position_of(at)) for vid, at in rows if at is not None)
    await rt.cache.zadd(inbox_key(user_id), members, cap=_inbox_cap(rt), ttl=INBOX_TTL_SECONDS)


def _decode(cursor: str | None) -> tuple[float, str]:
    position = decode_cursor(cursor, "s", "id")
    if position is None:
        return INF, ""
    try:
        return float(position["s"]), str(position["id"])
    except ValueError:
        raise Unprocessable(
            "The cursor is not one this list gave out.", code="invalid_cursor"
        ) from None


# Built once: every page starts with the viewer's followees and their follower counts. Most
# people follow a few hundred at most: those are read in the loop's thread (`BOUNDED`), and
# only someone who follows more needs the whole list read through the connection's thread.
FOLLOWEES = (
    select(Follow.followee_id, User.follower_count)
    .join(User, User.id == Follow.followee_id)
    .where(Follow.follower_id == bindparam("viewer"))
)
FEW_FOLLOWEES = FOLLOWEES.limit(BOUNDED_ROWS + 1).execution_options(**BOUNDED)


async def followees_of(session: AsyncSession, user_id: str) -> dict[str, int]:
    """Whom the user follows, with each one's follower count."""
    rows = await fetch_bounded(session, FEW_FOLLOWEES, {"viewer": user_id})
    if len(rows) > BOUNDED_ROWS:
        rows = list((await execute_core(session, FOLLOWEES, {"viewer": user_id})).all())
    return dict(rows)


async def following_page(
    rt: Runtime, session: AsyncSession, viewer: Viewer, page: PageParams
) -> Page:
    """One page of the viewer's following feed, newest first, keyset on (publish time, id):
    videos published while the viewer pages land above the cursor, never inside the pages."""
    assert viewer.user_id is not None
    after = _decode(page.cursor)
    followees = await followees_of(session, viewer.user_id)
    threshold = rt.settings.fanout_threshold
    big = [uid for uid, count in followees.items() if count >= threshold]
    if not await inbox_built(rt, viewer.user_id):
        small = [uid for uid, count in followees.items() if count < threshold]
        await rebuild_inbox(rt, session, viewer.user_id, small)
    chosen: list[FeedItem] = []
    rows: dict[str, CardFacts] = {}
    last = after
    # A few spare candidates per page: most pushed items are still visible, so one window
    # (one hydration of ~page-size rows) usually fills the page; a short one takes another.
    window = page.size + 5
    for _ in range(MAX_WINDOWS):
        candidates = await _merged_window(rt, session, viewer.user_id, big, last, window)
        if not candidates:
            return Page(chosen, rows, None)
        visible = await load_visible(session, viewer, [vid for _, vid in candidates])
        for index, (score, vid) in enumerate(candidates):
            found = visible.get(vid)
            last = (score, vid)
            if found is None or found.user_id not in followees:
                continue  # unfollowed since it was pushed, or no longer visible to them
            chosen.append(
                FeedItem(vid, f"from @{found.owner.username}, whom you follow", "following")
            )
            rows[vid] = found
            if len(chosen) == page.size:
                more = index + 1 < len(candidates) or len(candidates) == window
                cursor = encode_cursor({"s": repr(score), "id": vid}) if more else None
                return Page(chosen, rows, cursor)
        if len(candidates) < window:
            return Page(chosen, rows, None)
    # Many invisible items in a row: hand back what there is and go on from where we stopped.
    return Page(chosen, rows, encode_cursor({"s": repr(last[0]), "id": last[1]}))


async def _merged_window(
    rt: Runtime,
    session: AsyncSession,
    user_id: str,
    big_creators: list[str],
    after: tuple[float, str],
    limit: int,
) -> list[tuple[float, str]]:
    """The next `limit` (score, id) below `after` from the inbox and the big creators' posts."""
    pushed = await rt.cache.zrevrange(inbox_key(user_id), max_score=after[0], limit=limit + 50)
    merged = {vid: score for vid, score in pushed if vid != BUILT}
    if big_creators:
        before = None
        if after[0] != INF:
            before = datetime.fromtimestamp(after[0], UTC) + timedelta(milliseconds=1)
        pulled = await newest_of(
            session,
            Video.user_id,
            big_creators,
            *_for_followers(),
            limit=limit + 1,
            before=before,
        )
        merged.update({vid: position_of(at) for vid, at in pulled})
    ordered = sorted(((s, v) for v, s in merged.items() if (s, v) < after), reverse=True)
    return ordered[:limit]
