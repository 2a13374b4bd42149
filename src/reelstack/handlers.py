"""The one table that maps each domain event to the handlers that react to it."""

from __future__ import annotations

from reelstack.events import FollowRequested, UserFollowed, UserRegistered
from reelstack.infra.events import Event, Handler
from reelstack.social import handlers as social

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    UserRegistered: [],
    UserFollowed: [social.announce_new_follower],
    FollowRequested: [social.announce_follow_request],
}
