from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.ids import new_id


class NotificationType(StrEnum):
    NEW_FOLLOWER = "new_follower"
    FOLLOW_REQUEST = "follow_request"
    LIKE = "like"
    COMMENT = "comment"
    REPLY = "reply"
    MENTION = "mention"
    VIDEO_READY = "video_ready"
    VIDEO_FAILED = "video_failed"
    NEW_POST = "new_post"


class Notification(Base):
    """One line in a user's notifications. Aggregated types (likes of one video) keep one open
    row per `group_key` that later actors join, until it is read or the window closes."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_updated", "user_id", "updated_at", "id"),
        # Was this user told of this subject (open or read)? A lookup, not a scan of the user's.
        Index("ix_notifications_user_group", "user_id", "group_key"),
        Index(
            "ix_notifications_user_unread",
            "user_id",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
        Index(
            "uq_notifications_open_group",
            "user_id",
            "group_key",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    group_key: Mapped[str | None] = mapped_column(String(100), default=None)
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    actor_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    actor_count: Mapped[int] = mapped_column(BigInteger, default=1)
    video_id: Mapped[str | None] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), default=None
    )
    comment_id: Mapped[str | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationActor(Base):
    """Who joined an aggregated notification: each actor counts once, however often they act."""

    __tablename__ = "notification_actors"

    notification_id: Mapped[str] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    actor_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationPreference(Base):
    """A type the user turned off (or back on); a missing row means on."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
