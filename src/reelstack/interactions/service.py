"""Likes, saves and shares: one row per act, the counters moved only when a row came or went.

A viewer acts only on a video they may see (`media.service.visible_video`); anything else is
`video_not_found`, exactly like a video that does not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, bindparam, delete, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.db import (
    BOUNDED,
    execute_core,
    fetch_bounded,
    insert_ignoring_conflicts,
    insert_ignoring_conflicts_in,
    utcnow,
)
from reelstack.errors import Forbidden, NotAuthenticated, NotFound, Unprocessable
from reelstack.events import VideoLiked, VideoShared
from reelstack.infra.counters import Counters
from reelstack.infra.events import publish
from reelstack.infra.ids import new_id
from reelstack.infra.pagination import Keyset, PageParams, next_cursor
from reelstack.interactions.models import Collection, CollectionVideo, Save, Share, VideoLike
from reelstack.media import service as media
from reelstack.media.models import VIDEO_COUNTERS, Video
from reelstack.media.schemas import UserInteraction
from reelstack.social import service as social
from reelstack.social.visibility import Audience

# Audiences whose videos may leave the platform: their page at /v/{id} opens for anyone.
LINK_AUDIENCES = frozenset({Audience.PUBLIC.value, Audience.UNLISTED.value})


@dataclass(frozen=True)
class LikeState:
    liked: bool
    like_count: int


@dataclass(frozen=True)
class SaveState:
    saved: bool
    save_count: int


@dataclass(frozen=True)
class ShareState:
    share_id: str
    share_count: int


async def is_saved(session: AsyncSession, user_id: str, video_id: str) -> bool:
    found = await session.scalar(
        select(Save.video_id).where(Save.user_id == user_id, Save.video_id == video_id)
    )
    return found is not None


# Built once: a feed page asks this for every card on it.
LIKED_AND_SAVED = union_all(
    select(literal("like", String), VideoLike.video_id).where(
        VideoLike.user_id == bindparam("viewer"),
        VideoLike.video_id.in_(bindparam("ids", expanding=True)),
    ),
    select(literal("save", String), Save.video_id).where(
        Save.user_id == bindparam("viewer"), Save.video_id.in_(bindparam("ids", expanding=True))
    ),
).execution_options(**BOUNDED)


async def viewer_interactions(
    session: AsyncSession, viewer_id: str | None, video_ids: list[str]
) -> dict[str, UserInteraction]:
    """Whether the viewer liked and saved each video: one query for any number of videos."""
    if viewer_id is None or not video_ids:
        return {video_id: UserInteraction() for video_id in video_ids}
    rows = await fetch_bounded(
        session, LIKED_AND_SAVED, {"viewer": viewer_id, "ids": list(set(video_ids))}
    )
    liked: set[str] = set()
    saved: set[str] = set()
    for kind, video_id in rows:
        (liked if kind == "like" else saved).add(video_id)
    return {
        video_id: UserInteraction(liked=video_id in liked, saved=video_id in saved)
        for video_id in video_ids
    }


async def writable_video(
    session: AsyncSession, viewer: media.Viewer, video_id: str
) -> media.VideoGate:
    """The video, if the viewer may see it, held until commit: a concurrent delete waits for
    this transaction (or it for the delete, and then answers 404 rather than failing on the
    foreign key)."""
    seen = await media.video_gate(session, viewer, video_id)
    if session.get_bind().dialect.name == "sqlite":
        return seen  # one writer at a time: nothing can delete it under us
    held = await session.scalar(
        select(Video.id).where(Video.id == video_id).with_for_update(read=True, key_share=True)
    )
    if held is None:
        raise NotFound(media.VIDEO_NOT_FOUND, code="video_not_found")
    return seen


async def current_count(counters: Counters, video: Any, field_name: str) -> int:
    """A counter as readers see it now, for answers to writes that changed nothing."""
    return (await counters.read(VIDEO_COUNTERS, [video]))[video.id][field_name]


# -- likes ---------------------------------------------------------------------------------


@functools.cache
def _like_insert(dialect: str) -> Any:
    """The like's INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect."""
    table: Any = VideoLike.__table__
    return (
        insert_ignoring_conflicts_in(dialect, table)
        .values(
            user_id=bindparam("user_id"),
            video_id=bindparam("video_id"),
            created_at=bindparam("created_at", type_=table.c.created_at.type),
        )
        .returning(table.c.user_id)
        .execution_options(**BOUNDED)
    )


