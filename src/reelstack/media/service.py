"""Video records: who may see, change and delete them; a creator's list of videos."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import Role, User
from reelstack.accounts.security import AccessClaims
from reelstack.db import BOUNDED, enqueue_after_commit, fetch_bounded
from reelstack.errors import Forbidden, NotFound
from reelstack.events import VideoDeleted, VideoUpdated
from reelstack.infra.events import publish
from reelstack.infra.pagination import Keyset, PageParams, next_cursor
from reelstack.media.models import UploadSession, Video, VideoStatus
from reelstack.media.schemas import UpdateVideoRequest, normalise_hashtags
from reelstack.search.text import CAPTION_HASHTAG
from reelstack.social import service as social
from reelstack.social.visibility import Audience, Relationship, audience_of, can_view

VIDEO_NOT_FOUND = "No such video."
MODERATOR_ROLES = frozenset({Role.MODERATOR.value, Role.ADMIN.value})


@dataclass(frozen=True)
class Viewer:
    """Who is looking: signed out (id None), a user, or a moderator."""

    user_id: str | None
    is_moderator: bool = False

    @classmethod
    def of(cls, claims: AccessClaims | None) -> Viewer:
        if claims is None:
            return cls(None)
        return cls(claims.user_id, claims.role in MODERATOR_ROLES)


@dataclass(frozen=True)
class SeenVideo:
    video: Video
    owner: User
    relation: Relationship


class Gated(Protocol):
    """What deciding visibility reads of a video: a `Video`, or a row of these columns."""

    @property
    def status(self) -> str: ...
    @property
    def visibility(self) -> str: ...
    @property
    def hidden_by_moderation(self) -> bool: ...


class GatedOwner(Protocol):
    """What deciding visibility reads of a video's creator: a `User`, or such a row."""

    @property
    def id(self) -> str: ...
    @property
    def is_active(self) -> bool: ...


def may_see(viewer: Viewer, video: Gated, owner: GatedOwner, relation: Relationship) -> bool:
    """A video's own rules on top of the one visibility function: others see a video only
    once it plays, and never a deactivated creator's."""
    if viewer.user_id != owner.id and not viewer.is_moderator:
        if video.status != VideoStatus.READY.value or not owner.is_active:
            return False
    return can_view(
        viewer.user_id,
        owner.id,
        audience_of(video.visibility),
        relation,
        hidden_by_moderation=video.hidden_by_moderation,
        viewer_is_moderator=viewer.is_moderator,
    )


@functools.cache
def _video_with_owner(*, signed_in: bool) -> Select[Any]:
    """The video, its owner and the viewer's relationship to them in one round trip; built once,
    since composing the statement costs more than running it."""
    viewer: Any = bindparam("viewer_id") if signed_in else None
    return (
        select(Video, User, *social.relationship_columns(viewer, Video.user_id))
        .join(User, User.id == Video.user_id)
        .where(Video.id == bindparam("video_id"))
        .execution_options(**BOUNDED)
    )


async def visible_video(session: AsyncSession, viewer: Viewer, video_id: str) -> SeenVideo:
    """The video as the viewer may see it; one they may not see does not exist for them."""
    query = _video_with_owner(signed_in=viewer.user_id is not None)
    params = {"video_id": video_id, "viewer_id": viewer.user_id}
    row = (await session.execute(query, params)).one_or_none()
    if row is None:
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    video, owner = row[0], row[1]
    relation = social.relationship_from_row(row)
    if not may_see(viewer, video, owner, relation):
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    return SeenVideo(video, owner, relation)


@dataclass(frozen=True, slots=True)
class OwnerGate:
    id: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class VideoGate:
    """What a like, save or share needs of a video it may act on: the video as a row of the
    visibility columns, its counters and `counters_seq` (not a loaded `Video`), and its owner's
    id and state. Reading a dozen columns costs a fraction of loading the two ORM objects."""

    video: Any
    owner: OwnerGate
    relation: Relationship


@functools.cache
def _video_gate(*, signed_in: bool) -> Select[Any]:
    viewer: Any = bindparam("viewer_id") if signed_in else None
    query: Select[Any] = (
        select(  # type: ignore[assignment]  # more columns than Select's type spells out
            Video.id,
            Video.user_id,
            Video.status,
            Video.visibility,
            Video.hidden_by_moderation,
            Video.allow_comments,
            Video.view_count,
            Video.like_count,
            Video.comment_count,
            Video.share_count,
            Video.save_count,
            Video.counters_seq,
            User.is_active.label("owner_active"),
            *social.relationship_columns(viewer, Video.user_id),
        )
        .join(User, User.id == Video.user_id)
        .where(Video.id == bindparam("video_id"))
        .execution_options(**BOUNDED)
    )
    return query


