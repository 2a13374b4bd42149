"""Follow graph and blocks. Counters move in the same transaction as the rows they count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.db import insert_ignoring_conflicts, utcnow
from reelstack.errors import Conflict, Forbidden, NotFound, Unprocessable
from reelstack.events import FollowRequested, UserFollowed
from reelstack.infra.events import publish
from reelstack.infra.ids import new_id
from reelstack.infra.pagination import decode_cursor, encode_cursor
from reelstack.social.models import Block, Follow, FollowRequest
from reelstack.social.visibility import NO_RELATIONSHIP, Audience, Relationship, can_view


@dataclass(frozen=True)
class FollowState:
    is_following: bool
    follow_requested: bool
    follower_count: int


async def relationships(
    session: AsyncSession, viewer_id: str | None, other_ids: list[str]
) -> dict[str, Relationship]:
    """The viewer's relationship to each user, in three queries whatever the list's length."""
    if viewer_id is None or not other_ids:
        return {uid: NO_RELATIONSHIP for uid in other_ids}
    ids = list(set(other_ids))
    follows = (
        await session.execute(
            select(Follow.follower_id, Follow.followee_id).where(
                or_(
                    and_(Follow.follower_id == viewer_id, Follow.followee_id.in_(ids)),
                    and_(Follow.followee_id == viewer_id, Follow.follower_id.in_(ids)),
                )
            )
        )
    ).all()
    blocks = (
        await session.execute(
            select(Block.blocker_id, Block.blocked_id).where(
                or_(
                    and_(Block.blocker_id == viewer_id, Block.blocked_id.in_(ids)),
                    and_(Block.blocked_id == viewer_id, Block.blocker_id.in_(ids)),
                )
            )
        )
    ).all()
    requested = set(
        await session.scalars(
            select(FollowRequest.target_id).where(
                FollowRequest.requester_id == viewer_id, FollowRequest.target_id.in_(ids)
            )
        )
    )
    following = {b for a, b in follows if a == viewer_id}
    followed_by = {a for a, b in follows if b == viewer_id}
    blocking = {b for a, b in blocks if a == viewer_id}
    blocked_by = {a for a, b in blocks if b == viewer_id}
    return {
        uid: Relationship(
            is_following=uid in following,
            is_followed_by=uid in followed_by,
            follow_requested=uid in requested,
            is_blocking=uid in blocking,
            is_blocked_by=uid in blocked_by,
        )
        for uid in other_ids
    }


async def relationship(session: AsyncSession, viewer_id: str | None, other_id: str) -> Relationship:
    return (await relationships(session, viewer_id, [other_id]))[other_id]


async def visible_user(
    session: AsyncSession, viewer_id: str | None, ref: str
) -> tuple[User, Relationship]:
    """The user `ref` names, as the viewer may see them; someone who blocks the viewer is
    answered exactly like someone who does not exist."""
    user = await accounts.find_user(session, ref)
    relation = await relationship(session, viewer_id, user.id)
    if not can_view(viewer_id, user.id, Audience.PUBLIC, relation):
        raise NotFound("No such user.", code="user_not_found")
    return user, relation


async def _add_follow(session: AsyncSession, follower_id: str, followee_id: str) -> bool:
    inserted = await session.execute(
        insert_ignoring_conflicts(session, Follow.__table__)
        .values(follower_id=follower_id, followee_id=followee_id, created_at=utcnow())
        .returning(Follow.__table__.c.follower_id)
    )
    if inserted.first() is None:
        return False
    await accounts.adjust_counts(session, followee_id, followers=1)
    await accounts.adjust_counts(session, follower_id, following=1)
    publish(session, UserFollowed(follower_id=follower_id, followee_id=followee_id))
    return True


async def _remove_follow(session: AsyncSession, follower_id: str, followee_id: str) -> bool:
    deleted = await session.execute(
        delete(Follow)
        .where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
        .returning(Follow.follower_id)
    )
    if deleted.first() is None:
        return False
    await accounts.adjust_counts(session, followee_id, followers=-1)
    await accounts.adjust_counts(session, follower_id, following=-1)
    return True


async def follow(session: AsyncSession, viewer_id: str, ref: str) -> FollowState:
    """Follow a user; for a private account, ask to. Doing it twice changes nothing."""
    target, relation = await visible_user(session, viewer_id, ref)
    if target.id == viewer_id:
        raise Unprocessable("You cannot follow yourself.", code="cannot_follow_self")
    if relation.is_blocking:
        raise Conflict("You block this user; unblock them first.", code="user_blocked")
    requested = relation.follow_requested
    if not relation.is_following:
        if target.is_private:
            request_id = new_id()
            inserted = await session.execute(
                insert_ignoring_conflicts(session, FollowRequest.__table__)
                .values(
                    id=request_id, requester_id=viewer_id, target_id=target.id, created_at=utcnow()
                )
                .returning(FollowRequest.__table__.c.id)
            )
            if inserted.first() is not None:
                publish(
                    session,
                    FollowRequested(
                        request_id=request_id, requester_id=viewer_id, target_id=target.id
                    ),
                )
            requested = True
        else:
            await _add_follow(session, viewer_id, target.id)
    following = relation.is_following or not target.is_private
    return FollowState(
        following, requested and not following, await accounts.follower_count(session, target.id)
    )


async def unfollow(session: AsyncSession, viewer_id: str, ref: str) -> FollowState:
    """Stop following, or withdraw a pending request. Doing it twice changes nothing."""
    target, _ = await visible_user(session, viewer_id, ref)
    await _remove_follow(session, viewer_id, target.id)
    await session.execute(
        delete(FollowRequest).where(
            FollowRequest.requester_id == viewer_id, FollowRequest.target_id == target.id
        )
    )
    return FollowState(False, False, await accounts.follower_count(session, target.id))


async def _pending_request(session: AsyncSession, viewer_id: str, request_id: str) -> FollowRequest:
    request = await session.get(FollowRequest, request_id)
    if request is None or request.target_id != viewer_id:
        raise NotFound("No such follow request.", code="follow_request_not_found")
    return request


async def approve_request(session: AsyncSession, viewer_id: str, request_id: str) -> None:
    request = await _pending_request(session, viewer_id, request_id)
    await session.delete(request)
    await _add_follow(session, request.requester_id, viewer_id)


async def decline_request(session: AsyncSession, viewer_id: str, request_id: str) -> None:
    await session.delete(await _pending_request(session, viewer_id, request_id))


async def approve_all_requests(session: AsyncSession, user_id: str) -> int:
    """An account that turns public lets everyone who asked in, as people expect."""
    requests = list(
        await session.scalars(select(FollowRequest).where(FollowRequest.target_id == user_id))
    )
    for request in requests:
        await session.delete(request)
        await _add_follow(session, request.requester_id, user_id)
    return len(requests)


async def block(session: AsyncSession, viewer_id: str, ref: str) -> None:
    """Block a user: follows both ways and pending requests go, and they can no longer follow,
    see or comment on anything of the viewer's."""
    target = await accounts.find_user(session, ref)
    if target.id == viewer_id:
        raise Unprocessable("You cannot block yourself.", code="cannot_block_self")
    await session.execute(
        insert_ignoring_conflicts(session, Block.__table__).values(
            blocker_id=viewer_id, blocked_id=target.id, created_at=utcnow()
        )
    )
    await _remove_follow(session, viewer_id, target.id)
    await _remove_follow(session, target.id, viewer_id)
    await session.execute(
        delete(FollowRequest).where(
            or_(
                and_(FollowRequest.requester_id == viewer_id, FollowRequest.target_id == target.id),
                and_(FollowRequest.requester_id == target.id, FollowRequest.target_id == viewer_id),
            )
        )
    )


