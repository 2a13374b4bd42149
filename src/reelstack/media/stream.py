"""Playlists and the storyboard track, behind playback tokens (see `playback`).

Outside the per-request rate limit: a player fetches a master and a rung playlist per video,
and a viewer scrolling a feed starts many videos a minute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from reelstack.deps import RuntimeDep
from reelstack.errors import NotFound
from reelstack.infra.routing import Router
from reelstack.infra.storage import ObjectNotFound
from reelstack.media import service
from reelstack.media.models import Video
from reelstack.media.playback import (
    PLAYLIST_CACHE_SECONDS,
    is_growing,
    read_token,
    render_master,
    render_rung,
    render_storyboard,
    rendition,
)
from reelstack.media.progressive import event_playlist
from reelstack.runtime import Runtime

router = Router(tags=["playback"])

HLS_TYPE = "application/vnd.apple.mpegurl"
GONE = "No such video, or this link has expired."
Token = Annotated[str, Query(max_length=200, description="The playback token of the video's URLs.")]
NO_TOKEN = ""


async def _playable(rt: Runtime, video_id: str, token: str) -> Video:
    """The video, if the token is valid and its viewer may still see the video right now."""
    claims = read_token(rt.signer, video_id, token)
    if claims is None:
        raise NotFound(GONE, code="media_not_found")
    async with rt.unit_of_work(write=False) as session:
        viewer = await service.playback_viewer(session, claims.viewer_id)
        try:
            return (await service.visible_video(session, viewer, video_id)).video
        except NotFound:
            raise NotFound(GONE, code="media_not_found") from None


def _playlist(text: str, content_type: str = HLS_TYPE, *, growing: bool = False) -> Response:
    # private: the signed URLs inside are the viewer's; short: they expire. A playlist that
    # grows is fetched again every few seconds by the player and must not come from a cache.
    cache = "private, no-cache" if growing else "private, max-age=60"
    return Response(text, media_type=content_type, headers={"Cache-Control": cache})


async def _stored_text(rt: Runtime, key: str) -> str:
    cache_key = f"media:text:{key}"
    cached = await rt.cache.get(cache_key)
    if cached is not None:
        return cached
    try:
        text = (await rt.storage.get_bytes(key)).decode()
    except ObjectNotFound:
        raise NotFound(GONE, code="media_not_found") from None
    await rt.cache.set(cache_key, text, ttl=PLAYLIST_CACHE_SECONDS)
    return text


@router.get("/videos/{video_id}/hls/master.m3u8", response_class=Response)
async def master_playlist(video_id: str, rt: RuntimeDep, t: Token = NO_TOKEN) -> Response:
    """The master playlist: one entry per published rung."""
    video = await _playable(rt, video_id, t)
    if not video.renditions:
        raise NotFound(GONE, code="media_not_found")
    return _playlist(render_master(video, rt.playback, t), growing=is_growing(video))


@router.get("/videos/{video_id}/hls/{rung}.m3u8", response_class=Response)
async def rung_playlist(video_id: str, rung: str, rt: RuntimeDep, t: Token = NO_TOKEN) -> Response:
    """One rung's media playlist, its segments as signed URLs."""
    video = await _playable(rt, video_id, t)
    published = rendition(video, rung)
    if published is None:
        raise NotFound(GONE, code="media_not_found")
    if published.get("live"):
        # Still being written: the segments stored so far, as the row lists them.
        segments = [(name, seconds) for name, seconds in published["segments"]]
        text = render_rung(event_playlist(segments), published["playlist_key"], rt.playback)
        return _playlist(text, growing=True)
    stored = await _stored_text(rt, published["playlist_key"])
    return _playlist(render_rung(stored, published["playlist_key"], rt.playback))


@router.get("/videos/{video_id}/storyboard.vtt", response_class=Response)
async def storyboard(video_id: str, rt: RuntimeDep, t: Token = NO_TOKEN) -> Response:
    """WebVTT thumbnails for the scrub bar; each cue points into the signed sprite image."""
    video = await _playable(rt, video_id, t)
    key = (video.thumbnails or {}).get("storyboard_key")
    if not key:
        raise NotFound(GONE, code="media_not_found")
    stored = await _stored_text(rt, key)
    return _playlist(render_storyboard(stored, key, rt.playback), "text/vtt")