async def like(
    counters: Counters, session: AsyncSession, viewer: media.Viewer, video_id: str
) -> LikeState:
    """Like a video. Liking it again changes nothing, and tells nobody twice."""
    seen = await writable_video(session, viewer, video_id)
    user_id = signed_in(viewer)
    inserted = await fetch_bounded(
        session,
        _like_insert(session.get_bind().dialect.name),
        {"user_id": user_id, "video_id": video_id, "created_at": utcnow()},
    )
    if not inserted:
        return LikeState(True, await current_count(counters, seen.video, "like_count"))
    count = await counters.add(session, VIDEO_COUNTERS, video_id, "like_count", 1)
    publish(session, VideoLiked(video_id=video_id, owner_id=seen.owner.id, user_id=user_id))
    return LikeState(True, count)


UNLIKE = (
    delete(VideoLike)
    .where(VideoLike.user_id == bindparam("user_id"), VideoLike.video_id == bindparam("video_id"))
    .returning(VideoLike.video_id)
    .execution_options(**BOUNDED)
)


_RECENT_LIKES = (
    select(VideoLike.user_id, VideoLike.created_at)
    .where(
        VideoLike.video_id == bindparam("video_id"),
        VideoLike.created_at >= bindparam("since", type_=VideoLike.created_at.type),
    )
    .order_by(VideoLike.created_at, VideoLike.user_id)
)


async def recent_likes(
    session: AsyncSession, video_id: str, since: datetime
) -> list[tuple[str, datetime]]:
    """Who liked the video at or after `since` and still likes it, and when; oldest first."""
    rows = await execute_core(session, _RECENT_LIKES, {"video_id": video_id, "since": since})
    return [(user_id, created_at) for user_id, created_at in rows]


async def unlike(
    counters: Counters, session: AsyncSession, viewer: media.Viewer, video_id: str
) -> LikeState:
    """Take a like back; idempotent."""
    seen = await writable_video(session, viewer, video_id)
    deleted = await fetch_bounded(
        session, UNLIKE, {"user_id": signed_in(viewer), "video_id": video_id}
    )
    if not deleted:
        return LikeState(False, await current_count(counters, seen.video, "like_count"))
    return LikeState(False, await counters.add(session, VIDEO_COUNTERS, video_id, "like_count", -1))


# -- saves ---------------------------------------------------------------------------------


async def lock_saver(session: AsyncSession, user_id: str) -> None:
    """Serialise one user's saves and collection changes, so a collection never holds a video
    its owner has just unsaved, and collection sizes move exactly once per row. Taken after
    the video's lock, the order every other writer of these rows follows."""
    await accounts.lock_users(session, [user_id])


async def ensure_saved(counters: Counters, session: AsyncSession, user_id: str, video: Any) -> int:
    """Save the video unless it is saved (the caller holds `lock_saver`); the save count."""
    table = Save.__table__
    inserted = await session.execute(
        insert_ignoring_conflicts(session, table)
        .values(user_id=user_id, video_id=video.id, created_at=utcnow())
        .returning(table.c.video_id)
    )
    if inserted.first() is None:
        return await current_count(counters, video, "save_count")
    return await counters.add(session, VIDEO_COUNTERS, video.id, "save_count", 1)


async def save(
    counters: Counters, session: AsyncSession, viewer: media.Viewer, video_id: str
) -> SaveState:
    """Save (bookmark) a video; idempotent."""
    seen = await writable_video(session, viewer, video_id)
    user_id = signed_in(viewer)
    await lock_saver(session, user_id)
    return SaveState(True, await ensure_saved(counters, session, user_id, seen.video))


async def unsave(
    counters: Counters, session: AsyncSession, viewer: media.Viewer, video_id: str
) -> SaveState:
    """Unsave a video; it leaves every collection of the viewer's too. Idempotent."""
    seen = await writable_video(session, viewer, video_id)
    user_id = signed_in(viewer)
    await lock_saver(session, user_id)
    deleted = await session.execute(
        delete(Save)
        .where(Save.user_id == user_id, Save.video_id == video_id)
        .returning(Save.video_id)
    )
    if deleted.first() is None:
        return SaveState(False, await current_count(counters, seen.video, "save_count"))
    count = await counters.add(session, VIDEO_COUNTERS, video_id, "save_count", -1)
    mine = select(Collection.id).where(Collection.user_id == user_id)
    left = await session.execute(
        delete(CollectionVideo)
        .where(CollectionVideo.video_id == video_id, CollectionVideo.collection_id.in_(mine))
        .returning(CollectionVideo.collection_id)
    )
    emptied = list(left.scalars())
    if emptied:
        await session.execute(
            update(Collection)
            .where(Collection.id.in_(emptied))
            .values(video_count=Collection.video_count - 1, updated_at=utcnow())
        )
    return SaveState(False, count)


# -- shares --------------------------------------------------------------------------------


