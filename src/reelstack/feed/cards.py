"""Turning feed candidates (video ids) into the rows a viewer may see, in fixed queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.media.models import Video
from reelstack.media.service import Gated, GatedOwner, Viewer, may_see
from reelstack.social import service as social
from reelstack.social.visibility import Audience, Relationship


@dataclass(frozen=True)
class FeedItem:
    """A video placed in a feed, and why it is there."""

    video_id: str
    reason: str | None = None
    source: str = "feed"


def listable(viewer: Viewer, video: Gated, owner: GatedOwner, relation: Relationship) -> bool:
    """May the viewer find this video in a list? The one visibility function (through
    `may_see`), with unlisted videos kept out of lists and the viewer's own blocks honoured."""
    if relation.is_blocking:
        return False
    if video.visibility == Audience.UNLISTED.value and viewer.user_id != owner.id:
        return False
    return may_see(viewer, video, owner, relation)


# Built once (a page asks for it on every request): statement building costs more than the
# query itself on SQLite.
VIDEOS_WITH_OWNERS = (
    select(Video, User)
    .join(User, User.id == Video.user_id)
    .where(Video.id.in_(bindparam("ids", expanding=True)))
)


async def load_visible(
    session: AsyncSession, viewer: Viewer, video_ids: Sequence[str]
) -> dict[str, tuple[Video, User]]:
    """The videos (with their creators) the viewer may find in a feed: four queries."""
    if not video_ids:
        return {}
    rows = (await session.execute(VIDEOS_WITH_OWNERS, {"ids": list(set(video_ids))})).all()
    owner_ids = list({video.user_id for video, _ in rows})
    relations = await social.relationships(session, viewer.user_id, owner_ids)
    return {
        video.id: (video, owner)
        for video, owner in rows
        if listable(viewer, video, owner, relations[owner.id])
    }
