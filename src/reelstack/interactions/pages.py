"""The public page of a shared video, `/v/{id}`: HTML with Open Graph and Twitter tags, so a
link pasted into a chat app unfurls into a preview, and a <video> that plays without JS.

Only what anyone holding the link may watch gets a page (public and unlisted, ready, not
hidden); anything else is one 404 page that says nothing about the video, not even that it
exists. The media URLs are signed for an anonymous viewer and expire like every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import quote, urljoin

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from reelstack.accounts.models import User
from reelstack.accounts.security import AccessClaims
from reelstack.deps import ReadSession, RuntimeDep, bearer
from reelstack.errors import NotAuthenticated, NotFound
from reelstack.infra.routing import Router
from reelstack.interactions import service
from reelstack.media.models import Video
from reelstack.media.playback import PlaybackLinks, rendition
from reelstack.media.service import Viewer
from reelstack.web.router import CONTENT_SECURITY_POLICY, boot_tags

router = Router(tags=["share page"], include_in_schema=False)

SITE_NAME = "reelstack"
TITLE_LIMIT = 100
DESCRIPTION_LIMIT = 300
HTML_HEADERS = {
    # Signed media URLs expire and an audience can change: caches must ask again every time.
    "Cache-Control": "no-cache",
    # The page boots the browser app (our own scripts only), which then plays the video.
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def share_url(base_url: str, video_id: str) -> str:
    """The absolute link to a video's public page, under the URL the request came in on."""
    return urljoin(base_url, f"v/{quote(video_id, safe='')}")


async def page_viewer(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AccessClaims | None:
    """A signed-in viewer if the request carries a valid token; a page never answers 401."""
    if credentials is None:
        return None
    try:
        return rt.token_policy.tokens.decode(credentials.credentials)
    except NotAuthenticated:
        return None


@dataclass(frozen=True)
class Card:
    """What a link preview and the page show, every URL absolute."""

    title: str
    description: str
    page_url: str
    app_url: str
    image_url: str | None
    video_url: str | None
    video_width: int | None
    video_height: int | None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def build_card(links: PlaybackLinks, base_url: str, video: Video, owner: User) -> Card:
    """Only for a video anyone may watch: this signs its media URLs for an anonymous viewer."""
    title = _clip(video.caption, TITLE_LIMIT) or f"@{owner.username} on {SITE_NAME}"
    description = _clip(video.description or video.caption, DESCRIPTION_LIMIT) or (
        f"Watch @{owner.username}'s video on {SITE_NAME}."
    )
    posters = links.posters(video)
    image = posters[max(posters, key=int)] if posters else None
    mp4 = links.file_url(video.mp4_key) if video.mp4_key else None
    rung = None
    if video.mp4_key:
        rung = rendition(video, video.mp4_key.rsplit("/", 1)[-1].removesuffix(".mp4"))
    return Card(
        title=title,
        description=description,
        page_url=share_url(base_url, video.id),
        app_url=urljoin(base_url, f"?v={quote(video.id, safe='')}"),
        image_url=urljoin(base_url, image) if image else None,
        video_url=urljoin(base_url, mp4) if mp4 else None,
        video_width=int(rung["width"]) if rung else video.width,
        video_height=int(rung["height"]) if rung else video.height,
    )


def _meta(attribute: str, name: str, content: str | int | None) -> str:
    if content is None:
        return ""
    return f'<meta {attribute}="{escape(name)}" content="{escape(str(content))}">\n'


def render_page(card: Card) -> str:
    og = [
        ("og:site_name", SITE_NAME),
        ("og:type", "video.other"),
        ("og:title", card.title),
        ("og:description", card.description),
        ("og:url", card.page_url),
        ("og:image", card.image_url),
        ("og:video", card.video_url),
    ]
    if card.video_url:
        og += [
            ("og:video:type", "video/mp4"),
            ("og:video:width", str(card.video_width) if card.video_width else None),
            ("og:video:height", str(card.video_height) if card.video_height else None),
        ]
    twitter = [
        ("twitter:card", "summary_large_image" if card.image_url else "summary"),
        ("twitter:title", card.title),
        ("twitter:description", card.description),
        ("twitter:image", card.image_url),
    ]
    head = "".join(_meta("property", k, v) for k, v in og)
    head += "".join(_meta("name", k, v) for k, v in twitter)
    head += _meta("name", "description", card.description)
    size = ""
    if card.video_width and card.video_height:
        size = f' width="{card.video_width}" height="{card.video_height}"'
    poster = f' poster="{escape(card.image_url)}"' if card.image_url else ""
    source = f'<source src="{escape(card.video_url)}" type="video/mp4">' if card.video_url else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(card.title)} · {SITE_NAME}</title>\n"
        f'<link rel="canonical" href="{escape(card.page_url)}">\n'
        f"{head}"
        "<style>body{margin:0;background:#111;color:#eee;font:16px system-ui,sans-serif}"
        "main{max-width:480px;margin:0 auto;padding:16px}"
        "video{width:100%;height:auto;max-height:80vh;background:#000}a{color:#7cf}</style>\n"
        f"{boot_tags()}\n"
        '</head>\n<body>\n<div id="app"></div>\n<main>\n'
        f'<video controls playsinline preload="metadata"{size}{poster}>{source}</video>\n'
        f"<h1>{escape(card.title)}</h1>\n<p>{escape(card.description)}</p>\n"
        f'<p><a href="{escape(card.app_url)}">Watch on {SITE_NAME}</a></p>\n'
        "</main>\n</body>\n</html>\n"
    )


NOT_FOUND_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    f"<title>Video not available · {SITE_NAME}</title>\n</head>\n<body>\n"
    "<main><h1>This video is not available.</h1>"
    "<p>It may have been removed, or its creator may have limited who can watch it.</p>"
    '<p><a href="/">Go to reelstack</a></p></main>\n</body>\n</html>\n'
)


@router.api_route("/v/{video_id}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def share_page(
    video_id: str,
    request: Request,
    rt: RuntimeDep,
    session: ReadSession,
    viewer: Annotated[AccessClaims | None, Depends(page_viewer)],
) -> HTMLResponse:
    """A shared video's public page, with a link preview."""
    try:
        seen = await service.linked_video(session, Viewer.of(viewer), video_id)
    except NotFound:
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers=HTML_HEADERS)
    card = build_card(rt.playback, str(request.base_url), seen.video, seen.owner)
    return HTMLResponse(render_page(card), headers=HTML_HEADERS)
