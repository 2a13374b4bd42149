"""HTTP for comments: threads on a video, replies, edits, removal, reactions and the pin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from reelstack.comments import reactions, service
from reelstack.comments.schemas import (
    CommentOut,
    CommentPage,
    CommentSort,
    EditCommentRequest,
    PostCommentRequest,
    ReactionOut,
    ReactRequest,
    ReplyPage,
)
from reelstack.comments.views import shown_out
from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.media import service as media

router = Router(tags=["comments"])


@router.post("/videos/{video_id}/comments", status_code=status.HTTP_201_CREATED)
async def post_comment(
    video_id: str, body: PostCommentRequest, viewer: Viewer, rt: RuntimeDep
) -> CommentOut:
    """Comment on a video, or reply to a comment; a reply to a reply joins the same thread and
    answers that reply's author. The same text twice within a minute is refused."""
    return shown_out(
        rt.media, await service.post_comment(rt, media.Viewer.of(viewer), video_id, body)
    )


@router.get("/videos/{video_id}/comments")
async def video_comments(
    video_id: str,
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: ReadSession,
    paging: Paging,
    sort: Annotated[CommentSort, Query(description="`top`: most liked first.")] = CommentSort.TOP,
) -> CommentPage:
    """Top-level comments, the pinned one first, each with its reply count and first replies."""
    listed = await service.video_comments(
        session,
        media.Viewer.of(viewer),
        video_id,
        sort=sort,
        cursor=paging.cursor,
        limit=paging.size,
    )
    return CommentPage(
        comments=[shown_out(rt.media, item) for item in listed.items],
        next_cursor=listed.next_cursor,
        has_more=listed.next_cursor is not None,
        comments_disabled=listed.comments_disabled,
    )


@router.get("/comments/{comment_id}")
async def get_comment(
    comment_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession
) -> CommentOut:
    """One comment, with its first replies if it starts a thread."""
    return shown_out(
        rt.media, await service.one_comment(session, media.Viewer.of(viewer), comment_id)
    )


@router.get("/comments/{comment_id}/replies")
async def comment_replies(
    comment_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> ReplyPage:
    """The replies of a thread, oldest first."""
    listed = await service.thread_replies(
        session, media.Viewer.of(viewer), comment_id, cursor=paging.cursor, limit=paging.size
    )
    return ReplyPage(
        replies=[shown_out(rt.media, item) for item in listed.items],
        next_cursor=listed.next_cursor,
        has_more=listed.next_cursor is not None,
    )


@router.patch("/comments/{comment_id}")
async def edit_comment(
    comment_id: str, body: EditCommentRequest, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> CommentOut:
    """Change the text of one's own comment; it shows as edited."""
    edited = await service.edit_comment(session, rt, media.Viewer.of(viewer), comment_id, body.text)
    return shown_out(rt.media, edited)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(
    comment_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> Response:
    """Delete a comment (its author, the video's creator or a moderator). One with replies
    stays as "comment removed" so the conversation still reads."""
    await service.delete_comment(session, rt, media.Viewer.of(viewer), comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/comments/{comment_id}/like")
async def react(
    comment_id: str, body: ReactRequest, viewer: Viewer, session: WriteSession
) -> ReactionOut:
    """Like, dislike or clear one's reaction. Idempotent."""
    state = await reactions.react(session, media.Viewer.of(viewer), comment_id, body.action)
    return ReactionOut(liked=state.liked, disliked=state.disliked, like_count=state.like_count)


@router.post("/comments/{comment_id}/pin")
async def pin(comment_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession) -> CommentOut:
    """The video's creator pins a top-level comment; it replaces any pinned before."""
    return shown_out(
        rt.media, await service.set_pinned(session, media.Viewer.of(viewer), comment_id, True)
    )


@router.delete("/comments/{comment_id}/pin")
async def unpin(
    comment_id: str, viewer: Viewer, rt: RuntimeDep, session: WriteSession
) -> CommentOut:
    return shown_out(
        rt.media, await service.set_pinned(session, media.Viewer.of(viewer), comment_id, False)
    )
