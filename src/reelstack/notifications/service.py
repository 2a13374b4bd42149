"""Notifications: who is told what, likes gathered into one line, read state and preferences.

Every notification is written against the partial unique index on (user_id, group_key) where
`is_open`: an aggregated one (likes of a video) is joined by later actors while it is open; any
other is written once per subject, so a job that runs twice tells nobody twice. Reading a
notification closes it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Insert,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import (
    BOUNDED,
    UTCDateTime,
    bounded_when,
    execute_core,
    fetch_bounded,
    insert_ignoring_conflicts_in,
    utcnow,
)
from reelstack.infra.ids import new_id
from reelstack.notifications.models import (
    Notification,
    NotificationActor,
    NotificationPreference,
    NotificationType,
)
from reelstack.social.models import Block, Follow

AGGREGATED_TYPES = frozenset({NotificationType.LIKE})
OPEN_GROUP = sql_text("is_open")  # the predicate of the partial unique index


@dataclass(frozen=True)
class NewNotification:
    """One thing to tell one user. `subject` makes it unique: the follower, the request, the
    comment or the video it is about."""

    user_id: str
    type: NotificationType
    subject: str
    actor_id: str | None = None
    video_id: str | None = None
    comment_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def group_key(self) -> str:
        return f"{self.type.value}:{self.subject}"


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, in the session's dialect."""
    return _insert_in(session.get_bind().dialect.name, table)


