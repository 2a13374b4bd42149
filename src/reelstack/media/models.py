from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow
from reelstack.infra.counters import CounterSpec, register_counters
from reelstack.infra.ids import new_id


class VideoStatus(StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"  # playable: at least one rung is published
    FAILED = "failed"


class JobState(StrEnum):
    """Where the processing job stands; a lease lets a crashed worker's job be run again."""

    IDLE = "idle"  # nothing to do (still uploading, or never will be)
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class UploadProtocol(StrEnum):
    CHUNKED = "chunked"
    TUS = "tus"
    MULTIPART = "multipart"


class UploadState(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        Index("ix_videos_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_videos_job_state_lease_until", "job_state", "lease_until"),
        Index("ix_videos_sound_id_created_at", "sound_id", "created_at", "id"),
        # Feeds read a creator's (a sound's) videos newest first: see `media.newest`.
        Index("ix_videos_user_id_published_at", "user_id", "published_at", "id"),
        Index("ix_videos_sound_id_published_at", "sound_id", "published_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    caption: Mapped[str] = mapped_column(String(2200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(50), default=None)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    allow_comments: Mapped[bool] = mapped_column(Boolean, default=True)
    sound_id: Mapped[str | None] = mapped_column(String(26), default=None)
    # How a reused sound (`sound_id` chosen at upload) meets the upload's own audio.
    sound_mode: Mapped[str | None] = mapped_column(String(8), default=None)

    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.UPLOADING.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(50), default=None)
    error_detail: Mapped[str | None] = mapped_column(String(500), default=None)

    duration: Mapped[float | None] = mapped_column(Float, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    source_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Published renditions, lowest first; a rung appears here only once all its files are stored.
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    mp4_key: Mapped[str | None] = mapped_column(String(200), default=None)
    thumbnails: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hidden_by_moderation: Mapped[bool] = mapped_column(Boolean, default=False)

    view_count: Mapped[int] = mapped_column(BigInteger, default=0)
    like_count: Mapped[int] = mapped_column(BigInteger, default=0)
    comment_count: Mapped[int] = mapped_column(BigInteger, default=0)
    share_count: Mapped[int] = mapped_column(BigInteger, default=0)
    save_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The last counter flush written into the counts above (see infra.counters).
    counters_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    job_state: Mapped[str] = mapped_column(String(16), default=JobState.IDLE.value)
    lease_owner: Mapped[str | None] = mapped_column(String(26), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class UploadSession(Base):
    """A resumable upload of one video's original file."""

    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(IdColumn(), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    chunk_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=UploadState.OPEN.value)
    # With S3 storage the client may send parts straight to the bucket.
    s3_upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class UploadPiece(Base):
    """One stored byte range [start, end) of an upload: a row per stored object, so a chunk
    sent twice is one row, and concurrent chunks never overwrite each other's record."""

    __tablename__ = "upload_pieces"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


VIDEO_COUNTERS = register_counters(
    CounterSpec(
        "video",
        Video.__table__,  # type: ignore[arg-type]
        ("view_count", "like_count", "comment_count", "share_count", "save_count"),
    )
)
