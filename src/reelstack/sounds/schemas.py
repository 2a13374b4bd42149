"""Sounds as responses: the full sound page and the small card a video carries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class SoundMode(StrEnum):
    """How a reused sound meets the upload's own audio."""

    REPLACE = "replace"  # the sound instead of the upload's audio
    MIX = "mix"  # both, overlaid, for as long as the video lasts


class SoundCreator(BaseModel):
    user_id: str
    username: str
    display_name: str
    avatar_url: str | None


class SoundOut(BaseModel):
    sound_id: str
    title: str
    creator: SoundCreator
    duration: float = Field(description="Seconds.")
    usage_count: int = Field(description="Ready videos that use this sound, its own included.")
    is_original: bool
    audio_url: str = Field(description="Signed, expiring URL of the audio track (AAC in MP4).")
    created_at: datetime


class SoundList(BaseModel):
    sounds: list[SoundOut]


class SoundCardCreator(BaseModel):
    user_id: str
    username: str


class SoundCard(BaseModel):
    """The sound a video uses, as its card shows it."""

    sound_id: str
    title: str
    creator: SoundCardCreator
    is_original: bool
