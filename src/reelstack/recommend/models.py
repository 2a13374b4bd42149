"""What recommendation keeps in the database: impressions, not-interested marks, models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.ids import new_id
from reelstack.media.models import Video

# Feeds page through recent videos newest first; fresh and random sources scan it too.
VIDEOS_BY_PUBLISHED = Index("ix_videos_published_at", Video.__table__.c.published_at)


class Impression(Base):
    """One video shown in a feed, with the features it was ranked on: the training data.
    No foreign keys: rows are written in batches after the page left, and a video deleted
    meanwhile must not fail the batch."""

    __tablename__ = "feed_impressions"
    __table_args__ = (
        Index("ix_feed_impressions_user_created", "user_id", "created_at"),
        Index("ix_feed_impressions_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[str | None] = mapped_column(String(26), default=None)
    session_id: Mapped[str | None] = mapped_column(String(64), default=None)
    video_id: Mapped[str] = mapped_column(String(26))
    feed: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotInterested(Base):
    """A viewer said "not interested": that video, its creator and its hashtags go down."""

    __tablename__ = "not_interested"
    __table_args__ = (Index("ix_not_interested_user_created", "user_id", "created_at"),)

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RankerModel(Base):
    """Weights learned by the training job; the newest one ranks."""

    __tablename__ = "ranker_models"
    __table_args__ = (Index("ix_ranker_models_created", "created_at"),)

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    intercept: Mapped[float] = mapped_column(Float)
    trained_on: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
