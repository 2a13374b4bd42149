"""Search: videos, users, hashtags and sounds for a query, best first, and what the viewer may
see only. Candidates come from the index in one query (matched, filtered and cut to the best
by engagement x recency in SQL); they are then ranked by text match blended with that score,
the same way whichever backend found them."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import enqueue_after_commit, utcnow
from reelstack.errors import Unprocessable
from reelstack.infra.pagination import PageParams, decode_cursor, encode_cursor
from reelstack.infra.search import SearchBackend
from reelstack.media.models import Video
from reelstack.search import indexing, text
from reelstack.search.categories import category_clause
from reelstack.search.models import Hashtag, SearchDocument
from reelstack.search.query import Expanded, clean, corrections, expand, starts_with
from reelstack.search.visibility import listable_users, listable_videos

# Results a query can page through: the best this many candidates.
MAX_CANDIDATES = 200
TEXT_WEIGHT = 10.0


class Sort(StrEnum):
    RELEVANCE = "relevance"
    VIEWS = "views"
    RECENT = "recent"


class Duration(StrEnum):
    SHORT = "short"  # under a minute
    MEDIUM = "medium"  # one to five minutes
    LONG = "long"  # over five minutes


DURATION_BOUNDS = {Duration.SHORT: (0.0, 60.0), Duration.MEDIUM: (60.0, 300.0),
                   Duration.LONG: (300.0, None)}  # fmt: skip


@dataclass(frozen=True)
class VideoFilters:
    category: str | None = None
    duration: Duration | None = None
    sort: Sort = Sort.RELEVANCE


@dataclass(frozen=True)
class Page:
    ids: list[str]
    next_cursor: str | None


def offset_of(cursor: str | None) -> int:
    position = decode_cursor(cursor, "o")
    if position is None:
        return 0
    if not position["o"].isdigit():
        raise Unprocessable("The cursor is not one this list gave out.", code="invalid_cursor")
    return int(position["o"])


def cut(ranked: Sequence[str], page: PageParams) -> Page:
    start = offset_of(page.cursor)
    ids = list(ranked[start : start + page.size])
    more = start + page.size < len(ranked)
    return Page(ids, encode_cursor({"o": str(start + page.size)}) if more else None)


def record(session: AsyncSession, q: str, found: bool) -> None:
    """Remember a query that found something (for suggestions), once the request is done."""
    if found:
        normalised = " ".join(text.fold(q).split())[:200]
        enqueue_after_commit(session, "search.record_query", {"query": normalised})


async def _candidates(
    session: AsyncSession,
    backend: SearchBackend,
    expanded: Expanded,
    base: Select[Any] | Any,
    order: Sequence[Any],
) -> list[Any]:
    """Rows of `base` whose document matches every word, or failing that any word."""
    attempts = [expanded.alternatives()]
    if len(expanded.groups) > 1:
        attempts.append(expanded.any_word())
    for groups in attempts:
        query = base.where(backend.matches(SearchDocument.id, SearchDocument.terms, groups))
        rows = list((await session.execute(query.order_by(*order).limit(MAX_CANDIDATES))).all())
        if rows:
            return rows
    return []


def _relevance(expanded: Expanded, row: Any, now_key: float) -> float:
    match = expanded.score(set(row.primary_terms.split()), set(row.secondary_terms.split()))
    return TEXT_WEIGHT * match + (float(row.rank_key) - now_key)


def _ranked(expanded: Expanded, rows: list[Any]) -> list[str]:
    now_key = utcnow().timestamp() / indexing.DECAY_SECONDS
    scored = sorted(rows, key=lambda r: (-_relevance(expanded, r, now_key), r.ref_id))
    return [row.ref_id for row in scored]


async def search_videos(
    session: AsyncSession,
    backend: SearchBackend,
    viewer_id: str | None,
    q: str,
    filters: VideoFilters,
    page: PageParams,
) -> Page:
    """Video ids for one page of a search, best first."""
    q = clean(q)
    expanded = await expand(session, backend, q)
    if not expanded.groups:
        return Page([], None)
    base = (
        select(
            SearchDocument.ref_id,
            SearchDocument.primary_terms,
            SearchDocument.secondary_terms,
            SearchDocument.rank_key,
        )
        .join(Video, Video.id == SearchDocument.ref_id)
        .join(User, User.id == Video.user_id)
        .where(SearchDocument.kind == indexing.VIDEO, listable_videos(viewer_id))
    )
    if filters.category is not None:
        base = base.where(category_clause(filters.category))
    if filters.duration is not None:
        low, high = DURATION_BOUNDS[filters.duration]
        base = base.where(Video.duration >= low)
        if high is not None:
            base = base.where(Video.duration < high)
    if filters.sort is Sort.VIEWS:
        order: list[Any] = [Video.view_count.desc(), Video.id]
    elif filters.sort is Sort.RECENT:
        order = [Video.published_at.desc(), Video.id]
    else:
        order = [SearchDocument.rank_key.desc(), SearchDocument.id]
    rows = await _candidates(session, backend, expanded, base, order)
    if filters.sort is Sort.RELEVANCE:
        ranked = _ranked(expanded, rows)
    else:
        ranked = [row.ref_id for row in rows]
    if page.cursor is None:
        record(session, q, bool(ranked))
    return cut(ranked, page)


async def search_users(
    session: AsyncSession, backend: SearchBackend, viewer_id: str | None, q: str, page: PageParams
) -> Page:
    """User ids, by name and bio, boosted by followers and verification."""
    expanded = await expand(session, backend, clean(q))
    if not expanded.groups:
        return Page([], None)
    base = (
        select(
            SearchDocument.ref_id,
            SearchDocument.primary_terms,
            SearchDocument.secondary_terms,
            SearchDocument.rank_key,
        )
        .join(User, User.id == SearchDocument.ref_id)
        .where(SearchDocument.kind == indexing.USER, listable_users(viewer_id))
    )
    order = [SearchDocument.rank_key.desc(), SearchDocument.id]
    rows = await _candidates(session, backend, expanded, base, order)
    scored = sorted(
        rows,
        key=lambda r: (
            -(
                TEXT_WEIGHT
                * expanded.score(set(r.primary_terms.split()), set(r.secondary_terms.split()))
                + r.rank_key
            ),
            r.ref_id,
        ),
    )
    return cut([row.ref_id for row in scored], page)


async def search_sounds(
    session: AsyncSession, backend: SearchBackend, q: str, page: PageParams
) -> Page:
    """Sound ids by title and creator; the caller keeps those the viewer may list."""
    expanded = await expand(session, backend, clean(q))
    if not expanded.groups:
        return Page([], None)
    base = select(
        SearchDocument.ref_id,
        SearchDocument.primary_terms,
        SearchDocument.secondary_terms,
        SearchDocument.rank_key,
    ).where(SearchDocument.kind == indexing.SOUND)
    order = [SearchDocument.rank_key.desc(), SearchDocument.id]
    rows = await _candidates(session, backend, expanded, base, order)
    return cut(_ranked(expanded, rows), page)


def tag_query(q: str) -> str:
    """A query as a hashtag prefix: '#Dance Tut' looks for tags starting 'dancetut'."""
    return "".join(unicodedata.normalize("NFKC", q).casefold().lstrip("#").split())


def prefix_clause(column: Any, prefix: str) -> Any:
    return starts_with(column, prefix)


async def matching_hashtags(
    session: AsyncSession, backend: SearchBackend, q: str, limit: int
) -> list[Hashtag]:
    """Hashtags starting with the query, or a typo away from it, the most used first."""
    prefix = tag_query(clean(q))
    if not prefix:
        return []
    names = [prefix]
    folded = text.encode(text.fold(prefix))
    edits = text.max_edits(folded)
    if edits:
        names += await corrections(session, backend, folded, edits)
    query = (
        select(Hashtag)
        .where(
            Hashtag.video_count > 0,
            or_(prefix_clause(Hashtag.tag, prefix), Hashtag.tag.in_(names)),
        )
        .order_by(Hashtag.video_count.desc(), Hashtag.tag)
        .limit(limit)
    )
    return list(await session.scalars(query))