async def unblock(session: AsyncSession, viewer_id: str, ref: str) -> None:
    target = await accounts.find_user(session, ref)
    await session.execute(
        delete(Block).where(Block.blocker_id == viewer_id, Block.blocked_id == target.id)
    )


@dataclass(frozen=True)
class Edge:
    """One entry of a follower, following, request or block list."""

    user_id: str
    created_at: datetime
    request_id: str | None = None


@dataclass(frozen=True)
class EdgePage:
    edges: list[Edge]
    next_cursor: str | None


def _page(rows: list[Edge], limit: int) -> EdgePage:
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = (
        encode_cursor(
            {"t": rows[-1].created_at.isoformat(), "id": rows[-1].request_id or rows[-1].user_id}
        )
        if more and rows
        else None
    )
    return EdgePage(rows, cursor)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    position = decode_cursor(cursor, "t", "id")
    if position is None:
        return None
    try:
        return datetime.fromisoformat(position["t"]), position["id"]
    except ValueError:
        raise Unprocessable(
            "The cursor is not one this list gave out.", code="invalid_cursor"
        ) from None


async def follow_list(
    session: AsyncSession,
    viewer_id: str | None,
    ref: str,
    *,
    followers: bool,
    cursor: str | None,
    limit: int,
) -> EdgePage:
    """Followers (or followings) of a user, newest first, if the viewer may see them."""
    owner, relation = await visible_user(session, viewer_id, ref)
    audience = Audience.FOLLOWERS if owner.is_private else Audience.PUBLIC
    if not can_view(viewer_id, owner.id, audience, relation):
        raise Forbidden("This account is private.", code="private_account")
    me, other = (
        (Follow.followee_id, Follow.follower_id)
        if followers
        else (Follow.follower_id, Follow.followee_id)
    )
    query = select(other, Follow.created_at).where(me == owner.id)
    after = _after(cursor)
    if after is not None:
        query = query.where(tuple_(Follow.created_at, other) < tuple_(*after))
    rows = (
        await session.execute(
            query.order_by(Follow.created_at.desc(), other.desc()).limit(limit + 1)
        )
    ).all()
    return _page([Edge(uid, created) for uid, created in rows], limit)


