"""Notifications as their user sees them: actors, a sentence, the video while they may see it,
in a fixed number of queries however many there are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.accounts.views import avatar_url
from reelstack.media.models import Video
from reelstack.media.playback import PlaybackLinks
from reelstack.media.service import Viewer, may_see
from reelstack.media.views import POSTER_WIDTH
from reelstack.notifications import repository, service
from reelstack.notifications.models import Notification, NotificationType
from reelstack.notifications.schemas import (
    NotificationActorOut,
    NotificationComment,
    NotificationOut,
    NotificationVideo,
)
from reelstack.social import service as social
from reelstack.social.visibility import Relationship

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

SHOWN_ACTORS = 3
SNIPPET_LENGTH = 100

# What each type says after the actors' names.
_VERBS = {
    NotificationType.NEW_FOLLOWER: "started following you.",
    NotificationType.FOLLOW_REQUEST: "asked to follow you.",
    NotificationType.LIKE: "liked your video.",
    NotificationType.COMMENT: "commented on your video.",
    NotificationType.REPLY: "replied to your comment.",
    NotificationType.MENTION: "mentioned you in a comment.",
    NotificationType.NEW_POST: "posted a new video.",
}


def render_text(kind: NotificationType, names: list[str], actor_count: int, playable: bool) -> str:
    """The sentence a user reads, e.g. "alice and 45 others liked your video."."""
    if kind is NotificationType.VIDEO_READY:
        return "Your video is ready to watch."
    if kind is NotificationType.VIDEO_FAILED:
        if playable:
            return "Your video plays, but processing stopped before every quality was made."
        return "Your video could not be processed."
    if not names:
        who = "Someone" if actor_count <= 1 else f"{actor_count} people"
    elif actor_count <= 1:
        who = names[0]
    elif actor_count == 2 and len(names) >= 2:
        who = f"{names[0]} and {names[1]}"
    else:
        others = actor_count - 1
        who = f"{names[0]} and {others} other{'s' if others > 1 else ''}"
    return f"{who} {_VERBS[kind]}"


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_LENGTH else text[: SNIPPET_LENGTH - 1].rstrip() + "…"


def thumbnail_url(links: PlaybackLinks, video: Video) -> str | None:
    posters = links.posters(video)
    if not posters:
        return None
    return posters.get(POSTER_WIDTH) or posters[max(posters, key=int)]


def _hidden(relation: Relationship | None) -> bool:
    return relation is None or relation.is_blocking or relation.is_blocked_by


async def notifications_out(
    rt: Runtime, session: AsyncSession, viewer_id: str, rows: Sequence[Notification]
) -> list[NotificationOut]:
    """Shape the viewer's notifications. Actors the viewer blocks (or who block the viewer)
    are left out of the names; a video shows only while `may_see` lets the viewer see it."""
    aggregated = [n.id for n in rows if NotificationType(n.type) in service.AGGREGATED_TYPES]
    recent = await repository.recent_actors(session, aggregated, SHOWN_ACTORS)
    actor_ids = {
        n.id: recent[n.id] if n.id in recent else ([n.actor_id] if n.actor_id else []) for n in rows
    }
    videos = await repository.videos_by_id(session, {n.video_id for n in rows if n.video_id})
    user_ids = {uid for ids in actor_ids.values() for uid in ids}
    user_ids |= {video.user_id for video in videos.values()}
    users = await accounts.get_users(session, list(user_ids))
    relations = await social.relationships(session, viewer_id, list(users))
    comments = await repository.shown_comment_texts(
        session, {n.comment_id for n in rows if n.comment_id}
    )
    viewer = Viewer(viewer_id)

    def actor_out(user: User) -> NotificationActorOut:
        return NotificationActorOut(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            avatar_url=avatar_url(rt.media, user, "small"),
        )

    def video_out(video_id: str | None) -> NotificationVideo | None:
        video = videos.get(video_id or "")
        owner = users.get(video.user_id) if video else None
        if video is None or owner is None:
            return None
        if not may_see(viewer, video, owner, relations[owner.id]):
            return None
        return NotificationVideo(video_id=video.id, thumbnail_url=thumbnail_url(rt.playback, video))

    shaped = []
    for n in rows:
        kind = NotificationType(n.type)
        actors = [
            users[uid]
            for uid in actor_ids[n.id]
            if uid in users and not _hidden(relations.get(uid))
        ]
        comment_text = comments.get(n.comment_id or "")
        shaped.append(
            NotificationOut(
                notification_id=n.id,
                type=kind,
                actors=[actor_out(user) for user in actors],
                actor_count=n.actor_count,
                text=render_text(
                    kind, [u.username for u in actors], n.actor_count, bool(n.data.get("playable"))
                ),
                video=video_out(n.video_id),
                comment=(
                    NotificationComment(comment_id=n.comment_id, text=snippet(comment_text))
                    if n.comment_id and comment_text is not None
                    else None
                ),
                is_read=n.read_at is not None,
                created_at=n.created_at,
                updated_at=n.updated_at,
            )
        )
    return shaped