async def video_gate(session: AsyncSession, viewer: Viewer, video_id: str) -> VideoGate:
    """`visible_video` as columns: the same decision (`may_see`), the same 404."""
    params = {"video_id": video_id, "viewer_id": viewer.user_id}
    rows = await fetch_bounded(session, _video_gate(signed_in=viewer.user_id is not None), params)
    if not rows:
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    row = rows[0]
    owner = OwnerGate(row.user_id, bool(row.owner_active))
    relation = social.relationship_from_row(row)
    if not may_see(viewer, row, owner, relation):
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    return VideoGate(row, owner, relation)


async def playback_viewer(session: AsyncSession, viewer_id: str | None) -> Viewer:
    """The viewer a playback token was minted for, with their role as it is now."""
    if viewer_id is None:
        return Viewer(None)
    role = await session.scalar(select(User.role).where(User.id == viewer_id))
    return Viewer(viewer_id, role in MODERATOR_ROLES)


async def owned_video(session: AsyncSession, viewer: Viewer, video_id: str) -> Video:
    """A video the viewer owns, locked for change; others get 404 or 403 as they may see it."""
    seen = await visible_video(session, viewer, video_id)
    if seen.owner.id != viewer.user_id:
        raise Forbidden("Only the creator can change this video.", code="not_video_owner")
    video = await session.get_one(Video, video_id, with_for_update=True)
    return video


async def update_video(
    session: AsyncSession, viewer: Viewer, video_id: str, changes: UpdateVideoRequest
) -> SeenVideo:
    video = await owned_video(session, viewer, video_id)
    fields = changes.model_dump(exclude_unset=True)
    if "visibility" in fields and fields["visibility"] is not None:
        video.visibility = Audience(fields["visibility"]).value
    for name in ("caption", "description", "category", "allow_comments"):
        if name in fields and (fields[name] is not None or name == "category"):
            setattr(video, name, fields[name])
    if "hashtags" in fields or "caption" in fields:
        explicit = fields.get("hashtags")
        tags = list(video.hashtags) if explicit is None else explicit
        video.hashtags = normalise_hashtags(tags + CAPTION_HASHTAG.findall(video.caption))
    await session.flush()
    if fields:
        # Search, feeds and the like follow what a video says and who may see it.
        publish(session, VideoUpdated(video_id=video.id, user_id=video.user_id))
    return await visible_video(session, viewer, video_id)


async def delete_video(session: AsyncSession, viewer: Viewer, video_id: str) -> None:
    """By its creator or a moderator; the files go in a job after the row is gone."""
    seen = await visible_video(session, viewer, video_id)
    if seen.owner.id != viewer.user_id and not viewer.is_moderator:
        raise Forbidden("Only the creator or a moderator can delete this video.", code="forbidden")
    video = await session.get_one(Video, video_id, with_for_update=True)
    upload = await session.scalar(select(UploadSession).where(UploadSession.video_id == video_id))
    if video.published_at is not None:
        await accounts.adjust_counts(session, video.user_id, videos=-1)
    await session.delete(video)
    enqueue_after_commit(
        session,
        "media.delete_video_files",
        {
            "video_id": video_id,
            "upload_id": upload.id if upload else None,
            "s3_upload_id": upload.s3_upload_id if upload else None,
        },
    )
    publish(session, VideoDeleted(video_id=video_id, user_id=video.user_id))


async def video_for_owner(session: AsyncSession, viewer: Viewer, video_id: str) -> Video:
    """Processing state is the creator's (and moderators') business only."""
    video = await session.get(Video, video_id)
    if video is None or (video.user_id != viewer.user_id and not viewer.is_moderator):
        raise NotFound(VIDEO_NOT_FOUND, code="video_not_found")
    return video


@dataclass(frozen=True)
class VideoList:
    owner: User
    relation: Relationship
    videos: list[Video]
    next_cursor: str | None


async def user_videos(
    session: AsyncSession, viewer: Viewer, user_ref: str, page: PageParams
) -> VideoList:
    """A creator's videos, newest first: the audiences the viewer may list, and for the creator
    also the ones still processing or failed."""
    owner, relation = await social.visible_user(session, viewer.user_id, user_ref)
    is_owner = viewer.user_id == owner.id
    audiences = [
        a.value
        for a in Audience
        if can_view(
            viewer.user_id,
            owner.id,
            a,
            relation,
            listing=True,
            viewer_is_moderator=viewer.is_moderator,
        )
    ]
    query = select(Video).where(Video.user_id == owner.id, Video.visibility.in_(audiences))
    if not is_owner:
        query = query.where(Video.status == VideoStatus.READY.value)
        if not viewer.is_moderator:
            query = query.where(Video.hidden_by_moderation.is_(False))
        if not owner.is_active and not viewer.is_moderator:
            query = query.where(Video.id.is_(None))
    rows = list(
        await session.scalars(
            Keyset(Video.created_at, Video.id).apply(query, page.cursor, page.size)
        )
    )
    videos, cursor = next_cursor(rows, page.size, lambda v: (v.created_at, v.id))
    return VideoList(owner, relation, videos, cursor)
