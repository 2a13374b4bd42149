"""Request and response shapes of likes, saves, collections and shares."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CollectionName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
# Where an external share went: "whatsapp", "copy_link", "x.com"... a short label, not a URL.
Platform = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=50, pattern=r"^[\w.\-]+$"
    ),
]


class LikeStateOut(BaseModel):
    liked: bool
    like_count: int


class SaveStateOut(BaseModel):
    saved: bool
    save_count: int


class ShareType(StrEnum):
    INTERNAL = "internal"  # sent to another reelstack user
    EXTERNAL = "external"  # out to another app, by link


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ShareType
    platform: Platform | None = Field(
        default=None, description="With `external`: where the link went, e.g. `whatsapp`."
    )
    to_user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="With `internal`: the user the video is sent to (id or `@username`).",
    )

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> ShareRequest:
        if self.type is ShareType.INTERNAL:
            if self.to_user_id is None:
                raise ValueError("an internal share needs to_user_id")
            if self.platform is not None:
                raise ValueError("platform is only for external shares")
        elif self.to_user_id is not None:
            raise ValueError("to_user_id is only for internal shares")
        return self


class ShareOut(BaseModel):
    share_id: str
    share_url: str = Field(description="The public page of the video, with a link preview.")
    share_count: int


class CreateCollectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CollectionName


class RenameCollectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CollectionName


class CollectionOut(BaseModel):
    collection_id: str
    name: str
    video_count: int
    created_at: datetime
    updated_at: datetime


class CollectionPage(BaseModel):
    collections: list[CollectionOut]
    next_cursor: str | None
    has_more: bool


class CollectionVideoStateOut(BaseModel):
    """Where a video stands after it was added to or removed from a collection."""

    collection_id: str
    video_id: str
    in_collection: bool
    video_count: int
    saved: bool
    save_count: int
