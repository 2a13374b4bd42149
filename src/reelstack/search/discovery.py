"""Browsing without a query: hashtag pages, trending hashtags, categories, and autocomplete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import utcnow
from reelstack.errors import NotFound, Unprocessable
from reelstack.infra.pagination import PageParams, decode_cursor, encode_cursor
from reelstack.infra.search import SearchBackend
from reelstack.media.models import Video
from reelstack.search import indexing, text
from reelstack.search.categories import CATEGORIES, category_clause
from reelstack.search.models import Hashtag, SearchDocument, SearchQuery, VideoHashtag
from reelstack.search.query import clean
from reelstack.search.service import Page, matching_hashtags, prefix_clause, tag_query
from reelstack.search.visibility import listable_users, listable_videos

TRENDING_WINDOW = timedelta(days=7)
SUGGESTIONS_PER_KIND = 4
# A query becomes a suggestion once this many searches found something with it.
POPULAR_QUERY_MIN = 2


def hashtag_or_404(tag: str) -> str:
    try:
        return text.normalise_tag(tag)
    except ValueError:
        raise NotFound("No such hashtag.", code="hashtag_not_found") from None


async def hashtag(session: AsyncSession, tag: str) -> Hashtag:
    found = await session.get(Hashtag, hashtag_or_404(tag))
    if found is None:
        raise NotFound("No such hashtag.", code="hashtag_not_found")
    return found


def _ranked_page(query: Any, page: PageParams) -> Any:
    """Keyset on (rank key descending, video id): stable while new videos arrive."""
    position = decode_cursor(page.cursor, "r", "id")
    if position is not None:
        try:
            after = float(position["r"])
        except ValueError:
            raise Unprocessable(
                "The cursor is not one this list gave out.", code="invalid_cursor"
            ) from None
        query = query.where(
            or_(
                SearchDocument.rank_key < after,
                and_(SearchDocument.rank_key == after, Video.id > position["id"]),
            )
        )
    return query.order_by(SearchDocument.rank_key.desc(), Video.id).limit(page.size + 1)


async def _video_page(session: AsyncSession, query: Any, page: PageParams) -> Page:
    rows = list((await session.execute(_ranked_page(query, page))).all())
    more = len(rows) > page.size
    rows = rows[: page.size]
    cursor = encode_cursor({"r": repr(rows[-1][1]), "id": rows[-1][0]}) if more else None
    return Page([row[0] for row in rows], cursor)


def _ranked_videos(viewer_id: str | None) -> Any:
    return (
        select(Video.id, SearchDocument.rank_key)
        .join(User, User.id == Video.user_id)
        .join(
            SearchDocument,
            and_(SearchDocument.kind == indexing.VIDEO, SearchDocument.ref_id == Video.id),
        )
        .where(listable_videos(viewer_id))
    )


async def hashtag_videos(
    session: AsyncSession, viewer_id: str | None, tag: str, days: int, page: PageParams
) -> Page:
    """A hashtag's videos of the last `days`, top by engagement x recency."""
    found = await hashtag(session, tag)
    since = utcnow() - timedelta(days=days)
    query = (
        _ranked_videos(viewer_id)
        .join(VideoHashtag, VideoHashtag.video_id == Video.id)
        .where(VideoHashtag.tag == found.tag, Video.published_at >= since)
    )
    return await _video_page(session, query, page)


async def category_videos(
    session: AsyncSession, viewer_id: str | None, slug: str, page: PageParams
) -> Page:
    if slug not in CATEGORIES:
        raise NotFound("No such category.", code="category_not_found")
    return await _video_page(session, _ranked_videos(viewer_id).where(category_clause(slug)), page)


async def category_counts(session: AsyncSession) -> dict[str, int]:
    """Public, playable videos per category (the same for every viewer)."""
    rows = await session.execute(
        select(func.lower(Video.category), func.count())
        .join(User, User.id == Video.user_id)
        .where(Video.category.is_not(None), *indexing.listable_video_clauses())
        .group_by(func.lower(Video.category))
    )
    counts = dict.fromkeys(CATEGORIES, 0)
    by_name = {name.lower(): slug for slug, name in CATEGORIES.items()}
    for category, n in rows:
        slug = category if category in CATEGORIES else by_name.get(category)
        if slug is not None:
            counts[slug] += n
    return counts


@dataclass(frozen=True)
class TrendingTag:
    tag: str
    video_count: int
    view_count: int


async def trending_hashtags(session: AsyncSession, limit: int) -> list[TrendingTag]:
    """The tags most used by public videos published in the last seven days."""
    since = utcnow() - TRENDING_WINDOW
    recent = func.count().label("recent")
    rows = await session.execute(
        select(VideoHashtag.tag, recent, Hashtag.video_count, Hashtag.view_count)
        .join(Video, Video.id == VideoHashtag.video_id)
        .join(User, User.id == Video.user_id)
        .join(Hashtag, Hashtag.tag == VideoHashtag.tag)
        .where(Video.published_at >= since, *indexing.listable_video_clauses())
        .group_by(VideoHashtag.tag, Hashtag.video_count, Hashtag.view_count)
        .order_by(recent.desc(), Hashtag.view_count.desc(), VideoHashtag.tag)
        .limit(limit)
    )
    return [TrendingTag(tag, count, views) for tag, _, count, views in rows]


@dataclass(frozen=True)
class Suggestion:
    type: str
    text: str
    id: str | None = None
    user: User | None = None


async def suggest(
    session: AsyncSession, backend: SearchBackend, viewer_id: str | None, q: str
) -> list[Suggestion]:
    """Completions of what is being typed: hashtags, people, then popular searches."""
    q = clean(q)
    out: list[Suggestion] = []
    if tag_query(q):
        for tag in await matching_hashtags(session, backend, q, SUGGESTIONS_PER_KIND):
            out.append(Suggestion("hashtag", tag.tag))
    name = q.strip().lstrip("@").lower()
    if name and " " not in name:
        users = await session.scalars(
            select(User)
            .where(prefix_clause(User.username, name), listable_users(viewer_id))
            .order_by(User.follower_count.desc(), User.username)
            .limit(SUGGESTIONS_PER_KIND)
        )
        out.extend(Suggestion("user", user.username, user.id, user) for user in users)
    folded = " ".join(text.fold(q).split())
    queries = await session.scalars(
        select(SearchQuery.query)
        .where(prefix_clause(SearchQuery.query, folded), SearchQuery.count >= POPULAR_QUERY_MIN)
        .order_by(SearchQuery.count.desc(), SearchQuery.query)
        .limit(SUGGESTIONS_PER_KIND)
    )
    out.extend(Suggestion("query", query) for query in queries)
    return out
