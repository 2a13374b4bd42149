"""The platform's domain events. Later features add theirs here; handlers are mapped in
`reelstack.handlers`."""

from __future__ import annotations

from dataclasses import dataclass

from reelstack.infra.events import Event, domain_event


@domain_event
@dataclass(frozen=True)
class UserRegistered(Event):
    name = "user.registered"
    user_id: str


@domain_event
@dataclass(frozen=True)
class UserFollowed(Event):
    name = "user.followed"
    follower_id: str
    followee_id: str


@domain_event
@dataclass(frozen=True)
class FollowRequested(Event):
    name = "user.follow_requested"
    request_id: str
    requester_id: str
    target_id: str


@domain_event
@dataclass(frozen=True)
class VideoUploaded(Event):
    """Every byte of a video's original is stored; processing may start."""

    name = "video.uploaded"
    video_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class VideoProcessed(Event):
    """Every rung, the progressive MP4 and the thumbnails of a video are published."""

    name = "video.processed"
    video_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class VideoDeleted(Event):
    name = "video.deleted"
    video_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class VideoFailed(Event):
    """Processing gave up on a video; `error_code` says why."""

    name = "video.failed"
    video_id: str
    user_id: str
    error_code: str


@domain_event
@dataclass(frozen=True)
class VideoLiked(Event):
    name = "video.liked"
    video_id: str
    owner_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class CommentPosted(Event):
    """A visible comment (not one held for review). `reply_to_user_id` is set on replies;
    `mentioned_user_ids` are the users its @mentions name."""

    name = "comment.posted"
    comment_id: str
    video_id: str
    owner_id: str
    author_id: str
    thread_id: str | None
    reply_to_user_id: str | None
    mentioned_user_ids: tuple[str, ...]


@domain_event
@dataclass(frozen=True)
class VideoShared(Event):
    name = "video.shared"
    video_id: str
    owner_id: str
    user_id: str | None
    to_user_id: str | None


@domain_event
@dataclass(frozen=True)
class VideoViewed(Event):
    """A view that counted, as the analytics stream records it."""

    name = "video.viewed"
    video_id: str
    user_id: str | None
    watched_ms: int
    source: str


@domain_event
@dataclass(frozen=True)
class SoundCreated(Event):
    """A processed video's own audio became a sound others may reuse."""

    name = "sound.created"
    sound_id: str
    video_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class VideoUpdated(Event):
    """A creator changed what a video says or who may see it (caption, description, hashtags,
    category, visibility, comments)."""

    name = "video.updated"
    video_id: str
    user_id: str


@domain_event
@dataclass(frozen=True)
class ProfileUpdated(Event):
    """A user changed their public profile (display name, bio, privacy)."""

    name = "user.profile_updated"
    user_id: str
