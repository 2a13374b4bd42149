"""Reading comments as a viewer may see them: one comment, a page of threads, a page of replies
and what shaping them needs, each in a fixed number of queries however long the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.comments.models import Comment, CommentReaction
from reelstack.comments.paging import MostLiked, OldestFirst, next_likes_cursor
from reelstack.comments.schemas import CommentSort
from reelstack.errors import NotFound
from reelstack.infra.pagination import Keyset, next_cursor
from reelstack.media import service as media
from reelstack.media.models import Video
from reelstack.media.service import SeenVideo, VideoGate, Viewer
from reelstack.media.views import CardOwner
from reelstack.social import service as social
from reelstack.social.models import Block
from reelstack.social.visibility import Relationship

REPLY_PREVIEW = 3
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def comment_not_found() -> NotFound:
    return NotFound("No such comment.", code="comment_not_found")


@dataclass(frozen=True)
class Authored:
    """A comment with its author's row."""

    comment: Comment
    author: CardOwner


@dataclass(frozen=True)
class FoundComment:
    """A comment the viewer may see, its author, the video it is on and its thread's top."""

    comment: Comment
    author: User
    seen: SeenVideo | VideoGate
    thread: Comment | None


def _blocked_either_way(viewer_id: str) -> ColumnElement[bool]:
    # Read here rather than through social.service: a list must leave these authors out in
    # SQL, or a page of a prolific blocked user's comments would come back empty.
    return exists().where(
        or_(
            and_(Block.blocker_id == viewer_id, Block.blocked_id == Comment.user_id),
            and_(Block.blocker_id == Comment.user_id, Block.blocked_id == viewer_id),
        )
    )


def listable(viewer: Viewer) -> list[ColumnElement[bool]]:
    """What a comment row (joined with its author) must satisfy to appear to the viewer."""
    conditions: list[ColumnElement[bool]] = [User.is_active.is_(True)]
    if not viewer.is_moderator:
        not_held = Comment.held_for_review.is_(False)
        conditions.append(
            or_(not_held, Comment.user_id == viewer.user_id) if viewer.user_id else not_held
        )
    if viewer.user_id is not None:
        conditions.append(~_blocked_either_way(viewer.user_id))
    return conditions


def _shown_as_thread(comment: Comment) -> bool:
    """A removed top-level comment stays, as a placeholder, only while it has replies."""
    return not comment.is_deleted or comment.reply_count > 0


def _may_read(
    viewer: Viewer, comment: Comment, authors: dict[str, User], relations: dict[str, Relationship]
) -> bool:
    """`listable` for one loaded comment."""
    if comment.user_id not in authors:
        return False
    own = comment.user_id == viewer.user_id
    if comment.held_for_review and not (own or viewer.is_moderator):
        return False
    relation = relations[comment.user_id]
    return not (relation.is_blocking or relation.is_blocked_by)


async def visible_comment(
    session: AsyncSession,
    viewer: Viewer,
    comment_id: str,
    *,
    seen: SeenVideo | VideoGate | None = None,
    removed_ok: bool = False,
) -> FoundComment:
    """The comment as the viewer may see it; one on a video they may not see, by someone
    blocked either way, held for someone else's review, or in such a thread, does not exist
    for them. A removed comment counts only with `removed_ok`, while replies keep it shown."""
    comment = await session.get(Comment, comment_id)
    if comment is None or (comment.is_deleted and not (removed_ok and comment.reply_count > 0)):
        raise comment_not_found()
    if seen is None or seen.video.id != comment.video_id:
        try:
            seen = await media.visible_video(session, viewer, comment.video_id)
        except NotFound:
            raise comment_not_found() from None
    thread = await session.get(Comment, comment.thread_id) if comment.thread_id else None
    shown = [comment] if thread is None else [comment, thread]
    authors = await accounts.get_users(session, [c.user_id for c in shown])
    relations = await social.relationships(session, viewer.user_id, list(authors))
    if not all(_may_read(viewer, c, authors, relations) for c in shown):
        raise comment_not_found()
    if thread is not None and not _shown_as_thread(thread):
        raise comment_not_found()
    return FoundComment(comment, authors[comment.user_id], seen, thread)


