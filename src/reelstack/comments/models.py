from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.ids import new_id


class Comment(Base):
    """A comment. Threads are one level deep: `thread_id` is the top-level comment a reply
    belongs to (None for a top-level comment); `reply_to_user_id` is whom it answers."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_video_thread_created", "video_id", "thread_id", "created_at"),
        Index("ix_comments_video_created", "video_id", "created_at"),  # notification digests
        Index("ix_comments_video_thread_likes", "video_id", "thread_id", "like_count"),
        Index("ix_comments_thread_created", "thread_id", "created_at"),
        Index("ix_comments_user_created", "user_id", "created_at"),
        # At most one pinned comment per video.
        Index(
            "uq_comments_pinned_per_video",
            "video_id",
            unique=True,
            sqlite_where=text("is_pinned"),
            postgresql_where=text("is_pinned"),
        ),
    )

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    thread_id: Mapped[str | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None
    )
    reply_to_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text)
    mentioned_user_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    like_count: Mapped[int] = mapped_column(BigInteger, default=0)
    dislike_count: Mapped[int] = mapped_column(BigInteger, default=0)
    reply_count: Mapped[int] = mapped_column(BigInteger, default=0)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    is_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Matched the word filter: shown to its author only until a moderator decides.
    held_for_review: Mapped[bool] = mapped_column(Boolean, default=False)
    held_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CommentReaction(Base):
    """A like (+1) or dislike (-1) of a comment; one per user and comment."""

    __tablename__ = "comment_reactions"

    comment_id: Mapped[str] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
