"""The one table that maps each domain event to the handlers that react to it."""

from __future__ import annotations

from reelstack.events import (
    FollowRequested,
    UserFollowed,
    UserRegistered,
    VideoDeleted,
    VideoProcessed,
    VideoUploaded,
)
from reelstack.infra.events import Event, Handler
from reelstack.media import handlers as media
from reelstack.social import handlers as social

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    UserRegistered: [],
    UserFollowed: [social.announce_new_follower],
    FollowRequested: [social.announce_follow_request],
    VideoUploaded: [media.process_uploaded_video],
    # Feeds, search and notifications react to these as they arrive.
    VideoProcessed: [],
    VideoDeleted: [],
}