async def lock_comment(session: AsyncSession, comment_id: str) -> Comment | None:
    """The comment's row, locked until commit and reloaded as it is now (None if gone).
    A reply's thread is always locked before the reply, so two writers never wait in a cycle."""
    comment: Comment | None = await session.scalar(
        select(Comment)
        .where(Comment.id == comment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return comment


async def lock_video(session: AsyncSession, video_id: str, *, for_pin: bool = False) -> bool:
    """Lock the video's row before any of its comments', the order in which deleting a video
    (which deletes its comments) takes them; False if the video is gone. A post takes FOR KEY
    SHARE, which its foreign key would take anyway and which waits for neither other posts nor
    a pin; a pin takes FOR NO KEY UPDATE, which queues pins of one video and nothing else.
    SQLite has a single writer and no row locks."""
    if session.get_bind().dialect.name == "sqlite":
        return True  # the one writer read the video in this transaction: nobody can delete it
    query = select(Video.id).where(Video.id == video_id)
    locked = query.with_for_update(key_share=True, read=not for_pin)
    return (await session.scalar(locked)) is not None


def _authored(query: S) -> S:
    """Comments joined with their authors, which `listable` filters on."""
    return query.join(User, User.id == Comment.user_id)


async def _rows(session: AsyncSession, query: Select[Comment, User]) -> list[Authored]:
    return [Authored(comment, user) for comment, user in (await session.execute(query)).all()]


@dataclass(frozen=True)
class ThreadPage:
    threads: list[Authored]
    previews: dict[str, list[Authored]]  # thread id -> its first replies
    next_cursor: str | None


async def thread_page(
    session: AsyncSession,
    viewer: Viewer,
    video_id: str,
    *,
    sort: CommentSort,
    cursor: str | None,
    limit: int,
) -> ThreadPage:
    """Top-level comments of a video the viewer may see (the pinned one first on the first
    page), each with its first replies; a removed one stays while it has replies."""
    query = _authored(select(Comment, User)).where(
        Comment.video_id == video_id,
        Comment.thread_id.is_(None),
        or_(Comment.is_deleted.is_(False), Comment.reply_count > 0),
        *listable(viewer),
    )
    pinned = [] if cursor else await _rows(session, query.where(Comment.is_pinned.is_(True)))
    rest = query.where(Comment.is_pinned.is_(False))
    cut: str | None
    if sort is CommentSort.TOP:
        rows = await _rows(
            session, MostLiked(Comment.like_count, Comment.id).apply(rest, cursor, limit)
        )
        rows, cut = next_likes_cursor(rows, limit, lambda r: (r.comment.like_count, r.comment.id))
    else:
        rows = await _rows(
            session, Keyset(Comment.created_at, Comment.id).apply(rest, cursor, limit)
        )
        rows, cut = next_cursor(rows, limit, lambda r: (r.comment.created_at, r.comment.id))
    threads = pinned + rows
    previews = await reply_previews(session, viewer, [row.comment.id for row in threads])
    return ThreadPage(threads, previews, cut)


async def reply_previews(
    session: AsyncSession, viewer: Viewer, thread_ids: list[str]
) -> dict[str, list[Authored]]:
    """The oldest few replies of each thread the viewer may see, in one query."""
    previews: dict[str, list[Authored]] = {thread_id: [] for thread_id in thread_ids}
    if not thread_ids:
        return previews
    position = (
        func.row_number()
        .over(partition_by=Comment.thread_id, order_by=(Comment.created_at, Comment.id))
        .label("position")
    )
    ranked = (
        _authored(select(Comment.id, position))
        .where(Comment.thread_id.in_(thread_ids), *listable(viewer))
        .subquery()
    )
    query = (
        _authored(select(Comment, User))
        .join(ranked, ranked.c.id == Comment.id)
        .where(ranked.c.position <= REPLY_PREVIEW)
        .order_by(Comment.created_at, Comment.id)
    )
    for row in await _rows(session, query):
        previews[row.comment.thread_id or ""].append(row)
    return previews


async def reply_page(
    session: AsyncSession, viewer: Viewer, thread: Comment, *, cursor: str | None, limit: int
) -> tuple[list[Authored], str | None]:
    """Replies in a thread the viewer may see, oldest first."""
    query = OldestFirst(Comment.created_at, Comment.id).apply(
        _authored(select(Comment, User)).where(Comment.thread_id == thread.id, *listable(viewer)),
        cursor,
        limit,
    )
    rows = await _rows(session, query)
    return next_cursor(rows, limit, lambda r: (r.comment.created_at, r.comment.id))


@dataclass(frozen=True)
class Context:
    """What shaping comments needs beyond their rows and authors."""

    users: dict[str, User]  # whom replies answer and mentions name
    reactions: dict[str, int]  # comment id -> the viewer's +1 (like) or -1 (dislike)


async def context(session: AsyncSession, viewer_id: str | None, comments: list[Comment]) -> Context:
    """The users comments refer to and the viewer's reactions: two queries for any number."""
    referred = {c.reply_to_user_id for c in comments if c.reply_to_user_id and not c.is_deleted}
    for comment in comments:
        if not comment.is_deleted:
            referred.update(comment.mentioned_user_ids)
    users = await accounts.get_users(session, sorted(u for u in referred if u))
    reactions: dict[str, int] = {}
    if viewer_id is not None and comments:
        rows = await session.execute(
            select(CommentReaction.comment_id, CommentReaction.value).where(
                CommentReaction.user_id == viewer_id,
                CommentReaction.comment_id.in_([c.id for c in comments]),
            )
        )
        reactions = {comment_id: value for comment_id, value in rows}
    return Context(users, reactions)


async def mentionable_users(
    session: AsyncSession, author_id: str, usernames: list[str]
) -> list[User]:
    """The active users these names belong to, in the order given, leaving out the author
    and anyone who blocks the author or whom the author blocks."""
    if not usernames:
        return []
    rows = await session.scalars(
        select(User).where(User.username.in_(usernames), User.is_active, User.id != author_id)
    )
    by_name = {user.username: user for user in rows}
    relations = await social.relationships(session, author_id, [u.id for u in by_name.values()])
    return [
        by_name[name]
        for name in usernames
        if name in by_name
        and not (
            relations[by_name[name].id].is_blocking or relations[by_name[name].id].is_blocked_by
        )
    ]


async def has_replies(session: AsyncSession, thread_id: str) -> bool:
    """Whether any reply row remains in the thread, held ones included."""
    found = await session.scalar(select(Comment.id).where(Comment.thread_id == thread_id).limit(1))
    return found is not None


async def counted_comments(session: AsyncSession, video_ids: list[str]) -> dict[str, int]:
    """The truth of a video's comment_count: its comments neither removed nor held."""
    rows = await session.execute(
        select(Comment.video_id, func.count())
        .where(
            Comment.video_id.in_(video_ids),
            Comment.is_deleted.is_(False),
            Comment.held_for_review.is_(False),
        )
        .group_by(Comment.video_id)
    )
    return {video_id: count for video_id, count in rows}
