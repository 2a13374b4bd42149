"""HTTP for the feeds: following, For-You, trending, related videos, "not interested"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from fastapi import Cookie, Header, Query, Response, status

from reelstack.accounts.security import AccessClaims
from reelstack.deps import OptionalViewer, ReadSession, RuntimeDep, Viewer, WriteSession
from reelstack.errors import Unprocessable
from reelstack.feed import following, for_you, service, signals, trending
from reelstack.feed.cards import CardFacts, FeedItem, load_visible
from reelstack.feed.schemas import FeedPage, TimeRange
from reelstack.feed.writer import page_response
from reelstack.infra.ids import new_id
from reelstack.infra.pagination import Paging, decode_cursor, encode_cursor
from reelstack.infra.routing import Router
from reelstack.interactions.router import VIDEO_404
from reelstack.media.schemas import VideoPage
from reelstack.media.service import Viewer as VideoViewer
from reelstack.media.service import visible_video
from reelstack.recommend import related
from reelstack.runtime import Runtime

router = Router(tags=["feeds"])

SESSION_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def session_of(header: str | None, cookie: str | None) -> str | None:
    """The anonymous player's session id (as view reports send it), header first."""
    for value in (header, cookie):
        if value and SESSION_PATTERN.match(value):
            return value
    return None


SessionHeader = Annotated[
    str | None,
    Header(alias="X-Session-Id", description="The player's session id, when signed out."),
]
SessionCookie = Annotated[str | None, Cookie(alias="reelstack_session")]


async def feed_page(
    rt: Runtime,
    session: ReadSession,
    viewer_id: str | None,
    items: Sequence[FeedItem],
    facts: dict[str, CardFacts],
    cursor: str | None,
) -> Response:
    """A page of feed items written in one batch, each card with its reason."""
    pairs = [(item.video_id, item.reason) for item in items]
    return await page_response(rt, session, viewer_id, pairs, facts, cursor, reasons=True)


@router.get("/feed/following", response_model=FeedPage)
async def following_feed(
    viewer: Viewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> Response:
    """Videos of the creators you follow, newest first. The cursor is stable: videos posted
    while you page appear on a fresh first page, never twice or in a gap."""
    page = await following.following_page(rt, session, VideoViewer.of(viewer), paging)
    return await feed_page(rt, session, viewer.user_id, page.items, page.rows, page.next_cursor)


def _who(viewer: AccessClaims | None, session_id: str | None, response: Response) -> str:
    """Whose signals and seen filter a For-You request uses; a signed-out player without a
    session gets one, as a cookie its next requests send back."""
    if viewer is not None:
        return signals.user_key(viewer.user_id)
    if session_id is None:
        session_id = new_id()
        response.set_cookie("reelstack_session", session_id, httponly=True, samesite="lax")
    return signals.session_key(session_id)


@router.get("/feed/for-you", response_model=FeedPage)
async def for_you_feed(
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: ReadSession,
    paging: Paging,
    response: Response,
    x_session_id: SessionHeader = None,
    reelstack_session: SessionCookie = None,
) -> Response:
    """Your personal feed, signed in or not (then send the player's `X-Session-Id`, the
    `session_id` of your view reports). It learns from what you watch through, skip, like,
    share, save, comment on and follow; each video says why it is there."""
    who = _who(viewer, session_of(x_session_id, reelstack_session), response)
    viewer_id = viewer.user_id if viewer else None
    page = await for_you.for_you_page(rt, session, VideoViewer.of(viewer), who, paging)
    out = await feed_page(rt, session, viewer_id, page.items, page.rows, page.next_cursor)
    out.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return out


@router.get("/feed/trending", response_model=FeedPage)
async def trending_feed(
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: ReadSession,
    paging: Paging,
    time_range: Annotated[TimeRange, Query(description="The engagement window.")] = TimeRange.DAY,
    category: Annotated[str | None, Query(max_length=50)] = None,
    region: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """Videos gaining views, likes, comments and shares fastest in the window, refreshed every
    few minutes."""
    page = await trending.trending_page(
        rt,
        session,
        VideoViewer.of(viewer),
        paging,
        time_range=time_range,
        category=category,
        region=region,
    )
    viewer_id = viewer.user_id if viewer else None
    return await feed_page(rt, session, viewer_id, page.items, page.rows, page.next_cursor)


@router.get("/videos/{video_id}/related", response_model=VideoPage, responses=VIDEO_404)
async def related_videos(
    video_id: str, viewer: OptionalViewer, rt: RuntimeDep, session: ReadSession, paging: Paging
) -> Response:
    """Videos like this one, for the watch page: shared hashtags, creator, category, sound,
    and what its likers also liked."""
    who = VideoViewer.of(viewer)
    seen_video = await visible_video(session, who, video_id)
    ids = await related.related_ids(session, seen_video.video)
    position = decode_cursor(paging.cursor, "p")
    start = 0
    if position is not None:
        if not position["p"].isdigit():
            raise Unprocessable("The cursor is not one this list gave out.", code="invalid_cursor")
        start = int(position["p"])
    window = ids[start : start + paging.size]
    facts = await load_visible(session, who, window)
    items = [(vid, None) for vid in window if vid in facts]
    end = start + len(window)
    cursor = encode_cursor({"p": str(end)}) if end < len(ids) else None
    viewer_id = viewer.user_id if viewer else None
    return await page_response(rt, session, viewer_id, items, facts, cursor, reasons=False)


@router.post(
    "/videos/{video_id}/not-interested",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=VIDEO_404,
)
async def not_interested(
    video_id: str,
    viewer: OptionalViewer,
    rt: RuntimeDep,
    session: WriteSession,
    response: Response,
    x_session_id: SessionHeader = None,
    reelstack_session: SessionCookie = None,
) -> Response:
    """Show me less like this: the video never comes back; its creator and hashtags go down."""
    who = _who(viewer, session_of(x_session_id, reelstack_session), response)
    await service.not_interested(rt, session, VideoViewer.of(viewer), who, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=dict(response.headers))