async def incoming_requests(
    session: AsyncSession, viewer_id: str, *, cursor: str | None, limit: int
) -> EdgePage:
    query = select(FollowRequest).where(FollowRequest.target_id == viewer_id)
    after = _after(cursor)
    if after is not None:
        query = query.where(tuple_(FollowRequest.created_at, FollowRequest.id) < tuple_(*after))
    rows = await session.scalars(
        query.order_by(FollowRequest.created_at.desc(), FollowRequest.id.desc()).limit(limit + 1)
    )
    return _page([Edge(r.requester_id, r.created_at, r.id) for r in rows], limit)


async def blocked_users(
    session: AsyncSession, viewer_id: str, *, cursor: str | None, limit: int
) -> EdgePage:
    query = select(Block.blocked_id, Block.created_at).where(Block.blocker_id == viewer_id)
    after = _after(cursor)
    if after is not None:
        query = query.where(tuple_(Block.created_at, Block.blocked_id) < tuple_(*after))
    rows = (
        await session.execute(
            query.order_by(Block.created_at.desc(), Block.blocked_id.desc()).limit(limit + 1)
        )
    ).all()
    return _page([Edge(uid, created) for uid, created in rows], limit)


RECOUNT_BATCH = 1000


async def recount_follow_counts(
    session: AsyncSession, *, after_id: str = "", batch: int = RECOUNT_BATCH
) -> tuple[int, str | None]:
    """Recompute one batch of users' follow counts from the rows and repair any drift.
    Returns how many were wrong and where the next batch starts (None when done)."""
    stored = await accounts.follow_counts_page(session, after_id, batch)
    if not stored:
        return 0, None
    ids = list(stored)
    followers = dict(
        (
            await session.execute(
                select(Follow.followee_id, func.count())
                .where(Follow.followee_id.in_(ids))
                .group_by(Follow.followee_id)
            )
        ).all()
    )
    following = dict(
        (
            await session.execute(
                select(Follow.follower_id, func.count())
                .where(Follow.follower_id.in_(ids))
                .group_by(Follow.follower_id)
            )
        ).all()
    )
    drifted = {
        uid: (followers.get(uid, 0), following.get(uid, 0))
        for uid, counts in stored.items()
        if counts != (followers.get(uid, 0), following.get(uid, 0))
    }
    await accounts.set_follow_counts(session, drifted)
    return len(drifted), (ids[-1] if len(ids) == batch else None)


async def hydrate(
    session: AsyncSession, viewer_id: str | None, page: EdgePage
) -> list[tuple[Edge, User, Relationship]]:
    """The users of a page with the viewer's relationship to each, in a fixed number of queries.
    Users who block the viewer are left out."""
    ids = [edge.user_id for edge in page.edges]
    users = await accounts.get_users(session, ids)
    relations = await relationships(session, viewer_id, ids)
    return [
        (edge, users[edge.user_id], relations[edge.user_id])
        for edge in page.edges
        if edge.user_id in users and not relations[edge.user_id].is_blocked_by
    ]
