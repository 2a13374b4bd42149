"""Comments as use cases: post (threads one level deep), edit, delete, pin, and the lists.
Counts move in the transaction of the rows they count: the video's comment_count through the
counters role, a thread's reply_count by an atomic UPDATE. comment_count counts the comments
neither removed nor held for review (`repository.counted_comments`)."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.comments import repository as repo
from reelstack.comments.models import Comment
from reelstack.comments.repository import Authored, Context
from reelstack.comments.schemas import CommentSort, PostCommentRequest
from reelstack.comments.text import duplicate_key, held_reason, mentioned_usernames
from reelstack.db import BOUNDED, fetch_bounded, utcnow
from reelstack.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    Unprocessable,
)
from reelstack.events import CommentPosted
from reelstack.infra.cache import Cache
from reelstack.infra.events import publish
from reelstack.infra.ids import new_id
from reelstack.media import service as media
from reelstack.media.models import VIDEO_COUNTERS
from reelstack.media.service import SeenVideo, VideoGate, Viewer
from reelstack.social import service as social
from reelstack.social.visibility import Relationship

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 60
# A reply in a thread whose top waits for review waits with it: nobody else can see the thread.
THREAD_HELD_REASON = "thread_held"


class DuplicateComment(RateLimited):
    """The same text from the same user again within the duplicate window."""

    code = "duplicate_comment"


def comments_disabled() -> Forbidden:
    """The refusal while the creator has turned comments off."""
    return Forbidden("The creator has turned comments off.", code="comments_disabled")


def signed_in(viewer: Viewer) -> str:
    """The viewer's id; writing needs one."""
    if viewer.user_id is None:
        raise NotAuthenticated()
    return viewer.user_id


@dataclass(frozen=True)
class Shown:
    """A comment with its first replies and what shaping them needs."""

    row: Authored
    replies: list[Authored]
    ctx: Context


Claim = Callable[[], Awaitable[None]]


@asynccontextmanager
async def _not_twice_a_minute(cache: Cache, user_id: str, text: str) -> AsyncIterator[Claim]:
    """Yields `claim`, which marks the text as just posted by the user, or refuses it if it
    already is. A claim is released if anything after it fails, the commit included, so a
    refused or failed post never blocks its retry."""
    key = duplicate_key(user_id, text)
    claimed = False

    async def claim() -> None:
        nonlocal claimed
        if not await cache.add(key, "1", ttl=DUPLICATE_WINDOW_SECONDS):
            left = await cache.ttl(key)
            raise DuplicateComment(
                math.ceil(left if left is not None else DUPLICATE_WINDOW_SECONDS),
                "You just posted this comment; wait a moment before posting it again.",
            )
        claimed = True

    try:
        yield claim
    except BaseException:
        if claimed:
            try:
                await cache.delete(key)
            except Exception:
                log.exception("could not release the duplicate-comment mark %s", key)
        raise


COMMENT_COLUMNS = list(Comment.__table__.columns)
COMMENT_INSERT = insert(Comment.__table__).execution_options(**BOUNDED)  # type: ignore[arg-type]


async def post_comment(
    rt: Runtime, viewer: Viewer, video_id: str, body: PostCommentRequest
) -> Shown:
    """Post a comment or a reply; its own transaction, so that the duplicate mark is released
    should the commit fail."""
    user_id = signed_in(viewer)
    async with (
        _not_twice_a_minute(rt.cache, user_id, body.text) as claim,
        rt.unit_of_work() as session,
    ):
        return await _post(session, rt, viewer, video_id, body, claim)


async def _post(
    session: AsyncSession,
    rt: Runtime,
    viewer: Viewer,
    video_id: str,
    body: PostCommentRequest,
    claim: Claim,
) -> Shown:
    user_id = signed_in(viewer)
    seen = await media.video_gate(session, viewer, video_id)
    if not seen.video.allow_comments:
        raise comments_disabled()
    if not await repo.lock_video(session, video_id):
        raise NotFound(media.VIDEO_NOT_FOUND, code="video_not_found")
    thread: Comment | None = None
    answered: User | None = None
    if body.parent_comment_id is not None:
        thread, answered = await _thread_to_join(session, viewer, seen, body.parent_comment_id)
    await claim()
    author = await accounts.get_author(session, user_id)
    reason = held_reason(body.text, rt.settings.comment_held_words)
    if reason is None and thread is not None and thread.held_for_review:
        reason = THREAD_HELD_REASON
    mentioned = await repo.mentionable_users(session, user_id, mentioned_usernames(body.text))
    now = utcnow()
    comment = Comment(
        id=new_id(),
        video_id=video_id,
        user_id=user_id,
        thread_id=thread.id if thread else None,
        reply_to_user_id=answered.id if answered else None,
        text=body.text,
        mentioned_user_ids=[user.id for user in mentioned],
        held_for_review=reason is not None,
        held_reason=reason,
        created_at=now,
        updated_at=now,
        like_count=0,
        dislike_count=0,
        reply_count=0,
        is_pinned=False,
        is_edited=False,
        is_deleted=False,
    )
    # One INSERT of every column, not the unit of work's flush: nothing in this transaction
    # reads the comment back, and the object only answers the request.
    await fetch_bounded(
        session, COMMENT_INSERT, {c.key: getattr(comment, c.key) for c in COMMENT_COLUMNS}
    )
    if reason is None:
        await rt.counters.add(session, VIDEO_COUNTERS, video_id, "comment_count", 1)
        if thread is not None:
            await _move_reply_count(session, thread.id, 1)
        publish(
            session,
            CommentPosted(
                comment_id=comment.id,
                video_id=video_id,
                owner_id=seen.owner.id,
                author_id=user_id,
                thread_id=comment.thread_id,
                reply_to_user_id=comment.reply_to_user_id,
                mentioned_user_ids=tuple(await _who_may_see(session, seen, mentioned)),
            ),
        )
    referred = {user.id: user for user in [*mentioned, *([answered] if answered else [])]}
    return Shown(Authored(comment, author), [], Context(referred, {}))


