"""What search may list for a viewer: `can_view(listing=True)` as a SQL filter, so a page is
filtered in the database; `may_list` is the same rule in Python, and the tests hold the two
equal over every combination of audience, status, moderation, follows and blocks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_

from reelstack.accounts.models import User
from reelstack.media.models import Video, VideoStatus
from reelstack.social.models import Block, Follow
from reelstack.social.visibility import Audience, Relationship, can_view


def may_list(viewer_id: str | None, video: Video, owner: User, relation: Relationship) -> bool:
    """Search lists only playable videos, and none of a user the viewer blocks or who blocks
    the viewer; otherwise exactly what the one visibility function lets a listing show."""
    if video.status != VideoStatus.READY.value:
        return False
    if viewer_id != owner.id and (not owner.is_active or relation.is_blocking):
        return False
    return can_view(
        viewer_id,
        owner.id,
        Audience(video.visibility),
        relation,
        listing=True,
        hidden_by_moderation=video.hidden_by_moderation,
    )


def blocked_between(viewer_id: str, other_id: Any) -> Any:
    """Either user blocks the other."""
    return exists().where(
        or_(
            and_(Block.blocker_id == viewer_id, Block.blocked_id == other_id),
            and_(Block.blocker_id == other_id, Block.blocked_id == viewer_id),
        )
    )


def listable_videos(viewer_id: str | None) -> Any:
    """`may_list` over `Video` joined to its owner `User`, as one WHERE clause."""
    ready = Video.status == VideoStatus.READY.value
    if viewer_id is None:
        return and_(
            ready,
            User.is_active.is_(True),
            Video.hidden_by_moderation.is_(False),
            Video.visibility == Audience.PUBLIC.value,
        )
    follows = exists().where(Follow.follower_id == viewer_id, Follow.followee_id == Video.user_id)
    others = and_(
        User.is_active.is_(True),
        Video.hidden_by_moderation.is_(False),
        or_(
            Video.visibility == Audience.PUBLIC.value,
            and_(Video.visibility == Audience.FOLLOWERS.value, follows),
        ),
        ~blocked_between(viewer_id, Video.user_id),
    )
    return and_(ready, or_(Video.user_id == viewer_id, others))


def listable_users(viewer_id: str | None) -> Any:
    """Users a search may show: active, and no block between them and the viewer."""
    if viewer_id is None:
        return User.is_active.is_(True)
    return and_(
        User.is_active.is_(True),
        or_(User.id == viewer_id, ~blocked_between(viewer_id, User.id)),
    )
