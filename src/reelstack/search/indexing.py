"""Writing the search index: documents for videos, users and sounds, the vocabulary, hashtags.

Each function reloads what it needs, tolerates rows gone since the event, and is safe to run
twice. Only public profile fields and video text are indexed: never an email, never a password.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import utcnow
from reelstack.infra.search import SearchBackend
from reelstack.media.models import Video, VideoStatus
from reelstack.search import text
from reelstack.search.models import Hashtag, SearchDocument, SearchTerm, VideoHashtag
from reelstack.social.visibility import Audience

VIDEO, USER, SOUND = "video", "user", "sound"
# Engagement decays by e every this many seconds: recency against popularity.
DECAY_SECONDS = 14 * 24 * 3600.0
ENGAGEMENT_WEIGHT = 0.5
VERIFIED_BOOST = 3.0
EMPTY_TERM = "_"  # a document needs one lexeme; no query can ask for this one


def engagement(views: int, likes: int, comments: int, shares: int, saves: int) -> float:
    return float(views + 5 * likes + 10 * comments + 10 * shares + 5 * saves)


def recency_rank(score: float, moment: datetime) -> float:
    """log(engagement) plus time/decay: sorting by it sorts by engagement x recency."""
    return ENGAGEMENT_WEIGHT * math.log1p(max(score, 0.0)) + moment.timestamp() / DECAY_SECONDS


def rank_now(rank_key: float, now: datetime) -> float:
    """A rank key as a score today (0 for an unseen video published now)."""
    return rank_key - now.timestamp() / DECAY_SECONDS


def video_rank(video: Video) -> float:
    counts = engagement(
        video.view_count, video.like_count, video.comment_count, video.share_count,
        video.save_count,
    )  # fmt: skip
    return recency_rank(counts, video.published_at or video.created_at)


def user_rank(user: User) -> float:
    return math.log1p(user.follower_count) + (VERIFIED_BOOST if user.is_verified else 0.0)


def _name_texts(username: str) -> list[str]:
    # 'dance_king' is found as 'dance', 'king' and 'danceking'.
    return [username, username.replace("_", "")]


@dataclass(frozen=True)
class Doc:
    kind: str
    ref_id: str
    primary: list[str]
    secondary: list[str]
    rank_key: float

    @property
    def all_terms(self) -> list[str]:
        return list(dict.fromkeys(self.primary + self.secondary))


def video_doc(video: Video, owner: User, sound_title: str | None) -> Doc:
    tags = text.hashtags_of(video.caption, video.hashtags)
    primary = text.terms(
        video.caption, *tags, *(t.replace("_", "") for t in tags), *_name_texts(owner.username)
    )
    secondary = text.terms(video.description, owner.display_name, sound_title or "")
    return Doc(VIDEO, video.id, primary, secondary, video_rank(video))


def user_doc(user: User) -> Doc:
    primary = text.terms(*_name_texts(user.username), user.display_name)
    return Doc(USER, user.id, primary, text.terms(user.bio), user_rank(user))


def sound_doc(sound_id: str, title: str, username: str, display_name: str, usage: int,
              created_at: datetime) -> Doc:  # fmt: skip
    primary = text.terms(title)
    secondary = text.terms(*_name_texts(username), display_name)
    return Doc(SOUND, sound_id, primary, secondary, recency_rank(usage * 20.0, created_at))


def insert_for(session: AsyncSession, table: Any) -> Any:
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


async def _adjust_vocabulary(
    session: AsyncSession, backend: SearchBackend, terms: Collection[str], step: int
) -> None:
    if not terms:
        return
    stmt = insert_for(session, SearchTerm).values([{"term": t, "doc_count": step} for t in terms])
    stmt = stmt.on_conflict_do_update(
        index_elements=["term"], set_={"doc_count": SearchTerm.doc_count + step}
    ).returning(SearchTerm.term, SearchTerm.doc_count)
    rows = (await session.execute(stmt)).all()
    if step > 0:
        await backend.learn_terms(session, [term for term, count in rows if count == step])


async def write_doc(session: AsyncSession, backend: SearchBackend, doc: Doc) -> None:
    """Insert or replace a document, keeping the vocabulary counts right. Two jobs may index
    the same thing at once (a video processed and given its sound): the row is created if
    missing, then locked, so the second waits and sees the first one's terms."""
    await session.execute(
        insert_for(session, SearchDocument)
        .values(
            kind=doc.kind, ref_id=doc.ref_id, primary_terms="", secondary_terms="",
            terms=EMPTY_TERM, rank_key=doc.rank_key, updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["kind", "ref_id"])
    )  # fmt: skip
    existing = await session.scalar(
        select(SearchDocument)
        .where(SearchDocument.kind == doc.kind, SearchDocument.ref_id == doc.ref_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert existing is not None
    terms = doc.all_terms or [EMPTY_TERM]
    joined = " ".join(terms)
    old = set(existing.terms.split())
    new = set(terms)
    existing.primary_terms = " ".join(doc.primary)
    existing.secondary_terms = " ".join(doc.secondary)
    existing.terms = joined
    existing.rank_key = doc.rank_key
    existing.updated_at = utcnow()
    await session.flush()
    await _adjust_vocabulary(session, backend, sorted(new - old - {EMPTY_TERM}), 1)
    await _adjust_vocabulary(session, backend, sorted(old - new - {EMPTY_TERM}), -1)
    await backend.store(session, existing.id, joined)


async def remove_doc(session: AsyncSession, backend: SearchBackend, kind: str, ref_id: str) -> None:
    """Drop a document and its share of the vocabulary counts. The row is locked first: two
    jobs removing it at once (a delete and a re-index racing) would otherwise both take its
    terms off the counts, and the second would delete nothing."""
    existing = await session.scalar(
        select(SearchDocument)
        .where(SearchDocument.kind == kind, SearchDocument.ref_id == ref_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if existing is None:
        return
    await _adjust_vocabulary(
        session, backend, sorted(set(existing.terms.split()) - {EMPTY_TERM}), -1
    )
    await backend.drop(session, existing.id)
    await session.delete(existing)


# -- hashtags ------------------------------------------------------------------------------------


def listable_video_clauses() -> list[Any]:
    """Videos anyone may find in lists: public, playable, not hidden, by an active creator."""
    return [
        Video.visibility == Audience.PUBLIC.value,
        Video.status == VideoStatus.READY.value,
        Video.hidden_by_moderation.is_(False),
        User.is_active.is_(True),
    ]


async def recount_hashtags(session: AsyncSession, tags: Iterable[str]) -> None:
    """Video and view counts of some hashtags, from the rows (public videos only: counts are
    the same for every viewer, so they must not reveal what only some may see)."""
    tags = sorted(set(tags))
    if not tags:
        return
    rows = await session.execute(
        select(VideoHashtag.tag, func.count(), func.coalesce(func.sum(Video.view_count), 0))
        .join(Video, Video.id == VideoHashtag.video_id)
        .join(User, User.id == Video.user_id)
        .where(VideoHashtag.tag.in_(tags), *listable_video_clauses())
        .group_by(VideoHashtag.tag)
    )
    counted = {tag: (int(n), int(views)) for tag, n, views in rows}
    now = utcnow()
    values = [
        {"tag": t, "video_count": counted.get(t, (0, 0))[0],
         "view_count": counted.get(t, (0, 0))[1], "last_used_at": now}
        for t in tags
    ]  # fmt: skip
    stmt = insert_for(session, Hashtag).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tag"],
            set_={"video_count": stmt.excluded.video_count, "view_count": stmt.excluded.view_count},
        )
    )


async def set_video_tags(session: AsyncSession, video_id: str, tags: list[str]) -> set[str]:
    """Store a video's tags; returns every tag whose counts may have changed."""
    old = set(
        await session.scalars(select(VideoHashtag.tag).where(VideoHashtag.video_id == video_id))
    )
    gone = old - set(tags)
    if gone:
        await session.execute(
            delete(VideoHashtag).where(
                VideoHashtag.video_id == video_id, VideoHashtag.tag.in_(sorted(gone))
            )
        )
    added = [t for t in tags if t not in old]
    if added:
        await session.execute(
            insert_for(session, VideoHashtag)
            .values([{"tag": t, "video_id": video_id} for t in added])
            .on_conflict_do_nothing()
        )
    return old | set(tags)
