"""HTTP for search and discovery: parse, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.accounts.views import avatar_url, user_summary
from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep
from reelstack.errors import PROBLEM_JSON
from reelstack.infra.pagination import Paging
from reelstack.infra.routing import Router
from reelstack.media.hydrate import videos_out
from reelstack.media.models import Video
from reelstack.media.schemas import VideoPage
from reelstack.media.service import Viewer as VideoViewer
from reelstack.runtime import Runtime
from reelstack.search import discovery, service
from reelstack.search.categories import CATEGORIES
from reelstack.search.schemas import (
    CategoryList,
    CategoryOut,
    HashtagOut,
    HashtagSearchPage,
    SoundSearchPage,
    SuggestionOut,
    Suggestions,
    TrendingHashtags,
    UserSearchPage,
)
from reelstack.social import service as social
from reelstack.sounds import service as sounds

router = Router(tags=["search"])

Q = Annotated[
    str | None,
    Query(description="What to look for: words, a prefix of the last one; typos are forgiven."),
]


def _problem(description: str) -> dict[int | str, dict[str, Any]]:
    schema = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    return {422: {"description": description, "content": {PROBLEM_JSON: schema}}}


BAD_QUERY = _problem("`empty_query`, `query_too_long` or `invalid_cursor`.")
HASHTAG_404: dict[int | str, dict[str, Any]] = {404: {"description": "`hashtag_not_found`."}}
CATEGORY_404: dict[int | str, dict[str, Any]] = {404: {"description": "`category_not_found`."}}


async def _videos(
    rt: Runtime, session: AsyncSession, viewer_id: str | None, page: service.Page
) -> VideoPage:
    """Cards of the page's videos, in its order, in a fixed number of queries."""
    rows = (
        await session.execute(
            select(Video, User).join(User, User.id == Video.user_id).where(Video.id.in_(page.ids))
        )
    ).all()
    by_id = {video.id: (video, owner) for video, owner in rows}
    items = [by_id[i] for i in page.ids if i in by_id]
    cards = await videos_out(rt, session, viewer_id, items)
    return VideoPage(
        videos=cards, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
    )


@router.get("/search/videos", responses=BAD_QUERY)
async def search_videos(
    rt: RuntimeDep,
    session: ReadSession,
    viewer: OptionalViewer,
    paging: Paging,
    q: Q = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    duration: service.Duration | None = None,
    sort: service.Sort = service.Sort.RELEVANCE,
) -> VideoPage:
    """Videos by caption, description, hashtags, creator and sound: text match blended with
    engagement and recency (or by `views`, or most `recent`)."""
    viewer_id = viewer.user_id if viewer else None
    filters = service.VideoFilters(category, duration, sort)
    page = await service.search_videos(session, rt.search, viewer_id, q or "", filters, paging)
    return await _videos(rt, session, viewer_id, page)


@router.get("/search/users", responses=BAD_QUERY)
async def search_users(
    rt: RuntimeDep, session: ReadSession, viewer: OptionalViewer, paging: Paging, q: Q = None
) -> UserSearchPage:
    """People by username, display name and bio, boosted by followers and verification."""
    viewer_id = viewer.user_id if viewer else None
    page = await service.search_users(session, rt.search, viewer_id, q or "", paging)
    users = await accounts.get_users(session, page.ids)
    relations = await social.relationships(session, viewer_id, list(users))
    return UserSearchPage(
        users=[user_summary(rt.media, users[i], relations[i]) for i in page.ids if i in users],
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.get("/search/hashtags", responses=BAD_QUERY)
async def search_hashtags(
    rt: RuntimeDep, session: ReadSession, paging: Paging, q: Q = None
) -> HashtagSearchPage:
    """Hashtags starting with the query (or a typo away), the most used first."""
    tags = await service.matching_hashtags(session, rt.search, q or "", service.MAX_CANDIDATES)
    page = service.cut([tag.tag for tag in tags], paging)
    by_tag = {tag.tag: tag for tag in tags}
    return HashtagSearchPage(
        hashtags=[
            HashtagOut(tag=t, video_count=by_tag[t].video_count, view_count=by_tag[t].view_count)
            for t in page.ids
        ],
        next_cursor=page.next_cursor,
        has_more=page.next_cursor is not None,
    )


@router.get("/search/sounds", responses=BAD_QUERY)
async def search_sounds(
    rt: RuntimeDep, session: ReadSession, viewer: OptionalViewer, paging: Paging, q: Q = None
) -> SoundSearchPage:
    """Sounds by title and creator; only those whose source video the viewer may list."""
    page = await service.search_sounds(session, rt.search, q or "", paging)
    found = await sounds.sounds_out(rt, session, VideoViewer.of(viewer), page.ids, listing=True)
    return SoundSearchPage(
        sounds=found, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
    )


@router.get("/search/suggest", responses=BAD_QUERY)
async def suggest(
    rt: RuntimeDep, session: ReadSession, viewer: OptionalViewer, q: Q = None
) -> Suggestions:
    """Autocomplete: hashtags, people and popular searches starting with what is typed."""
    viewer_id = viewer.user_id if viewer else None
    found = await discovery.suggest(session, rt.search, viewer_id, q or "")
    return Suggestions(
        suggestions=[
            SuggestionOut(
                type=s.type,
                text=s.text,
                id=s.id,
                avatar_url=avatar_url(rt.media, s.user, "small") if s.user else None,
            )
            for s in found
        ]
    )


@router.get("/hashtags/{tag}", responses=HASHTAG_404)
async def hashtag(tag: str, session: ReadSession) -> HashtagOut:
    found = await discovery.hashtag(session, tag)
    return HashtagOut(tag=found.tag, video_count=found.video_count, view_count=found.view_count)


@router.get("/hashtags/{tag}/videos", responses=HASHTAG_404)
async def hashtag_videos(
    tag: str,
    rt: RuntimeDep,
    session: ReadSession,
    viewer: OptionalViewer,
    paging: Paging,
    days: Annotated[int, Query(ge=1, le=3650, description="Published in the last N days.")] = 7,
) -> VideoPage:
    """A hashtag's videos, top by engagement x recency, of the last `days` (7 by default)."""
    viewer_id = viewer.user_id if viewer else None
    page = await discovery.hashtag_videos(session, viewer_id, tag, days, paging)
    return await _videos(rt, session, viewer_id, page)


@router.get("/trending/hashtags")
async def trending_hashtags(
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    region: Annotated[
        str | None,
        Query(max_length=8, description="Accepted for clients; videos carry no region yet."),
    ] = None,
) -> TrendingHashtags:
    """The hashtags most used by public videos of the last seven days."""
    tags = await discovery.trending_hashtags(session, limit)
    return TrendingHashtags(
        hashtags=[
            HashtagOut(tag=t.tag, video_count=t.video_count, view_count=t.view_count) for t in tags
        ]
    )


@router.get("/categories")
async def categories(session: ReadSession) -> CategoryList:
    counts = await discovery.category_counts(session)
    return CategoryList(
        categories=[
            CategoryOut(slug=slug, name=name, video_count=counts[slug])
            for slug, name in CATEGORIES.items()
        ]
    )


@router.get("/categories/{slug}/videos", responses=CATEGORY_404)
async def category_videos(
    slug: str, rt: RuntimeDep, session: ReadSession, viewer: OptionalViewer, paging: Paging
) -> VideoPage:
    """A category's videos, top by engagement x recency."""
    viewer_id = viewer.user_id if viewer else None
    page = await discovery.category_videos(session, viewer_id, slug, paging)
    return await _videos(rt, session, viewer_id, page)
