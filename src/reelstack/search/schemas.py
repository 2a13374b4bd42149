"""Search and discovery responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from reelstack.accounts.schemas import UserSummary
from reelstack.sounds.schemas import SoundOut


class HashtagOut(BaseModel):
    tag: str
    video_count: int = Field(description="Public, playable videos carrying the tag.")
    view_count: int = Field(description="Views of those videos.")


class UserSearchPage(BaseModel):
    users: list[UserSummary]
    next_cursor: str | None
    has_more: bool


class HashtagSearchPage(BaseModel):
    hashtags: list[HashtagOut]
    next_cursor: str | None
    has_more: bool


class SoundSearchPage(BaseModel):
    sounds: list[SoundOut]
    next_cursor: str | None
    has_more: bool


class SuggestionOut(BaseModel):
    type: Literal["hashtag", "user", "query"]
    text: str
    id: str | None = None
    avatar_url: str | None = None


class Suggestions(BaseModel):
    suggestions: list[SuggestionOut]


class TrendingHashtags(BaseModel):
    hashtags: list[HashtagOut]


class CategoryOut(BaseModel):
    slug: str
    name: str
    video_count: int


class CategoryList(BaseModel):
    categories: list[CategoryOut]
