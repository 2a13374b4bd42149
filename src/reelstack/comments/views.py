"""Shaping comments for responses: a removed comment keeps its place but shows nobody's words."""

from __future__ import annotations

from reelstack.accounts.views import MediaLinks
from reelstack.comments.repository import Authored, Context
from reelstack.comments.schemas import CommentInteraction, CommentOut, UserRef
from reelstack.comments.service import Shown
from reelstack.media.views import author


def _ref(ctx: Context, user_id: str | None) -> UserRef | None:
    user = ctx.users.get(user_id) if user_id else None
    return UserRef(user_id=user.id, username=user.username) if user else None


def comment_out(
    media: MediaLinks, row: Authored, ctx: Context, replies: list[Authored] | None = None
) -> CommentOut:
    """One comment (with the given first replies) as the viewer of `ctx` sees it."""
    comment = row.comment
    removed = comment.is_deleted
    reaction = ctx.reactions.get(comment.id, 0)
    mentions = [] if removed else [_ref(ctx, uid) for uid in comment.mentioned_user_ids]
    return CommentOut(
        comment_id=comment.id,
        video_id=comment.video_id,
        thread_id=comment.thread_id,
        user=None if removed else author(media, row.author),
        reply_to=None if removed else _ref(ctx, comment.reply_to_user_id),
        mentions=[m for m in mentions if m is not None],
        text=None if removed else comment.text,
        created_at=comment.created_at,
        is_edited=comment.is_edited,
        is_pinned=comment.is_pinned,
        is_deleted=removed,
        held_for_review=comment.held_for_review,
        like_count=comment.like_count,
        reply_count=comment.reply_count,
        user_interaction=CommentInteraction(liked=reaction > 0, disliked=reaction < 0),
        replies=[comment_out(media, reply, ctx) for reply in replies or []],
    )


def shown_out(media: MediaLinks, shown: Shown) -> CommentOut:
    return comment_out(media, shown.row, shown.ctx, shown.replies)
