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