async def _thread_to_join(
    session: AsyncSession, viewer: Viewer, seen: SeenVideo | VideoGate, parent_id: str
) -> tuple[Comment, User]:
    """The thread a reply to `parent_id` joins, locked, and the author it answers."""
    parent = await repo.visible_comment(session, viewer, parent_id, seen=seen)
    if parent.comment.video_id != seen.video.id:
        raise Unprocessable(
            "The comment replied to is on another video.", code="parent_on_other_video"
        )
    parent_id = parent.comment.id
    thread = await repo.lock_comment(session, parent.comment.thread_id or parent_id)
    # Under the thread's lock a concurrent removal of the thread or the parent has finished.
    if thread is None or (thread.id == parent_id and thread.is_deleted):
        raise repo.comment_not_found()
    if thread.id != parent_id and not await _exists(session, parent_id):
        raise repo.comment_not_found()
    return thread, parent.author


async def _exists(session: AsyncSession, comment_id: str) -> bool:
    """Whether the comment's row is still there."""
    return (await session.scalar(select(Comment.id).where(Comment.id == comment_id))) is not None


async def _who_may_see(
    session: AsyncSession, seen: SeenVideo | VideoGate, users: list[User]
) -> list[str]:
    """The users among `users` who may see the video: a mention must not show a comment of a
    private or followers-only video to someone outside its audience."""
    if not users:
        return []
    owner_side = await social.relationships(session, seen.owner.id, [u.id for u in users])
    allowed = []
    for user in users:
        towards_owner = owner_side[user.id]
        theirs = Relationship(
            is_following=towards_owner.is_followed_by,
            is_followed_by=towards_owner.is_following,
            is_blocking=towards_owner.is_blocked_by,
            is_blocked_by=towards_owner.is_blocking,
        )
        if media.may_see(Viewer(user.id), seen.video, seen.owner, theirs):
            allowed.append(user.id)
    return allowed


async def _move_reply_count(session: AsyncSession, thread_id: str, delta: int) -> None:
    """Move a thread's reply count in place, without reading it first."""
    await session.execute(
        update(Comment)
        .where(Comment.id == thread_id)
        .values(reply_count=Comment.reply_count + delta)
        .execution_options(synchronize_session=False)
    )


async def _uncount(session: AsyncSession, rt: Runtime, comment: Comment) -> None:
    """A comment that counted stops counting (removed, or held after an edit)."""
    await rt.counters.add(session, VIDEO_COUNTERS, comment.video_id, "comment_count", -1)
    if comment.thread_id is not None:
        await _move_reply_count(session, comment.thread_id, -1)


async def _locked(session: AsyncSession, comment: Comment) -> Comment:
    """The comment locked and current (its thread locked first); gone or removed is a 404."""
    if (
        comment.thread_id is not None
        and await repo.lock_comment(session, comment.thread_id) is None
    ):
        raise repo.comment_not_found()
    locked = await repo.lock_comment(session, comment.id)
    if locked is None or locked.is_deleted:
        raise repo.comment_not_found()
    return locked


async def edit_comment(
    session: AsyncSession, rt: Runtime, viewer: Viewer, comment_id: str, text: str
) -> Shown:
    """Its author changes the text; a text the word filter matches sends it to review."""
    found = await repo.visible_comment(session, viewer, comment_id)
    user_id = signed_in(viewer)
    if found.comment.user_id != user_id:
        raise Forbidden("Only its author can edit a comment.", code="not_comment_author")
    if not found.seen.video.allow_comments:
        raise comments_disabled()
    comment = await _locked(session, found.comment)
    if text != comment.text:
        reason = held_reason(text, rt.settings.comment_held_words)
        if reason is not None and not comment.held_for_review:
            await _uncount(session, rt, comment)
            comment.held_for_review, comment.held_reason = True, reason
            comment.is_pinned = False
        mentioned = await repo.mentionable_users(session, user_id, mentioned_usernames(text))
        comment.text = text
        comment.mentioned_user_ids = [user.id for user in mentioned]
        comment.is_edited = True
        await session.flush()
    return await shown(session, viewer, Authored(comment, found.author))


