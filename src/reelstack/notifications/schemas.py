"""Request and response shapes of notifications, over REST and the real-time streams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, model_validator

from reelstack.notifications.models import NotificationType

MAX_MARK_READ_IDS = 100


class NotificationActorOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    avatar_url: str | None


class NotificationVideo(BaseModel):
    video_id: str
    thumbnail_url: str | None


class NotificationComment(BaseModel):
    comment_id: str
    text: str = Field(description="The start of the comment's text.")


class NotificationOut(BaseModel):
    notification_id: str
    type: NotificationType
    actors: list[NotificationActorOut] = Field(description="Up to 3, most recent first.")
    actor_count: int = Field(description="Everyone who did it, e.g. 46 for 'alice and 45 others'.")
    text: str = Field(description="The notification as a sentence, ready to show.")
    video: NotificationVideo | None = Field(description="Present while the user may see it.")
    comment: NotificationComment | None
    is_read: bool
    created_at: datetime
    updated_at: datetime = Field(description="Moves when another actor joins the notification.")


class NotificationPage(BaseModel):
    notifications: list[NotificationOut]
    next_cursor: str | None
    has_more: bool


class UnreadCount(BaseModel):
    unread_count: int


class MarkReadRequest(BaseModel):
    """Either the notifications to mark read, or `all: true`."""

    model_config = ConfigDict(extra="forbid")

    ids: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64)]],
            Field(min_length=1, max_length=MAX_MARK_READ_IDS),
        ]
        | None
    ) = None
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadRequest:
        if (self.ids is None) == (self.all is None):
            raise ValueError("give either `ids` or `all: true`")
        return self


class MarkReadResult(BaseModel):
    marked: int = Field(description="How many were unread and are now read.")
    unread_count: int


class NotificationPreferences(RootModel[dict[NotificationType, bool]]):
    """Every notification type, on or off."""


class PreferencesUpdate(RootModel[dict[NotificationType, StrictBool]]):
    """Types to turn on (true) or off (false); types left out keep their setting."""
