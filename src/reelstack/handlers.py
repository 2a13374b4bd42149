"""The one table that maps each domain event to the handlers that react to it."""

from __future__ import annotations

from reelstack.events import (
    CommentPosted,
    FollowRequested,
    UserFollowed,
    UserRegistered,
    VideoDeleted,
    VideoFailed,
    VideoLiked,
    VideoProcessed,
    VideoUploaded,
)
from reelstack.infra.events import Event, Handler
from reelstack.media import handlers as media
from reelstack.notifications import handlers as notifications
from reelstack.social import handlers as social

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    UserRegistered: [],
    UserFollowed: [social.announce_new_follower],
    FollowRequested: [social.announce_follow_request],
    VideoUploaded: [media.process_uploaded_video],
    VideoProcessed: [notifications.notify_video_ready, notifications.notify_new_post],
    VideoFailed: [notifications.notify_video_failed],
    VideoLiked: [notifications.notify_like],
    CommentPosted: [notifications.notify_comment],
    VideoDeleted: [],
}
