"""Shaping users for responses: the same fields wherever a user appears."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from reelstack.accounts.models import User
from reelstack.accounts.schemas import AvatarUrls, Me, UserStats, UserSummary
from reelstack.infra.storage import Storage
from reelstack.social.visibility import NO_RELATIONSHIP, Relationship


@dataclass(frozen=True)
class MediaLinks:
    """What signing a media URL needs: the store and how long links live."""

    storage: Storage
    ttl_seconds: int


class HasAvatar(Protocol):
    @property
    def avatar_key(self) -> str | None: ...


def avatar_url(media: MediaLinks, user: HasAvatar, size: str) -> str | None:
    """One signed avatar URL; each signature costs, so lists sign only the size they show."""
    if not user.avatar_key:
        return None
    return media.storage.signed_url(f"{user.avatar_key}/{size}.webp", media.ttl_seconds)


def avatar_urls(media: MediaLinks, user: User) -> AvatarUrls | None:
    if not user.avatar_key:
        return None
    return AvatarUrls(
        small=avatar_url(media, user, "small") or "",
        medium=avatar_url(media, user, "medium") or "",
        large=avatar_url(media, user, "large") or "",
    )


def profile_fields(media: MediaLinks, user: User, relation: Relationship) -> dict[str, Any]:
    urls = avatar_urls(media, user)
    return dict(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=urls.medium if urls else None,
        avatar_urls=urls,
        is_verified=user.is_verified,
        is_private=user.is_private,
        stats=UserStats(
            followers=user.follower_count,
            following=user.following_count,
            videos=user.video_count,
            total_likes=user.total_likes,
        ),
        is_following=relation.is_following,
        is_followed_by=relation.is_followed_by,
        follow_requested=relation.follow_requested,
        is_blocking=relation.is_blocking,
        created_at=user.created_at,
    )


def me_view(media: MediaLinks, user: User) -> Me:
    return Me(**profile_fields(media, user, NO_RELATIONSHIP), email=user.email, role=user.role)


def user_summary(media: MediaLinks, user: User, relation: Relationship) -> UserSummary:
    return UserSummary(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        avatar_url=avatar_url(media, user, "small"),
        is_verified=user.is_verified,
        is_following=relation.is_following,
    )
