"""Playback URLs: signed, expiring, minted only after the visibility check.

Players cannot send an Authorization header (Safari's native HLS, <video src>), so the master
and rung playlists are capability URLs: a token binds the video and the viewer it was minted
for, and every playlist request checks visibility again, so making a video private stops new
playlist fetches at once. Playlists name their segments by signed storage URLs (HMAC-signed
`/media/...` in embedded mode, presigned S3 URLs when scaled out); stored objects have no
public path, so a guessed path gets nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reelstack.infra.storage import Storage, UrlSigner, url_quoted
from reelstack.media.models import Video

if TYPE_CHECKING:
    from reelstack.media.views import CardVideo

API_PREFIX = "/api/v1"
TOKEN_GRANULARITY = 300  # seconds: URLs minted within five minutes are identical, so cacheable
PLAYLIST_CACHE_SECONDS = 600


@dataclass(frozen=True)
class PlaybackToken:
    video_id: str
    viewer_id: str | None
    expires: int


def _token_key(video_id: str, viewer_id: str | None) -> str:
    return f"play\n{video_id}\n{viewer_id or ''}"


def mint_token(signer: UrlSigner, video_id: str, viewer_id: str | None, ttl: int) -> str:
    expires = math.ceil((time.time() + ttl) / TOKEN_GRANULARITY) * TOKEN_GRANULARITY
    mac = signer.mac(_token_key(video_id, viewer_id), expires)
    return f"{expires}.{viewer_id or '-'}.{mac}"


def read_token(signer: UrlSigner, video_id: str, token: str) -> PlaybackToken | None:
    """The token's viewer, if it is ours, for this video and unexpired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    expires, viewer, mac = int(parts[0]), parts[1], parts[2]
    viewer_id = None if viewer == "-" else viewer
    if not signer.verify(_token_key(video_id, viewer_id), expires, mac):
        return None
    return PlaybackToken(video_id, viewer_id, expires)


@dataclass(frozen=True)
class PlaybackLinks:
    signer: UrlSigner
    storage: Storage
    ttl_seconds: int

    def master_url(self, video_id: str, token: str) -> str:
        return f"{API_PREFIX}/videos/{video_id}/hls/master.m3u8?t={url_quoted(token)}"

    def rung_url(self, video_id: str, rung: str, token: str) -> str:
        return f"{API_PREFIX}/videos/{video_id}/hls/{rung}.m3u8?t={url_quoted(token)}"

    def storyboard_url(self, video_id: str, token: str) -> str:
        return f"{API_PREFIX}/videos/{video_id}/storyboard.vtt?t={url_quoted(token)}"

    def file_url(self, key: str) -> str:
        return self.storage.signed_url(key, self.ttl_seconds)

    def token(self, video: CardVideo, viewer_id: str | None) -> str:
        """The token that opens the video's playlists and storyboard to this viewer."""
        return mint_token(self.signer, video.id, viewer_id, self.ttl_seconds)

    def video_urls(self, video: CardVideo, token: str) -> dict[str, str]:
        if not video.renditions:
            return {}
        urls = {"hls": self.master_url(video.id, token)}
        if video.mp4_key:
            urls["mp4"] = self.file_url(video.mp4_key)
        for rendition in video.renditions:
            urls[rendition["name"]] = self.rung_url(video.id, rendition["name"], token)
        return urls

    def posters(self, video: CardVideo) -> dict[str, str]:
        keys: dict[str, str] = (video.thumbnails or {}).get("posters", {})
        return {width: self.file_url(key) for width, key in keys.items()}

    def storyboard(self, video: CardVideo, token: str) -> str | None:
        if not (video.thumbnails or {}).get("storyboard_key"):
            return None
        return self.storyboard_url(video.id, token)


def render_master(video: Video, links: PlaybackLinks, token: str) -> str:
    """The master playlist from the published rungs, lowest first so playback starts fast. A
    rung still being written declares its cap as BANDWIDTH and no average yet."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in video.renditions:
        average = r.get("average_bandwidth")
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={r['bandwidth']},"
            + (f"AVERAGE-BANDWIDTH={average}," if average else "")
            + f"RESOLUTION={r['width']}x{r['height']},"
            f'CODECS="{r["codecs"]}",FRAME-RATE={r["frame_rate"]:.3f}'
        )
        lines.append(links.rung_url(video.id, r["name"], token))
    return "\n".join(lines) + "\n"


def _sign_uri(uri: str, base: str, links: PlaybackLinks) -> str:
    name, _, fragment = uri.partition("#")
    if "/" in name or ":" in name or not name:
        raise ValueError(f"unexpected URI in a stored playlist: {uri!r}")
    signed = links.file_url(base + name)
    return f"{signed}#{fragment}" if fragment else signed


def render_rung(stored: str, playlist_key: str, links: PlaybackLinks) -> str:
    """A stored rung playlist with each segment (and its init section) as a signed URL."""
    base = playlist_key.rsplit("/", 1)[0] + "/"
    out = []
    for line in stored.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            before, _, rest = line.partition('URI="')
            uri, _, after = rest.partition('"')
            line = f'{before}URI="{_sign_uri(uri, base, links)}"{after}'
        elif line and not line.startswith("#"):
            line = _sign_uri(line.strip(), base, links)
        out.append(line)
    return "\n".join(out) + "\n"


def render_storyboard(stored: str, vtt_key: str, links: PlaybackLinks) -> str:
    """The WebVTT thumbnails track with its sprite reference signed (fragment kept)."""
    base = vtt_key.rsplit("/", 1)[0] + "/"
    signed: dict[str, str] = {}
    out = []
    for line in stored.splitlines():
        if "#xywh=" in line and "-->" not in line:
            name, _, fragment = line.strip().partition("#")
            if name not in signed:
                signed[name] = _sign_uri(name, base, links)
            line = f"{signed[name]}#{fragment}"
        out.append(line)
    return "\n".join(out) + "\n"


def is_growing(video: Video) -> bool:
    """Whether a published rung is still being written (its playlist changes)."""
    return any(r.get("live") for r in video.renditions or [])


def rendition(video: Video, name: str) -> dict[str, Any] | None:
    return next((r for r in video.renditions or [] if r["name"] == name), None)
