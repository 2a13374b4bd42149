from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, UTCDateTime, utcnow


class WatchEvent(Base):
    """One report of watching a video, as the analytics stream delivers it. `counted` marks
    the events that counted as a view: the rows every view counter is recomputed from."""

    __tablename__ = "watch_events"
    __table_args__ = (
        Index("ix_watch_events_video_created", "video_id", "created_at"),
        Index("ix_watch_events_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    session_id: Mapped[str | None] = mapped_column(String(64), default=None)
    watched_ms: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WatchHistory(Base):
    """The last time a user watched a video and where they stopped: history and resume."""

    __tablename__ = "watch_history"
    __table_args__ = (Index("ix_watch_history_user_watched", "user_id", "watched_at"),)

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    position_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    watched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
