"""Notifications made from domain events, each handler a job on the notifications queue, so a
creator with many followers never slows down the like or the upload that caused it.

Each handler tolerates rows gone since the event (a deleted video, a withdrawn like) and is
safe to run twice: a notification is written once per subject while it is unread.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.db import utcnow
from reelstack.errors import NotFound
from reelstack.events import CommentPosted, VideoFailed, VideoLiked, VideoProcessed
from reelstack.infra.events import Coalescing, event_handler
from reelstack.interactions import service as interactions
from reelstack.media import service as media
from reelstack.media.models import VideoStatus
from reelstack.notifications import delivery, repository, service
from reelstack.notifications.models import NotificationType
from reelstack.notifications.repository import PostedComment
from reelstack.notifications.service import NewNotification
from reelstack.social.visibility import Audience, Relationship, can_view

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

# A follower as such: the new-post fan-out asks whether any follower may see the video.
ANY_FOLLOWER = media.Viewer("any follower")  # never a real user id
AS_FOLLOWER = Relationship(is_following=True)


async def _sees_video(session: AsyncSession, user_id: str, video_id: str) -> bool:
    """Whether the user may see the video now, by the one visibility path."""
    try:
        await media.video_gate(session, media.Viewer(user_id), video_id)
    except NotFound:
        return False
    return True


# A video's likes are told to its owner at most once a second, in one job: a popular video
# costs one notification update per second, not one per like.
LIKE_DIGEST = Coalescing(key=lambda event: event.video_id, seconds=1.0)
# How far back a digest (of likes or of comments) looks when it does not know where the last one
# stopped; a like or comment waits for its digest far less than this, unless the notifications
# queue falls minutes behind.
DIGEST_LOOKBACK = timedelta(minutes=10)
# A digest reads from a little before the newest row the last one saw: a row is stamped when it
# is inserted and may commit a moment later, after a digest that read past its stamp. Rows read
# twice are not told twice (`service.add_likes`, `service.create_many`).
DIGEST_OVERLAP = timedelta(seconds=5)


async def _read_mark(rt: Runtime, key: str) -> tuple[datetime, set[str]]:
    """Where a digest reads from (the newest row the last one read, less the overlap, or ten
    minutes back without a mark), and the rows of that overlap the last one already passed on."""
    since = utcnow() - DIGEST_LOOKBACK
    mark = await rt.cache.get(key)
    if mark is None:
        return since, set()
    last = json.loads(mark)
    return max(since, datetime.fromisoformat(last["at"]) - DIGEST_OVERLAP), set(last["done"])


async def _write_mark(rt: Runtime, key: str, read: list[tuple[datetime, str]]) -> None:
    """Record what a digest read (stamp, id): its newest stamp, and the rows the next digest
    will read again (its overlap) and need not pass on again."""
    newest = max(stamp for stamp, _ in read)
    again = [row_id for stamp, row_id in read if stamp >= newest - DIGEST_OVERLAP]
    await rt.cache.set(
        key,
        json.dumps({"at": newest.isoformat(), "done": again}),
        ttl=DIGEST_LOOKBACK.total_seconds(),
    )


def _digest_mark(video_id: str) -> str:
    """The cache key holding the stamp of the newest like the video's last digest read, and
    the likers it passed on that the next digest reads again."""
    return f"notifications:like-digest:{video_id}"


@event_handler(queue="notifications", coalesce=LIKE_DIGEST)
async def notify_like(rt: Runtime, event: VideoLiked) -> None:
    """The owner hears of the video's recent likes, gathered with its other likes. Each digest
    reads only the likes since the last one (less the overlap), so its cost follows the likes
    of the last second, not every like of the last ten minutes; and it passes on only the
    likers the last one did not, as the comment digest does. Should that record be lost, a
    liker read twice is still counted once (`service.add_likes`)."""
    window = timedelta(seconds=rt.settings.notification_aggregation_window_seconds)
    since, done = await _read_mark(rt, _digest_mark(event.video_id))
    # Read before writing: the read's rows grow with the likes, and the one SQLite writer is
    # held only for the write, whose statements are as small as the new likers are few.
    async with rt.unit_of_work(write=False) as session:
        likes = await interactions.recent_likes(session, event.video_id, since=since)
    if not likes:
        return
    likers = [user_id for user_id, _ in likes if user_id not in done]
    changed = None
    if likers:
        async with rt.unit_of_work() as session:
            if not await _sees_video(session, event.owner_id, event.video_id):
                return  # deleted or hidden from its owner (moderation) before this job ran
            changed = await service.add_likes(
                session,
                event.owner_id,
                event.video_id,
                likers,
                window,
                recounted_within=2 * DIGEST_LOOKBACK,
            )
    await _write_mark(rt, _digest_mark(event.video_id), [(stamp, uid) for uid, stamp in likes])
    if changed:
        await delivery.push(rt, event.owner_id, [changed])


# A video's comments are told to the people they concern at most once a second, in one job:
# the job reads the comments since the last one read, as the like digest reads likes.
COMMENT_DIGEST = Coalescing(key=lambda event: event.video_id, seconds=1.0)


def comment_digest_mark(video_id: str) -> str:
    """The cache key holding the stamp of the newest comment the video's last run read, and
    the comments it told that the next run reads again."""
    return f"notifications:comment-digest:{video_id}"


def comment_recipients(comment: PostedComment, owner_id: str) -> dict[str, list[NotificationType]]:
    """Whom a comment concerns and, for each, the kinds of notification it may give them, most
    specific first: the user replied to, the video's owner, the users mentioned. Each person
    gets one notification, never one about their own comment."""
    kinds: dict[str, list[NotificationType]] = {}

    def may_tell(user_id: str | None, kind: NotificationType) -> None:
        if user_id and user_id != comment.author_id:
            kinds.setdefault(user_id, []).append(kind)

    may_tell(comment.reply_to_user_id, NotificationType.REPLY)
    may_tell(owner_id, NotificationType.COMMENT)
    for user_id in comment.mentioned_user_ids:
        may_tell(user_id, NotificationType.MENTION)
    return kinds


@event_handler(queue="notifications", coalesce=COMMENT_DIGEST)
async def notify_comment(rt: Runtime, event: CommentPosted) -> None:
    """Reply, comment and mention notifications of the video's comments since the last run:
    for each comment one per person, the most specific kind they have not turned off (an
    owner who is also mentioned hears 'commented'), and only to people who may see the video.
    A comment removed (or held for review) before this ran tells nobody. The overlap of the
    next run skips the comments this one told; should that record be lost, a comment read
    twice is still told once (`service.create_many`)."""
    since, done = await _read_mark(rt, comment_digest_mark(event.video_id))
    created: dict[str, list[str]] = {}
    # Read before writing, as the like digest does.
    async with rt.unit_of_work(write=False) as session:
        read = await repository.shown_comments_since(session, event.video_id, since)
    comments = [c for c in read if c.comment_id not in done]
    if comments:
        async with rt.unit_of_work() as session:
            created = await _tell_comments(session, event, comments)
    if read:
        await _write_mark(
            rt, comment_digest_mark(event.video_id), [(c.created_at, c.comment_id) for c in read]
        )
    for user_id, notification_ids in created.items():
        await delivery.push(rt, user_id, notification_ids)


async def _tell_comments(
    session: AsyncSession, event: CommentPosted, comments: list[PostedComment]
) -> dict[str, list[str]]:
    """Store the notifications of these comments: the ids stored, by the user they are for."""
    created: dict[str, list[str]] = {}
    concerned = {c.comment_id: comment_recipients(c, event.owner_id) for c in comments}
    turned_off = await service.disabled_types(
        session, {user_id for kinds in concerned.values() for user_id in kinds}
    )
    sees: dict[str, bool] = {}
    notes: list[NewNotification] = []
    for comment in comments:
        for user_id, kinds in concerned[comment.comment_id].items():
            kind = next((k for k in kinds if k.value not in turned_off[user_id]), None)
            if kind is None:
                continue
            if user_id not in sees:
                sees[user_id] = await _sees_video(session, user_id, event.video_id)
            if sees[user_id]:
                notes.append(
                    NewNotification(
                        user_id,
                        kind,
                        subject=comment.comment_id,
                        actor_id=comment.author_id,
                        video_id=event.video_id,
                        comment_id=comment.comment_id,
                    )
                )
    for note, notification_id in await service.create_many(
        session, notes, told_within=2 * DIGEST_LOOKBACK
    ):
        created.setdefault(note.user_id, []).append(notification_id)
    return created


async def _notify_creator(
    rt: Runtime, event: VideoProcessed | VideoFailed, kind: NotificationType
) -> None:
    """Tell a creator how processing of their video ended, if the video is still there."""
    async with rt.unit_of_work() as session:
        try:
            seen = await media.visible_video(session, media.Viewer(event.user_id), event.video_id)
        except NotFound:
            return  # deleted since
        data: dict[str, Any] = {}
        if isinstance(event, VideoFailed):
            # Rungs published before the failure keep playing; the creator should know.
            playable = seen.video.status == VideoStatus.READY.value
            data = {"error_code": event.error_code, "playable": playable}
        note = NewNotification(
            event.user_id, kind, event.video_id, video_id=event.video_id, data=data
        )
        notification_id = await service.create(session, note)
    if notification_id:
        await delivery.push(rt, event.user_id, [notification_id])


@event_handler(queue="notifications")
async def notify_video_ready(rt: Runtime, event: VideoProcessed) -> None:
    """The creator hears that their video plays."""
    await _notify_creator(rt, event, NotificationType.VIDEO_READY)


@event_handler(queue="notifications")
async def notify_video_failed(rt: Runtime, event: VideoFailed) -> None:
    """The creator hears that processing gave up, and whether what was made still plays."""
    await _notify_creator(rt, event, NotificationType.VIDEO_FAILED)


async def _announceable(rt: Runtime, session: AsyncSession, event: VideoProcessed) -> bool:
    """May the creator's followers be told of this video: one any follower may see and find in
    lists (so not unlisted), by a creator at most at the fan-out threshold?"""
    try:
        video = await media.video_for_owner(session, media.Viewer(event.user_id), event.video_id)
        owner = await accounts.get_user(session, event.user_id)
    except NotFound:
        return False  # deleted, or the creator deactivated, since
    return (
        owner.follower_count <= rt.settings.notify_new_post_max_followers
        and media.may_see(ANY_FOLLOWER, video, owner, AS_FOLLOWER)
        and can_view(
            ANY_FOLLOWER.user_id, owner.id, Audience(video.visibility), AS_FOLLOWER, listing=True
        )
    )


@event_handler(queue="notifications")
async def notify_new_post(rt: Runtime, event: VideoProcessed) -> None:
    """The creator's followers hear of the new video, batch by batch, each batch one
    INSERT ... SELECT in its own short transaction. Above the threshold nobody is told: their
    followers find the video in the following feed instead."""
    async with rt.unit_of_work(write=False) as session:
        if not await _announceable(rt, session, event):
            return
    after: str | None = ""
    while after is not None:
        async with rt.unit_of_work() as session:
            batch = await service.fan_out_new_post(
                session,
                event.user_id,
                event.video_id,
                after=after,
                size=rt.settings.notification_fan_out_batch,
            )
        await delivery.push_fan_out(rt, batch.created)
        after = batch.next_after
