from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from reelstack.media.schemas import VideoAuthor

MAX_COMMENT_LENGTH = 2000


def _printable(value: str) -> str:
    # Control characters (a NUL cannot even be stored by PostgreSQL) are never meant as text.
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValueError("the text contains control characters")
    return value.replace("\r\n", "\n")


CommentText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_COMMENT_LENGTH),
    AfterValidator(_printable),
]


class CommentSort(StrEnum):
    TOP = "top"  # most liked first
    NEWEST = "newest"


class PostCommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CommentText
    parent_comment_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Reply to this comment. A reply to a reply joins the same thread.",
    )


class EditCommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CommentText


class ReactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["like", "dislike", "remove"]


class ReactionOut(BaseModel):
    liked: bool
    disliked: bool
    like_count: int


class UserRef(BaseModel):
    user_id: str
    username: str


class CommentInteraction(BaseModel):
    liked: bool = False
    disliked: bool = False


class CommentOut(BaseModel):
    comment_id: str
    video_id: str
    thread_id: str | None = Field(description="The top-level comment a reply belongs to.")
    user: VideoAuthor | None = Field(description="None once the comment is removed.")
    reply_to: UserRef | None = Field(description="Whom a reply answers.")
    mentions: list[UserRef]
    text: str | None = Field(description="None once the comment is removed.")
    created_at: datetime
    is_edited: bool
    is_pinned: bool
    is_deleted: bool = Field(description="Removed, kept as a placeholder for its replies.")
    held_for_review: bool = Field(
        description="Waiting for a moderator; only its author (and moderators) see it."
    )
    like_count: int
    reply_count: int
    user_interaction: CommentInteraction
    replies: list[CommentOut] = Field(
        description="The first replies, oldest first (top-level comments in lists only)."
    )


class CommentPage(BaseModel):
    comments: list[CommentOut]
    next_cursor: str | None
    has_more: bool
    comments_disabled: bool = Field(description="The creator has turned comments off.")


class ReplyPage(BaseModel):
    replies: list[CommentOut]
    next_cursor: str | None
    has_more: bool
