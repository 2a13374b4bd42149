"""Likes and dislikes of comments: one reaction per user and comment, counted on the comment
by atomic UPDATEs in the same transaction as the reaction row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.comments import repository as repo
from reelstack.comments.models import Comment, CommentReaction
from reelstack.comments.service import comments_disabled, signed_in
from reelstack.db import insert_ignoring_conflicts, utcnow
from reelstack.media.service import Viewer

REACTIONS = {"like": 1, "dislike": -1, "remove": 0}


@dataclass(frozen=True)
class ReactionState:
    liked: bool
    disliked: bool
    like_count: int


async def react(
    session: AsyncSession,
    viewer: Viewer,
    comment_id: str,
    action: Literal["like", "dislike", "remove"],
) -> ReactionState:
    """Like, dislike or neither; doing it twice changes nothing, and switching moves both
    counts in one UPDATE."""
    user_id = signed_in(viewer)
    found = await repo.visible_comment(session, viewer, comment_id)
    if not found.seen.video.allow_comments:
        raise comments_disabled()
    comment = await _locked_alone(session, found.comment.id)
    wanted = REACTIONS[action]
    before = await _set_reaction(session, comment.id, user_id, wanted)
    liked = int(wanted == 1) - int(before == 1)
    disliked = int(wanted == -1) - int(before == -1)
    like_count = comment.like_count
    if liked or disliked:
        like_count = int(
            await session.scalar(
                update(Comment)
                .where(Comment.id == comment.id)
                .values(
                    like_count=Comment.like_count + liked,
                    dislike_count=Comment.dislike_count + disliked,
                )
                .returning(Comment.like_count)
                .execution_options(synchronize_session=False)
            )
            or 0
        )
    return ReactionState(liked=wanted == 1, disliked=wanted == -1, like_count=like_count)


async def _locked_alone(session: AsyncSession, comment_id: str) -> Comment:
    # Only this row: a reaction never touches the thread, so no lock order to keep.
    comment = await repo.lock_comment(session, comment_id)
    if comment is None or comment.is_deleted:
        raise repo.comment_not_found()
    return comment


async def _set_reaction(session: AsyncSession, comment_id: str, user_id: str, wanted: int) -> int:
    """Make the user's reaction `wanted` (0: none); returns what it was before."""
    mine = (CommentReaction.comment_id == comment_id, CommentReaction.user_id == user_id)
    if wanted == 0:
        removed = await session.scalar(
            delete(CommentReaction).where(*mine).returning(CommentReaction.value)
        )
        return int(removed or 0)
    inserted = await session.execute(
        insert_ignoring_conflicts(session, CommentReaction.__table__)
        .values(comment_id=comment_id, user_id=user_id, value=wanted, created_at=utcnow())
        .returning(CommentReaction.__table__.c.comment_id)
    )
    if inserted.first() is not None:
        return 0
    switched = await session.execute(
        update(CommentReaction)
        .where(*mine, CommentReaction.value != wanted)
        .values(value=wanted, created_at=utcnow())
        .returning(CommentReaction.value)
        .execution_options(synchronize_session=False)
    )
    return -wanted if switched.first() is not None else wanted
