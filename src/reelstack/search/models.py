"""What search keeps: one document per searchable thing, the term vocabulary for typo
correction, hashtags and the queries people run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reelstack.db import Base, IdColumn, UTCDateTime, utcnow


class SearchDocument(Base):
    """A video, user or sound as the full-text index sees it: index terms only (see
    `search.text`), never private fields. What a viewer may see is decided at query time
    from the live rows, so a stale document can never leak anything."""

    __tablename__ = "search_documents"
    __table_args__ = (
        Index("ix_search_documents_kind_ref_id", "kind", "ref_id", unique=True),
        Index("ix_search_documents_kind_rank_key", "kind", "rank_key"),
    )

    # An integer key: the FTS5 table's rowid on SQLite.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[str] = mapped_column(IdColumn())
    # Space-separated index terms; `terms` is every term of both, for the matching backends.
    primary_terms: Mapped[str] = mapped_column(Text)
    secondary_terms: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    # log(engagement) + published/decay: ordering by it is ordering by engagement x recency,
    # whatever the time now (the current time only shifts every key by the same amount).
    rank_key: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SearchTerm(Base):
    """The vocabulary: every index term and how many documents hold it."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(200), primary_key=True)
    doc_count: Mapped[int] = mapped_column(Integer, default=0)


class SearchTermDelete(Base):
    """SymSpell deletes of the vocabulary (SQLite's typo correction; PostgreSQL uses pg_trgm)."""

    __tablename__ = "search_term_deletes"

    variant: Mapped[str] = mapped_column(String(200), primary_key=True)
    term: Mapped[str] = mapped_column(String(200), primary_key=True)


class Hashtag(Base):
    """A hashtag with the public, playable videos that carry it."""

    __tablename__ = "hashtags"
    __table_args__ = (Index("ix_hashtags_video_count", "video_count"),)

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    video_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VideoHashtag(Base):
    """Which video carries which tag. No foreign key on purpose: when a video is deleted, the
    index job still finds its tags here to recount them (readers join the live videos)."""

    __tablename__ = "video_hashtags"
    __table_args__ = (Index("ix_video_hashtags_video_id", "video_id"),)

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    video_id: Mapped[str] = mapped_column(IdColumn(), primary_key=True)


class SearchQuery(Base):
    """A query people ran and found something with; popular ones become suggestions."""

    __tablename__ = "search_queries"
    __table_args__ = (Index("ix_search_queries_count", "count"),)

    query: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_searched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
