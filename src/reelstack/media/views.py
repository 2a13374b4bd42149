"""Shaping videos for responses: the seed's video shape, with signed media URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from reelstack.accounts.views import MediaLinks, avatar_url
from reelstack.infra.shapes import built
from reelstack.media.models import Video
from reelstack.media.playback import PlaybackLinks
from reelstack.media.schemas import (
    ProcessingError,
    Thumbnails,
    UserInteraction,
    VideoAuthor,
    VideoOut,
    VideoStats,
    VideoStatusResponse,
)
from reelstack.social.visibility import audience_of
from reelstack.sounds.schemas import SoundCard

POSTER_WIDTH = "360"


class CardVideo(Protocol):
    """What shaping a video reads: a `Video`, or a row of these columns (`feed.cards`)."""

    @property
    def id(self) -> str: ...
    @property
    def caption(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def hashtags(self) -> list[str]: ...
    @property
    def category(self) -> str | None: ...
    @property
    def sound_id(self) -> str | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def renditions(self) -> list[dict[str, Any]]: ...
    @property
    def mp4_key(self) -> str | None: ...
    @property
    def thumbnails(self) -> dict[str, Any]: ...
    @property
    def visibility(self) -> str: ...
    @property
    def allow_comments(self) -> bool: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def view_count(self) -> int: ...
    @property
    def like_count(self) -> int: ...
    @property
    def comment_count(self) -> int: ...
    @property
    def share_count(self) -> int: ...
    @property
    def save_count(self) -> int: ...


class CardOwner(Protocol):
    """What shaping a video reads of its creator: a `User`, or such a row."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def avatar_key(self) -> str | None: ...
    @property
    def is_verified(self) -> bool: ...


# The shapes below are `built` from their fields, unvalidated: their values come from our own
# columns, already of the declared types, and validating them again was a tenth of a feed page's
# cost (`infra.shapes`).


def author(media: MediaLinks, user: CardOwner) -> VideoAuthor:
    return built(
        VideoAuthor,
        {
            "user_id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "avatar_url": avatar_url(media, user, "small"),
            "is_verified": user.is_verified,
        },
    )


def video_out(
    links: PlaybackLinks,
    media: MediaLinks,
    video: CardVideo,
    owner: CardOwner,
    viewer_id: str | None,
    *,
    counts: dict[str, int] | None = None,
    interaction: UserInteraction | None = None,
    resume_position: float | None = None,
    sound: SoundCard | None = None,
) -> VideoOut:
    """Only call after `service.may_see`: this mints the URLs that open the media. `counts`
    are the live counters (`hydrate.videos_out` reads them); without them, the stored ones."""
    token = links.token(video, viewer_id)  # one for the playlists and the storyboard
    fields = card_fields(links, media, video, owner, token)
    count = counts or {name: getattr(video, name) for name in STATS_COUNTERS.values()}
    fields["stats"] = built(VideoStats, {out: count[name] for out, name in STATS_COUNTERS.items()})
    fields["user_interaction"] = interaction or built(
        UserInteraction, {"liked": False, "saved": False}
    )
    fields["resume_position"] = resume_position
    fields["sound"] = sound
    return built(VideoOut, fields)


# `VideoStats` field -> the video's counter column.
STATS_COUNTERS = {
    "views": "view_count",
    "likes": "like_count",
    "comments": "comment_count",
    "shares": "share_count",
    "saves": "save_count",
}
# The fields of `VideoOut` that change with the viewer or by the second; `card_fields` leaves
# them as None for the caller to fill (`feed.writer` fills them into a stored card).
VIEWER_FIELDS = ("sound", "stats", "user_interaction", "resume_position")


def card_fields(
    links: PlaybackLinks, media: MediaLinks, video: CardVideo, owner: CardOwner, token: str
) -> dict[str, Any]:
    """Every `VideoOut` field, in order, that is the same for each viewer given the playback
    `token`; the `VIEWER_FIELDS` are None."""
    posters = links.posters(video)
    thumbnail = posters.get(POSTER_WIDTH) or (posters[max(posters, key=int)] if posters else None)
    return {
        "video_id": video.id,
        "user": author(media, owner),
        "caption": video.caption,
        "description": video.description,
        "hashtags": list(video.hashtags),
        "category": video.category,
        "sound_id": video.sound_id,
        "sound": None,
        "duration": video.duration,
        "width": video.width,
        "height": video.height,
        "video_urls": links.video_urls(video, token),
        "thumbnail_url": thumbnail,
        "thumbnails": built(
            Thumbnails, {"posters": posters, "storyboard_vtt": links.storyboard(video, token)}
        ),
        "stats": None,
        "visibility": audience_of(video.visibility),
        "allow_comments": video.allow_comments,
        "status": video.status,
        "created_at": video.created_at,
        "user_interaction": None,
        "resume_position": None,
    }


def status_out(video: Video) -> VideoStatusResponse:
    error = None
    if video.error_code:
        error = ProcessingError(code=video.error_code, detail=video.error_detail or "")
    return VideoStatusResponse(
        video_id=video.id,
        status=video.status,
        progress=100 if video.job_state == "done" else video.progress,
        renditions_ready=[r["name"] for r in video.renditions or []],
        error=error,
    )