async def share(
    counters: Counters,
    session: AsyncSession,
    viewer: media.Viewer,
    video_id: str,
    *,
    internal: bool,
    platform: str | None = None,
    to_user_ref: str | None = None,
) -> ShareState:
    """Record a share: to another user (signed in; they must be able to watch it), or out of
    the platform by link (anyone; public and unlisted videos only, the ones the link opens)."""
    seen = await writable_video(session, viewer, video_id)
    to_user_id = None
    if internal:
        to_user_id = await _recipient(session, signed_in(viewer), seen, to_user_ref or "")
    elif seen.video.visibility not in LINK_AUDIENCES:
        raise Forbidden(
            "Only public and unlisted videos can be shared outside reelstack.",
            code="video_not_shareable",
        )
    share_id = new_id()
    session.add(
        Share(
            id=share_id,
            video_id=video_id,
            user_id=viewer.user_id,
            type="internal" if internal else "external",
            platform=platform,
            to_user_id=to_user_id,
            created_at=utcnow(),
        )
    )
    await session.flush()
    count = await counters.add(session, VIDEO_COUNTERS, video_id, "share_count", 1)
    publish(
        session,
        VideoShared(
            video_id=video_id, owner_id=seen.owner.id, user_id=viewer.user_id, to_user_id=to_user_id
        ),
    )
    return ShareState(share_id, count)


async def linked_video(
    session: AsyncSession, viewer: media.Viewer, video_id: str
) -> media.SeenVideo:
    """A video as its public page shows it: only one anyone with the link may watch, and never
    to a signed-in viewer its creator blocks."""
    seen = await media.visible_video(session, media.Viewer(None), video_id)
    if viewer.user_id is not None:
        await media.visible_video(session, viewer, video_id)
    return seen


async def _recipient(session: AsyncSession, sender_id: str, seen: media.VideoGate, ref: str) -> str:
    """The user a video is sent to: someone the sender may address, who may watch it."""
    recipient, relation = await social.visible_user(session, sender_id, ref)
    if relation.is_blocking:  # blocked either way: as if they did not exist
        raise NotFound("No such user.", code="user_not_found")
    if recipient.id == sender_id:
        raise Unprocessable("You cannot send a video to yourself.", code="cannot_share_to_self")
    # Whether the creator blocks the recipient is nobody else's business: refusing for that
    # reason would tell the sender. Such a share goes through, and still opens nothing for
    # them; what is refused is a video its audience keeps from them (a block ends follows).
    their_relation = replace(
        await social.relationship(session, recipient.id, seen.owner.id), is_blocked_by=False
    )
    if not media.may_see(media.Viewer(recipient.id), seen.video, seen.owner, their_relation):
        raise Forbidden(
            "This user cannot watch this video, so it cannot be sent to them.",
            code="recipient_cannot_view",
        )
    return recipient.id


def signed_in(viewer: media.Viewer) -> str:
    """The viewer's id; writes on behalf of nobody are refused."""
    if viewer.user_id is None:
        raise NotAuthenticated()
    return viewer.user_id


# -- lists of videos -----------------------------------------------------------------------


@dataclass(frozen=True)
class VideoListPage:
    """Videos the viewer may see, with their creators, newest first."""

    items: list[tuple[Video, User]]
    next_cursor: str | None


async def visible_page(
    session: AsyncSession,
    viewer: media.Viewer,
    query: Select[Video, datetime, str],
    keyset: Keyset,
    page: PageParams,
) -> VideoListPage:
    """One keyset page of `query` (rows of (Video, time, tie)), keeping only the videos the
    viewer may still see. Four queries whatever the page size; a page can come out shorter
    than asked when some videos became invisible, but the cursor goes on from the last row."""
    rows = list((await session.execute(keyset.apply(query, page.cursor, page.size))).all())
    rows, cursor = next_cursor(rows, page.size, lambda row: (row[1], row[2]))
    videos: Sequence[Video] = [row[0] for row in rows]
    owner_ids = list({video.user_id for video in videos})
    owners = await accounts.get_users(session, owner_ids)
    relations = await social.relationships(session, viewer.user_id, owner_ids)
    items = [
        (video, owners[video.user_id])
        for video in videos
        if video.user_id in owners
        and media.may_see(viewer, video, owners[video.user_id], relations[video.user_id])
    ]
    return VideoListPage(items, cursor)


async def saved_videos(
    session: AsyncSession, viewer: media.Viewer, page: PageParams
) -> VideoListPage:
    """The viewer's saved videos, most recently saved first."""
    query = (
        select(Video, Save.created_at, Save.video_id)
        .join(Save, Save.video_id == Video.id)
        .where(Save.user_id == signed_in(viewer))
    )
    return await visible_page(session, viewer, query, Keyset(Save.created_at, Save.video_id), page)
