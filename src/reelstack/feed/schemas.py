"""Feed responses: video cards with the reason each one is there."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from reelstack.media.schemas import VideoOut


class FeedVideoOut(VideoOut):
    reason: str | None = Field(
        default=None, description='Why this video is here, e.g. "because you liked #cooking".'
    )


class FeedPage(BaseModel):
    videos: list[FeedVideoOut]
    next_cursor: str | None
    has_more: bool


class TimeRange(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"

    @property
    def hours(self) -> int:
        return {"24h": 24, "7d": 24 * 7, "30d": 24 * 30}[self.value]
