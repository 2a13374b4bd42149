"""Request and response bodies of views, watch positions and history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from reelstack.media.schemas import VideoOut

MAX_DURATION_MS = 24 * 3600 * 1000
# A short video loops, and a player's clock drifts: watched time may run a little past the end.
OVERWATCH_FACTOR = 1.5
OVERWATCH_SLACK_MS = 2000


class ViewSource(StrEnum):
    """Where the viewer found the video."""

    FOR_YOU = "for_you"
    FOLLOWING = "following"
    PROFILE = "profile"
    SEARCH = "search"
    SHARE = "share"
    HASHTAG = "hashtag"
    SOUND = "sound"


class ViewReport(BaseModel):
    """What a player reports after (part of) a playback."""

    duration_ms: int = Field(gt=0, le=MAX_DURATION_MS, description="The video's length.")
    watched_ms: int = Field(
        ge=0,
        le=int(MAX_DURATION_MS * OVERWATCH_FACTOR) + OVERWATCH_SLACK_MS,
        description="How long it played, loops included; at most 1.5 * duration_ms + 2 s.",
    )
    source: ViewSource
    session_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="The player's session; required when signed out (counts the viewer once).",
    )

    @field_validator("watched_ms")
    @classmethod
    def _not_past_the_loops(cls, value: int, info: ValidationInfo) -> int:
        duration = info.data.get("duration_ms")
        if duration is not None and value > duration * OVERWATCH_FACTOR + OVERWATCH_SLACK_MS:
            raise ValueError("watched_ms may be at most 1.5 * duration_ms + 2000")
        return value


class ViewRecorded(BaseModel):
    counted: bool = Field(description="Whether this report counted as a view.")


class WatchPositionRequest(BaseModel):
    """Where the viewer is in the video, in seconds."""

    model_config = ConfigDict(allow_inf_nan=False)

    duration: float = Field(gt=0, le=MAX_DURATION_MS / 1000)
    position: float = Field(ge=0, le=MAX_DURATION_MS / 1000)

    @field_validator("position")
    @classmethod
    def _within_the_video(cls, value: float, info: ValidationInfo) -> float:
        duration = info.data.get("duration")
        if duration is not None and value > duration:
            raise ValueError("position may not be past duration")
        return value


class HistoryVideo(VideoOut):
    watched_at: datetime


class HistoryPage(BaseModel):
    videos: list[HistoryVideo]
    next_cursor: str | None
    has_more: bool
