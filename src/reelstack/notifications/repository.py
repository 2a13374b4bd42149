"""Reading notifications: a user's list, unread counts, who acted, comment snippets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.comments.models import Comment
from reelstack.db import execute_core
from reelstack.infra.pagination import Keyset, next_cursor
from reelstack.media.models import Video
from reelstack.notifications.models import Notification, NotificationActor
from reelstack.notifications.service import blocked_either_way


def _not_about_blocked() -> ColumnElement[bool]:
    """Leaves out notifications about a single user whom their user blocks, or is blocked by."""
    return or_(
        Notification.actor_id.is_(None),
        Notification.actor_count > 1,
        ~blocked_either_way(Notification.user_id, Notification.actor_id),
    )


def _shown_to(user_id: str) -> ColumnElement[bool]:
    return and_(Notification.user_id == user_id, _not_about_blocked())


@dataclass(frozen=True)
class NotificationList:
    notifications: list[Notification]
    next_cursor: str | None


async def list_page(
    session: AsyncSession, user_id: str, *, cursor: str | None, limit: int
) -> NotificationList:
    """The user's notifications, most recently updated first."""
    query = Keyset(Notification.updated_at, Notification.id).apply(
        select(Notification).where(_shown_to(user_id)), cursor, limit
    )
    rows = list(await session.scalars(query))
    page, cursor_out = next_cursor(rows, limit, lambda n: (n.updated_at, n.id))
    return NotificationList(page, cursor_out)


async def by_ids(session: AsyncSession, user_id: str, ids: Sequence[str]) -> list[Notification]:
    """The user's notifications among `ids`, most recently updated first."""
    if not ids:
        return []
    rows = await session.scalars(
        select(Notification)
        .where(_shown_to(user_id), Notification.id.in_(list(ids)))
        .order_by(Notification.updated_at.desc(), Notification.id.desc())
    )
    return list(rows)


async def unread_count(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(_shown_to(user_id), Notification.read_at.is_(None))
    )
    return int(count or 0)


async def unread_counts(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, int]:
    """The unread count of each user, in one query."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Notification.user_id, func.count())
        .where(
            Notification.user_id.in_(list(user_ids)),
            Notification.read_at.is_(None),
            _not_about_blocked(),
        )
        .group_by(Notification.user_id)
    )
    counts = {user_id: 0 for user_id in user_ids}
    counts.update({user_id: int(count) for user_id, count in rows})
    return counts


async def recent_actors(
    session: AsyncSession, notification_ids: Sequence[str], per_notification: int
) -> dict[str, list[str]]:
    """The most recent actors of each aggregated notification, newest first, in one query."""
    if not notification_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=NotificationActor.notification_id,
            order_by=(NotificationActor.created_at.desc(), NotificationActor.actor_id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(NotificationActor.notification_id, NotificationActor.actor_id, rank)
        .where(NotificationActor.notification_id.in_(list(notification_ids)))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.notification_id, ranked.c.actor_id)
        .where(ranked.c.rank <= per_notification)
        .order_by(ranked.c.notification_id, ranked.c.rank)
    )
    actors: dict[str, list[str]] = {}
    for notification_id, actor_id in rows:
        actors.setdefault(notification_id, []).append(actor_id)
    return actors


async def shown_comment_texts(session: AsyncSession, comment_ids: set[str]) -> dict[str, str]:
    """Texts of the comments still shown to everyone (not removed, not held for review)."""
    if not comment_ids:
        return {}
    rows = await session.execute(
        select(Comment.id, Comment.text).where(
            Comment.id.in_(comment_ids),
            Comment.is_deleted.is_(False),
            Comment.held_for_review.is_(False),
        )
    )
    return {comment_id: text for comment_id, text in rows}


@dataclass(frozen=True)
class PostedComment:
    """A shown comment as its notifications need it."""

    comment_id: str
    author_id: str
    reply_to_user_id: str | None
    mentioned_user_ids: tuple[str, ...]
    created_at: datetime


_SHOWN_SINCE = (
    select(
        Comment.id,
        Comment.user_id,
        Comment.reply_to_user_id,
        Comment.mentioned_user_ids,
        Comment.created_at,
    )
    .where(
        Comment.video_id == bindparam("video_id"),
        Comment.created_at >= bindparam("since", type_=Comment.created_at.type),
        Comment.is_deleted.is_(False),
        Comment.held_for_review.is_(False),
    )
    .order_by(Comment.created_at, Comment.id)
)


async def shown_comments_since(
    session: AsyncSession, video_id: str, since: datetime
) -> list[PostedComment]:
    """The video's comments posted at or after `since` and still shown, oldest first."""
    rows = await execute_core(session, _SHOWN_SINCE, {"video_id": video_id, "since": since})
    return [
        PostedComment(comment_id, author_id, reply_to, tuple(mentioned or ()), created_at)
        for comment_id, author_id, reply_to, mentioned, created_at in rows
    ]


async def videos_by_id(session: AsyncSession, video_ids: set[str]) -> dict[str, Video]:
    """The videos notifications point at, in one query; whether the user may see each is for
    `media.service.may_see` to say."""
    if not video_ids:
        return {}
    rows = await session.scalars(select(Video).where(Video.id.in_(video_ids)))
    return {video.id: video for video in rows}
