from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.ids import new_id


class VideoLike(Base):
    """A like is a row: the rows are the truth every like counter is recomputed from."""

    __tablename__ = "video_likes"
    __table_args__ = (Index("ix_video_likes_video_created", "video_id", "created_at"),)

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Save(Base):
    """A video bookmarked by a user (TikTok's "Favorites"); the base of every collection."""

    __tablename__ = "saves"
    __table_args__ = (
        Index("ix_saves_user_created", "user_id", "created_at"),
        Index("ix_saves_video_id", "video_id"),
    )

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Collection(Base):
    """A named, private list of saved videos."""

    __tablename__ = "collections"
    __table_args__ = (Index("ix_collections_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    video_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CollectionVideo(Base):
    __tablename__ = "collection_videos"
    __table_args__ = (
        Index("ix_collection_videos_collection_added", "collection_id", "added_at"),
        Index("ix_collection_videos_video_id", "video_id"),
    )

    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Share(Base):
    """One share of a video: to another user inside the platform or out to another app."""

    __tablename__ = "shares"
    __table_args__ = (Index("ix_shares_video_created", "video_id", "created_at"),)

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    type: Mapped[str] = mapped_column(String(16))  # internal | external
    platform: Mapped[str | None] = mapped_column(String(50), default=None)
    to_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
