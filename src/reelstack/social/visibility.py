"""The one function that decides who may see what. Every read path calls `can_view`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Audience(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"  # anyone with the link; never in lists, feeds or search
    FOLLOWERS = "followers"
    PRIVATE = "private"


@dataclass(frozen=True)
class Relationship:
    """How the viewer stands towards another user."""

    is_following: bool = False
    is_followed_by: bool = False
    follow_requested: bool = False
    is_blocking: bool = False  # the viewer blocks the other user
    is_blocked_by: bool = False  # the other user blocks the viewer


NO_RELATIONSHIP = Relationship()
_AUDIENCES = {audience.value: audience for audience in Audience}


def audience_of(value: str) -> Audience:
    """`Audience(value)` for a stored column, by lookup: calling the enum costs a feed page a
    microsecond per card and per check. A value that is no audience raises, as the call does."""
    return _AUDIENCES.get(value) or Audience(value)


def can_view(
    viewer_id: str | None,
    owner_id: str,
    audience: Audience,
    relation: Relationship,
    *,
    listing: bool = False,
    hidden_by_moderation: bool = False,
    viewer_is_moderator: bool = False,
) -> bool:
    """May `viewer_id` (None when signed out) see something `owner_id` shared with `audience`?

    `listing` is True on paths that enumerate (feeds, search, profile grids), where unlisted
    items stay out. An owner's block hides everything of theirs from the blocked viewer.
    """
    if viewer_id is not None and viewer_id == owner_id:
        return True
    if viewer_is_moderator:
        return True
    if hidden_by_moderation or relation.is_blocked_by:
        return False
    if audience is Audience.PUBLIC:
        return True
    if audience is Audience.UNLISTED:
        return not listing
    if audience is Audience.FOLLOWERS:
        return viewer_id is not None and relation.is_following
    return False