def _insert_in(dialect: str, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, in the named dialect (statements built
    once per dialect)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def blocked_either_way(a: Any, b: Any) -> ColumnElement[bool]:
    """SQL: does either of two users (columns or ids) block the other?"""
    return exists().where(
        or_(
            and_(Block.blocker_id == a, Block.blocked_id == b),
            and_(Block.blocker_id == b, Block.blocked_id == a),
        )
    )


async def _hold_users(session: AsyncSession, user_ids: Iterable[str | None]) -> None:
    """Take, in id order and up front, the key-share locks that the foreign keys of the
    inserts to come would take on these users. A follow locks its two users FOR UPDATE in id
    order; an insert taking them one by one in another order could close a cycle with it
    (PostgreSQL; SQLite serialises writers and has no row locks)."""
    if session.get_bind().dialect.name == "sqlite":
        return  # one writer at a time: nothing to lock, nothing to deadlock with
    ids = sorted({uid for uid in user_ids if uid})
    await session.execute(
        select(User.id)
        .where(User.id.in_(ids))
        .order_by(User.id)
        .with_for_update(read=True, key_share=True)
    )


# -- who wants to hear it --------------------------------------------------------------------
_DISABLED_TYPES = select(NotificationPreference.user_id, NotificationPreference.type).where(
    NotificationPreference.user_id.in_(bindparam("ids", expanding=True)),
    NotificationPreference.enabled.is_(False),
)


async def disabled_types(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, set[str]]:
    """The types each user turned off, in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await execute_core(
        session,
        _DISABLED_TYPES,
        {"ids": ids},
        execution_options=bounded_when(len(ids) * len(NotificationType)),
    )
    off: dict[str, set[str]] = {uid: set() for uid in ids}
    for user_id, kind in rows:
        off[user_id].add(kind)
    return off


_BLOCKS_AMONG = select(Block.blocker_id, Block.blocked_id).where(
    Block.blocker_id.in_(bindparam("people", expanding=True)),
    Block.blocked_id.in_(bindparam("people", expanding=True)),
)
_BLOCKS_WITH = select(Block.blocker_id, Block.blocked_id).where(
    or_(
        and_(
            Block.blocker_id == bindparam("user"),
            Block.blocked_id.in_(bindparam("others", expanding=True)),
        ),
        and_(
            Block.blocked_id == bindparam("user"),
            Block.blocker_id.in_(bindparam("others", expanding=True)),
        ),
    )
)


async def _blocked_pairs(
    session: AsyncSession, pairs: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The pairs among `pairs` where either user blocks the other, in one query."""
    if not pairs:
        return set()
    firsts = {a for a, _ in pairs}
    if len(firsts) == 1:  # one user and others: a like digest's owner and likers
        (user,) = firsts
        others = [b for _, b in pairs]
        stmt, params, most = _BLOCKS_WITH, {"user": user, "others": others}, 2 * len(others)
    else:
        people = list({uid for pair in pairs for uid in pair})
        stmt, params, most = _BLOCKS_AMONG, {"people": people}, len(people) ** 2
    rows = await execute_core(session, stmt, params, execution_options=bounded_when(most))
    edges = {(a, b) for a, b in rows}
    return {(a, b) for a, b in pairs if (a, b) in edges or (b, a) in edges}


# -- writing ---------------------------------------------------------------------------------
# Notifications a `create_many` INSERT carries at most (12 parameters each: both databases take
# 32,766 at most).
CREATE_MANY_CHUNK = 500


async def create_many(
    session: AsyncSession,
    notes: Sequence[NewNotification],
    *,
    told_within: timedelta | None = None,
) -> list[tuple[NewNotification, str]]:
    """Store the notifications (not aggregated ones) their users want, a few statements per
    500: the ones stored, each with its id. Nobody hears of their own doing, of a user they
    block or who blocks them, or of a type they turned off; a notification its user has open
    is not stored twice. With `told_within`, neither is one they had (open or read) in that
    time: a digest that reads its rows twice (its mark lost with an in-memory cache) tells
    nobody twice."""
    wanted = [n for n in notes if n.actor_id != n.user_id]
    off = await disabled_types(session, {n.user_id for n in wanted})
    wanted = [n for n in wanted if n.type.value not in off[n.user_id]]
    stored: list[tuple[NewNotification, str]] = []
    for start in range(0, len(wanted), CREATE_MANY_CHUNK):
        chunk = wanted[start : start + CREATE_MANY_CHUNK]
        stored += await _create_chunk(session, chunk, utcnow(), told_within)
    return stored


@functools.cache
def _new_notifications(dialect: str) -> Any:
    """INSERT of open notifications, none twice per open group, returning what it stored."""
    table: Any = Notification.__table__
    return (
        _insert_in(dialect, table)
        .on_conflict_do_nothing(index_elements=["user_id", "group_key"], index_where=OPEN_GROUP)
        .returning(table.c.id, table.c.user_id, table.c.group_key)
    )


@functools.cache
def _new_actors(dialect: str) -> Any:
    """INSERT of a like notification's actors, none twice, returning those it added."""
    table: Any = NotificationActor.__table__
    return insert_ignoring_conflicts_in(dialect, table).returning(table.c.actor_id)


# By (user, subject) through their index; the time is compared here: with it in the query,
# SQLite read every notification of the user since then instead.
_TOLD = select(Notification.user_id, Notification.group_key, Notification.updated_at).where(
    Notification.user_id.in_(bindparam("users", expanding=True)),
    Notification.group_key.in_(bindparam("keys", expanding=True)),
)


async def _create_chunk(
    session: AsyncSession,
    notes: list[NewNotification],
    now: datetime,
    told_within: timedelta | None,
) -> list[tuple[NewNotification, str]]:
    blocked = await _blocked_pairs(
        session, {(n.user_id, n.actor_id) for n in notes if n.actor_id is not None}
    )
    skip: set[tuple[str, str | None]] = set()
    if told_within is not None:
        told = await execute_core(
            session,
            _TOLD,
            {
                "users": list({n.user_id for n in notes}),
                "keys": list({n.group_key for n in notes}),
            },
            execution_options=bounded_when(len(notes)),
        )
        since = now - told_within
        skip = {(user_id, key) for user_id, key, updated_at in told if updated_at >= since}
    notes = [
        n
        for n in notes
        if (n.user_id, n.actor_id) not in blocked and (n.user_id, n.group_key) not in skip
    ]
    if not notes:
        return []
    await _hold_users(session, [uid for n in notes for uid in (n.user_id, n.actor_id)])
    rows = [
        {
            "id": new_id(),
            "user_id": n.user_id,
            "type": n.type.value,
            "group_key": n.group_key,
            "is_open": True,
            "actor_id": n.actor_id,
            "actor_count": 1 if n.actor_id else 0,
            "video_id": n.video_id,
            "comment_id": n.comment_id,
            "data": n.data,
            "created_at": now,
            "updated_at": now,
        }
        for n in notes
    ]
    # Many parameter sets for one statement built once: SQLAlchemy sends them as multi-row
    # INSERTs ("insertmanyvalues") without compiling a statement per row count.
    inserted = await execute_core(
        session,
        _new_notifications(session.get_bind().dialect.name),
        rows,
        execution_options=bounded_when(len(rows)),
    )
    ids = {(user_id, key): nid for nid, user_id, key in inserted}
    keys = [(n, (n.user_id, n.group_key)) for n in notes]
    return [(n, ids[key]) for n, key in keys if key in ids]


async def create(session: AsyncSession, note: NewNotification) -> str | None:
    """Store a notification the user wants; None when they do not, or already have it open."""
    stored = await create_many(session, [note])
    return stored[0][1] if stored else None


# The statements of `add_likes`, built once: composing them cost more than running them.
_COUNTED_ACTORS = (
    select(NotificationActor.actor_id)
    .join(Notification, Notification.id == NotificationActor.notification_id)
    .where(
        Notification.user_id == bindparam("owner"),
        Notification.group_key == bindparam("group"),
        NotificationActor.created_at >= bindparam("since", type_=UTCDateTime()),
        NotificationActor.actor_id.in_(bindparam("candidates", expanding=True)),
    )
)
_CLOSE_STALE_GROUP = (
    update(Notification)
    .where(
        Notification.user_id == bindparam("owner"),
        Notification.group_key == bindparam("group"),
        Notification.is_open.is_(True),
        Notification.created_at < bindparam("opened_before", type_=UTCDateTime()),
    )
    .values(is_open=False)
    .execution_options(**BOUNDED)  # the one open row of a group, by index
)
_COUNT_ACTORS = (
    update(Notification)
    .where(Notification.id == bindparam("notification"))
    .values(
        actor_count=Notification.actor_count + bindparam("joined"),
        actor_id=bindparam("newest"),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
    .execution_options(**BOUNDED)
)


@functools.cache
def _open_like_group(dialect: str) -> Any:
    """The owner's open like notification for a video, opened if there is none: its id. The
    no-op update on conflict locks the open row, so concurrent jobs queue up behind each other."""
    table: Any = Notification.__table__
    stmt = _insert_in(dialect, table).values(
        id=bindparam("new_id"),
        user_id=bindparam("owner"),
        type=NotificationType.LIKE.value,
        group_key=bindparam("group"),
        is_open=True,
        actor_id=bindparam("actor"),
        actor_count=0,  # counted afterwards, with the actor rows
        video_id=bindparam("video"),
        data=bindparam("payload", type_=table.c.data.type),
        created_at=bindparam("now", type_=UTCDateTime()),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
    return (
        stmt.on_conflict_do_update(
            index_elements=["user_id", "group_key"],
            index_where=OPEN_GROUP,
            set_={"group_key": stmt.excluded.group_key},
        )
        .returning(table.c.id)
        .execution_options(**BOUNDED)
    )


async def add_likes(
    session: AsyncSession,
    owner_id: str,
    video_id: str,
    liker_ids: Sequence[str],
    window: timedelta,
    *,
    recounted_within: timedelta,
) -> str | None:
    """Add likers (oldest first) to the owner's open notification for the video, opening one if
    needed. Returns its id when it changed; None when the owner does not want it or already
    counts them all. A liker counted in the last `recounted_within` (in this group or the one
    before: an unlike and like again, a like read twice by overlapping jobs) is not counted
    again. Safe under concurrent jobs: the upsert makes one row per open group and each actor
    row is inserted once, so no count is lost or doubled."""
    note = NewNotification(owner_id, NotificationType.LIKE, video_id, None, video_id)
    candidates = [uid for uid in dict.fromkeys(liker_ids) if uid != owner_id]
    if not candidates:
        return None
    if note.type.value in (await disabled_types(session, [owner_id]))[owner_id]:
        return None
    now = utcnow()
    group = {"owner": owner_id, "group": note.group_key}
    blocked = await _blocked_pairs(session, {(owner_id, uid) for uid in candidates})
    counted = await execute_core(
        session,
        _COUNTED_ACTORS,
        {**group, "since": now - recounted_within, "candidates": candidates},
        execution_options=bounded_when(len(candidates)),
    )
    excluded = {uid for _, uid in blocked} | set(counted.scalars())
    joining = [uid for uid in candidates if uid not in excluded]
    if not joining:
        return None
    await _hold_users(session, [owner_id, *joining])
    # A group that outlived the window takes no more likes: the next one starts a new line.
    await fetch_bounded(session, _CLOSE_STALE_GROUP, {**group, "opened_before": now - window})
    (opened,) = await fetch_bounded(
        session,
        _open_like_group(session.get_bind().dialect.name),
        {
            **group,
            "new_id": new_id(),
            "actor": joining[-1],
            "video": video_id,
            "payload": {},
            "now": now,
        },
    )
    notification_id: str = opened.id
    # Microseconds apart, so the newest liker is also the newest actor row.
    actors = [
        {
            "notification_id": notification_id,
            "actor_id": uid,
            "created_at": now + timedelta(microseconds=i),
        }
        for i, uid in enumerate(joining)
    ]
    joined = set(
        (
            await execute_core(
                session,
                _new_actors(session.get_bind().dialect.name),
                actors,
                execution_options=bounded_when(len(actors)),
            )
        ).scalars()
    )
    if not joined:
        return None
    newest = next(uid for uid in reversed(joining) if uid in joined)
    await fetch_bounded(
        session,
        _COUNT_ACTORS,
        {"notification": notification_id, "joined": len(joined), "newest": newest, "now": now},
    )
    return notification_id


@dataclass(frozen=True)
class FanOutBatch:
    created: list[tuple[str, str]]  # (notification id, follower id)
    next_after: str | None  # the follower id the next batch starts after; None when done


async def fan_out_new_post(
    session: AsyncSession, creator_id: str, video_id: str, *, after: str, size: int
) -> FanOutBatch:
    """new_post for the next `size` followers of the creator (by follower id), in one
    INSERT ... SELECT; followers who turned it off or are blocked either way are skipped, and
    a follower who already has it is not told twice."""
    followers = list(
        await session.scalars(
            select(Follow.follower_id)
            .where(Follow.followee_id == creator_id, Follow.follower_id > after)
            .order_by(Follow.follower_id)
            .limit(size)
        )
    )
    if not followers:
        return FanOutBatch([], None)
    await _hold_users(session, [creator_id, *followers])
    now = utcnow()
    note = NewNotification("", NotificationType.NEW_POST, video_id, creator_id, video_id)
    turned_off = exists().where(
        NotificationPreference.user_id == Follow.follower_id,
        NotificationPreference.type == note.type.value,
        NotificationPreference.enabled.is_(False),
    )
    # Ids in the ULID layout: this moment's 10 time characters, then the 16 random characters
    # of the follower's own id, unique within the batch; a clash needs the same follower in
    # the same millisecond, and then the job's retry takes a new moment.
    moment = new_id()[:10]
    rows = select(
        literal(moment, String) + func.substr(Follow.follower_id, 11, 16),
        Follow.follower_id,
        literal(note.type.value, String),
        literal(note.group_key, String),
        true(),
        literal(creator_id, String),
        literal(1),
        literal(video_id, String),
        literal({}, JSON),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(
        Follow.followee_id == creator_id,
        Follow.follower_id > after,
        Follow.follower_id <= followers[-1],
        ~turned_off,
        ~blocked_either_way(Follow.follower_id, creator_id),
    )
    columns = [
        "id",
        "user_id",
        "type",
        "group_key",
        "is_open",
        "actor_id",
        "actor_count",
        "video_id",
        "data",
        "created_at",
        "updated_at",
    ]
    stmt: Insert = (
        _insert(session, Notification.__table__)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["user_id", "group_key"], index_where=OPEN_GROUP)
        .returning(Notification.__table__.c.id, Notification.__table__.c.user_id)
    )
    created = [(nid, uid) for nid, uid in await session.execute(stmt)]
    return FanOutBatch(created, followers[-1] if len(followers) == size else None)


async def mark_read(session: AsyncSession, user_id: str, ids: Sequence[str] | None) -> int:
    """Mark the user's notifications read (all of them when `ids` is None), closing their
    groups: the next like starts a new notification. Ids of others are ignored."""
    stmt = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    marked = await session.execute(
        stmt.values(read_at=utcnow(), is_open=False)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return len(marked.all())


# -- preferences -----------------------------------------------------------------------------
async def preferences(session: AsyncSession, user_id: str) -> dict[NotificationType, bool]:
    """Every type, on unless the user turned it off."""
    off = (await disabled_types(session, [user_id]))[user_id]
    return {kind: kind.value not in off for kind in NotificationType}


async def set_preferences(
    session: AsyncSession, user_id: str, changes: dict[NotificationType, bool]
) -> dict[NotificationType, bool]:
    """Turn the given types on or off; the others keep their setting."""
    if changes:
        stmt = _insert(session, NotificationPreference.__table__).values(
            [
                {"user_id": user_id, "type": kind.value, "enabled": enabled}
                for kind, enabled in changes.items()
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "type"], set_={"enabled": stmt.excluded.enabled}
            )
        )
    return await preferences(session, user_id)
