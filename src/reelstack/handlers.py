"""The one table that maps each domain event to the handlers that react to it."""

from __future__ import annotations

from reelstack.events import (
    CommentPosted,
    FollowRequested,
    ProfileUpdated,
    SoundCreated,
    UserFollowed,
    UserRegistered,
    VideoDeleted,
    VideoFailed,
    VideoLiked,
    VideoProcessed,
    VideoShared,
    VideoUpdated,
    VideoUploaded,
)
from reelstack.feed import handlers as feed
from reelstack.infra.events import Event, Handler
from reelstack.media import handlers as media
from reelstack.notifications import handlers as notifications
from reelstack.search import handlers as search
from reelstack.social import handlers as social
from reelstack.sounds import handlers as sounds

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    UserRegistered: [search.index_new_user],
    ProfileUpdated: [search.index_updated_profile],
    UserFollowed: [social.announce_new_follower, feed.backfill_new_follow],
    FollowRequested: [social.announce_follow_request],
    VideoUploaded: [media.process_uploaded_video],
    VideoProcessed: [
        feed.fan_out_new_video,
        notifications.notify_video_ready,
        notifications.notify_new_post,
        sounds.give_video_its_sound,
        search.index_processed_video,
    ],
    VideoUpdated: [search.index_updated_video, feed.fan_out_updated_video],
    VideoFailed: [notifications.notify_video_failed],
    VideoLiked: [notifications.notify_like, feed.like_signal],
    VideoShared: [feed.share_signal],
    CommentPosted: [notifications.notify_comment, feed.comment_signal],
    VideoDeleted: [sounds.forget_deleted_video, search.unindex_deleted_video],
    SoundCreated: [search.index_new_sound],
}