async def delete_comment(
    session: AsyncSession, rt: Runtime, viewer: Viewer, comment_id: str
) -> None:
    """By its author, the video's creator or a moderator. A top-level comment with replies
    stays as a placeholder; any other goes, and a placeholder goes with its last reply."""
    found = await repo.visible_comment(session, viewer, comment_id)
    allowed = {found.comment.user_id, found.seen.video.user_id}
    if viewer.user_id not in allowed and not viewer.is_moderator:
        raise Forbidden(
            "Only its author, the video's creator or a moderator can delete a comment.",
            code="cannot_delete_comment",
        )
    comment = await _locked(session, found.comment)
    if not comment.held_for_review:
        await _uncount(session, rt, comment)
    if comment.thread_id is None and await repo.has_replies(session, comment.id):
        await session.execute(
            update(Comment)
            .where(Comment.id == comment.id)
            .values(is_deleted=True, is_pinned=False, text="", mentioned_user_ids=[])
        )
        return
    await session.execute(delete(Comment).where(Comment.id == comment.id))
    thread = found.thread
    if thread is not None and thread.is_deleted and not await repo.has_replies(session, thread.id):
        await session.execute(delete(Comment).where(Comment.id == thread.id))


async def set_pinned(session: AsyncSession, viewer: Viewer, comment_id: str, pinned: bool) -> Shown:
    """The video's creator pins a top-level comment (unpinning any other) or unpins it."""
    found = await repo.visible_comment(session, viewer, comment_id)
    if pinned and found.comment.thread_id is not None:
        raise Unprocessable("Only a top-level comment can be pinned.", code="cannot_pin_reply")
    if found.seen.owner.id != viewer.user_id:
        raise Forbidden("Only the creator can pin comments on this video.", code="not_video_owner")
    # Pins of one video queue on its row, so the one-pin-per-video index never refuses one.
    if not await repo.lock_video(session, found.comment.video_id, for_pin=True):
        raise repo.comment_not_found()
    comment = await _locked(session, found.comment)
    if pinned and comment.held_for_review:
        raise Conflict("A comment held for review cannot be pinned.", code="comment_held")
    if pinned != comment.is_pinned:
        if pinned:
            await session.execute(
                update(Comment)
                .where(Comment.video_id == comment.video_id, Comment.is_pinned.is_(True))
                .values(is_pinned=False)
            )
        await session.execute(
            update(Comment).where(Comment.id == comment.id).values(is_pinned=pinned)
        )
    return await shown(session, viewer, Authored(comment, found.author))


async def shown(
    session: AsyncSession, viewer: Viewer, row: Authored, replies: list[Authored] | None = None
) -> Shown:
    """`row` (and `replies`) with what shaping them needs."""
    replies = replies or []
    ctx = await repo.context(session, viewer.user_id, [row.comment, *(r.comment for r in replies)])
    return Shown(row, replies, ctx)


@dataclass(frozen=True)
class Listed:
    items: list[Shown]
    next_cursor: str | None
    comments_disabled: bool = False


async def video_comments(
    session: AsyncSession,
    viewer: Viewer,
    video_id: str,
    *,
    sort: CommentSort,
    cursor: str | None,
    limit: int,
) -> Listed:
    """A page of a video's threads as the viewer may see them; none while comments are off."""
    seen = await media.visible_video(session, viewer, video_id)
    if not seen.video.allow_comments:
        return Listed([], None, comments_disabled=True)
    page = await repo.thread_page(session, viewer, video_id, sort=sort, cursor=cursor, limit=limit)
    replies = [row.comment for rows in page.previews.values() for row in rows]
    ctx = await repo.context(
        session, viewer.user_id, [row.comment for row in page.threads] + replies
    )
    items = [Shown(row, page.previews[row.comment.id], ctx) for row in page.threads]
    return Listed(items, page.next_cursor)


async def thread_replies(
    session: AsyncSession, viewer: Viewer, comment_id: str, *, cursor: str | None, limit: int
) -> Listed:
    """A page of a thread's replies, oldest first (a reply has none of its own)."""
    found = await repo.visible_comment(session, viewer, comment_id, removed_ok=True)
    if not found.seen.video.allow_comments:
        return Listed([], None, comments_disabled=True)
    if found.comment.thread_id is not None:
        return Listed([], None)
    rows, cut = await repo.reply_page(session, viewer, found.comment, cursor=cursor, limit=limit)
    ctx = await repo.context(session, viewer.user_id, [row.comment for row in rows])
    return Listed([Shown(row, [], ctx) for row in rows], cut)


async def one_comment(session: AsyncSession, viewer: Viewer, comment_id: str) -> Shown:
    """One comment the viewer may see, with its first replies if it starts a thread."""
    found = await repo.visible_comment(session, viewer, comment_id, removed_ok=True)
    if not found.seen.video.allow_comments:
        raise comments_disabled()
    replies: list[Authored] = []
    if found.comment.thread_id is None:
        replies = (await repo.reply_previews(session, viewer, [found.comment.id]))[found.comment.id]
    return await shown(session, viewer, Authored(found.comment, found.author), replies)
