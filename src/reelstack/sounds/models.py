"""Sounds: the audio track of a video that other videos may reuse, and who reused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.ids import new_id


class Sound(Base):
    """An audio track stored on its own (`audio_key`), first heard in `video_id`.

    `video_id` carries no foreign key on purpose: the source video may be deleted before the
    sound is, and until the clean-up job runs, a sound whose source is gone is unusable."""

    __tablename__ = "sounds"
    __table_args__ = (
        Index("uq_sounds_video_id", "video_id", unique=True),
        Index("ix_sounds_usage", "usage_count", "created_at"),
        Index("ix_sounds_user_created", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(String(26))
    duration: Mapped[float] = mapped_column(Float)
    audio_key: Mapped[str] = mapped_column(String(200))
    usage_count: Mapped[int] = mapped_column(BigInteger, default=0)
    is_original: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SoundUse(Base):
    """A ready video that uses a sound (its own original or a reused one). The rows are what
    `usage_count` is recomputed from, and their times are what trending counts."""

    __tablename__ = "sound_uses"
    __table_args__ = (
        Index("ix_sound_uses_created_sound", "created_at", "sound_id"),
        Index("ix_sound_uses_video_id", "video_id"),
    )

    sound_id: Mapped[str] = mapped_column(
        ForeignKey("sounds.id", ondelete="CASCADE"), primary_key=True
    )
    # No foreign key: the use is removed (and the count lowered) by the video.deleted handler.
    video_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
