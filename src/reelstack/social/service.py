"""Follow graph and blocks. Counters move in the same transaction as the rows they count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts import service as accounts
from reelstack.accounts.models import User
from reelstack.accounts.schemas import UpdateMeRequest
from reelstack.db import BOUNDED, UTCDateTime, fetch_bounded, insert_ignoring_conflicts, utcnow
from reelstack.errors import Conflict, Forbidden, NotFound, Unprocessable
from reelstack.events import FollowRequested, ProfileUpdated, UserFollowed
from reelstack.infra.events import publish
from reelstack.infra.ids import new_id
from reelstack.infra.pagination import Keyset, next_cursor
from reelstack.social.models import Block, Follow, FollowRequest
from reelstack.social.visibility import NO_RELATIONSHIP, Audience, Relationship, can_view


@dataclass(frozen=True)
class FollowState:
    is_following: bool
    follow_requested: bool
    follower_count: int


def _relations_query() -> Any:
    """Every edge between the viewer and a list of users, each tagged with what it means for
    the viewer: one statement (built once), each branch a primary- or unique-key lookup per id."""
    viewer: Any = bindparam("viewer")
    ids: Any = bindparam("ids", expanding=True)
    return union_all(
        select(literal("following", String), Follow.followee_id).where(
            Follow.follower_id == viewer, Follow.followee_id.in_(ids)
        ),
        select(literal("followed_by", String), Follow.follower_id).where(
            Follow.follower_id.in_(ids), Follow.followee_id == viewer
        ),
        select(literal("blocking", String), Block.blocked_id).where(
            Block.blocker_id == viewer, Block.blocked_id.in_(ids)
        ),
        select(literal("blocked_by", String), Block.blocker_id).where(
            Block.blocker_id.in_(ids), Block.blocked_id == viewer
        ),
        select(literal("requested", String), FollowRequest.target_id).where(
            FollowRequest.requester_id == viewer, FollowRequest.target_id.in_(ids)
        ),
    )


RELATIONS = _relations_query()
# A page's worth of users runs inline (`db.BOUNDED`); a list build's ~1,000 candidates' owners
# do not: their cost grows with the list.
RELATIONS_OF_A_PAGE = RELATIONS.execution_options(**BOUNDED)
BOUNDED_IDS = 100


async def relationships(
    session: AsyncSession, viewer_id: str | None, other_ids: list[str]
) -> dict[str, Relationship]:
    """The viewer's relationship to each user, in one query whatever the list's length."""
    if viewer_id is None or not other_ids:
        return {uid: NO_RELATIONSHIP for uid in other_ids}
    edges: dict[str, set[str]] = {
        kind: set() for kind in ("following", "followed_by", "blocking", "blocked_by", "requested")
    }
    ids = list(set(other_ids))
    params = {"viewer": viewer_id, "ids": ids}
    if len(ids) <= BOUNDED_IDS:
        rows: Any = await fetch_bounded(session, RELATIONS_OF_A_PAGE, params)
    else:
        rows = await session.execute(RELATIONS, params)
    for kind, other in rows:
        edges[kind].add(other)
    return {
        uid: Relationship(
            is_following=uid in edges["following"],
            is_followed_by=uid in edges["followed_by"],
            follow_requested=uid in edges["requested"],
            is_blocking=uid in edges["blocking"],
            is_blocked_by=uid in edges["blocked_by"],
        )
        for uid in other_ids
    }


async def relationship(session: AsyncSession, viewer_id: str | None, other_id: str) -> Relationship:
    return (await relationships(session, viewer_id, [other_id]))[other_id]


RELATION_FLAGS = (
    "is_following",
    "is_followed_by",
    "follow_requested",
    "is_blocking",
    "is_blocked_by",
)


def relationship_columns(viewer_id: Any, other_id: Any) -> list[Any]:
    """The viewer's relationship to the user in column `other_id`, as labelled EXISTS columns to
    add to another query: one round trip instead of three when a page needs one owner.
    `viewer_id` may be a bind parameter, so the statement can be built once."""
    if viewer_id is None:
        return [literal(False).label(flag) for flag in RELATION_FLAGS]
    return [
        exists()
        .where(Follow.follower_id == viewer_id, Follow.followee_id == other_id)
        .label("is_following"),
        exists()
        .where(Follow.follower_id == other_id, Follow.followee_id == viewer_id)
        .label("is_followed_by"),
        exists()
        .where(FollowRequest.requester_id == viewer_id, FollowRequest.target_id == other_id)
        .label("follow_requested"),
        exists()
        .where(Block.blocker_id == viewer_id, Block.blocked_id == other_id)
        .label("is_blocking"),
        exists()
        .where(Block.blocker_id == other_id, Block.blocked_id == viewer_id)
        .label("is_blocked_by"),
    ]


# What `can_view` and a listing read of a relationship: whether the viewer follows the other
# user, and blocks in either direction.
GATE_FLAGS = ("is_following", "is_blocking", "is_blocked_by")


def gate_columns(viewer_id: Any, other_id: Any) -> list[Any]:
    """`relationship_columns` for the `GATE_FLAGS` only, in that order: a feed page asks them
    for each of ~24 candidates, and the other two flags were two more index probes each."""
    columns = {column.name: column for column in relationship_columns(viewer_id, other_id)}
    return [columns[flag] for flag in GATE_FLAGS]


def relationship_from_row(row: Any) -> Relationship:
    """The Relationship read back from a row selected with `relationship_columns`."""
    return Relationship(**{flag: bool(getattr(row, flag)) for flag in RELATION_FLAGS})


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


async def _lock_pair(session: AsyncSession, a: str, b: str) -> None:
    """Serialise every graph change between two users. Without it, on PostgreSQL a follow could
    commit past a concurrent block, and two users following each other at once deadlock."""
    await accounts.lock_users(session, [a, b])


async def _add_follow(session: AsyncSession, follower_id: str, followee_id: str) -> bool:
    """Insert the follow unless it exists; both sides' counts move only if it was inserted."""
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


async def _locked_visible_user(
    session: AsyncSession, viewer_id: str, ref: str
) -> tuple[User, Relationship]:
    """`visible_user` read under the pair's lock, so the answer holds until commit."""
    target = await accounts.find_user(session, ref)
    await _lock_pair(session, viewer_id, target.id)
    return await visible_user(session, viewer_id, target.id)


async def follow(session: AsyncSession, viewer_id: str, ref: str) -> FollowState:
    """Follow a user; for a private account, ask to. Doing it twice changes nothing."""
    target, relation = await _locked_visible_user(session, viewer_id, ref)
    if target.id == viewer_id:
        raise Unprocessable("You cannot follow yourself.", code="cannot_follow_self")
    if relation.is_blocking:
        raise Conflict("You block this user; unblock them first.", code="user_blocked")
    following = relation.is_following or not target.is_private
    if not relation.is_following:
        if target.is_private:
            request_id = new_id()
            inserted = await session.execute(
                insert_ignoring_conflicts(session, FollowRequest.__table__)
                .values(
                    id=request_id,
                    requester_id=viewer_id,
                    target_id=target.id,
                    created_at=utcnow(),
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
        else:
            await _add_follow(session, viewer_id, target.id)
    return FollowState(following, not following, await accounts.follower_count(session, target.id))


async def unfollow(session: AsyncSession, viewer_id: str, ref: str) -> FollowState:
    """Stop following, or withdraw a pending request. Doing it twice changes nothing."""
    target, _ = await _locked_visible_user(session, viewer_id, ref)
    await _remove_follow(session, viewer_id, target.id)
    await session.execute(
        delete(FollowRequest).where(
            FollowRequest.requester_id == viewer_id, FollowRequest.target_id == target.id
        )
    )
    return FollowState(False, False, await accounts.follower_count(session, target.id))


async def approve_request(session: AsyncSession, viewer_id: str, request_id: str) -> None:
    request = await session.get(FollowRequest, request_id)
    if request is None or request.target_id != viewer_id:
        raise NotFound("No such follow request.", code="follow_request_not_found")
    await _lock_pair(session, request.requester_id, viewer_id)
    # Delete first: of two concurrent approvals only the one that removed the row goes on.
    removed = await session.execute(
        delete(FollowRequest).where(FollowRequest.id == request_id).returning(FollowRequest.id)
    )
    if removed.first() is not None:
        await _add_follow(session, request.requester_id, viewer_id)


async def decline_request(session: AsyncSession, viewer_id: str, request_id: str) -> None:
    removed = await session.execute(
        delete(FollowRequest)
        .where(FollowRequest.id == request_id, FollowRequest.target_id == viewer_id)
        .returning(FollowRequest.id)
    )
    if removed.first() is None:
        raise NotFound("No such follow request.", code="follow_request_not_found")


def _waiting_for(user_id: str) -> Select[str]:
    return select(FollowRequest.requester_id).where(FollowRequest.target_id == user_id)


async def update_profile(session: AsyncSession, user_id: str, data: UpdateMeRequest) -> User:
    """A profile edit. An account that turns public lets everyone who asked in, as people
    expect; the owner and every requester are locked first, in id order, before any row is
    written, so a requester's concurrent follow or block cannot close a lock cycle."""
    if data.is_private is False:
        await accounts.lock_users(session, [user_id], also=_waiting_for(user_id))
    user, became_public = await accounts.update_me(session, user_id, data)
    if became_public:
        await _approve_all_requests(session, user_id)
        await session.refresh(user)
    publish(session, ProfileUpdated(user_id=user_id))
    return user


async def _approve_all_requests(session: AsyncSession, user_id: str) -> int:
    """Every waiting request becomes a follow, done inside the database: one insert-select,
    one delete, and counter updates, however many were waiting."""
    blocked_either_way = exists().where(
        or_(
            and_(Block.blocker_id == user_id, Block.blocked_id == FollowRequest.requester_id),
            and_(Block.blocker_id == FollowRequest.requester_id, Block.blocked_id == user_id),
        )
    )
    waiting = select(
        FollowRequest.requester_id, FollowRequest.target_id, literal(utcnow(), UTCDateTime())
    ).where(FollowRequest.target_id == user_id, ~blocked_either_way)
    inserted = await session.execute(
        insert_ignoring_conflicts(session, Follow.__table__)
        .from_select(["follower_id", "followee_id", "created_at"], waiting)
        .returning(Follow.__table__.c.follower_id)
    )
    new_followers = list(inserted.scalars())
    await session.execute(delete(FollowRequest).where(FollowRequest.target_id == user_id))
    if new_followers:
        await accounts.adjust_counts(session, user_id, followers=len(new_followers))
        await accounts.adjust_counts_of(session, new_followers, following=1)
        for follower_id in new_followers:
            publish(session, UserFollowed(follower_id=follower_id, followee_id=user_id))
    return len(new_followers)


async def block(session: AsyncSession, viewer_id: str, ref: str) -> None:
    """Block a user: follows both ways and pending requests go, and they can no longer follow,
    see or comment on anything of the viewer's."""
    target = await accounts.find_user(session, ref)
    if target.id == viewer_id:
        raise Unprocessable("You cannot block yourself.", code="cannot_block_self")
    await _lock_pair(session, viewer_id, target.id)
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

    @property
    def position(self) -> tuple[datetime, str]:
        return self.created_at, self.request_id or self.user_id


@dataclass(frozen=True)
class EdgePage:
    edges: list[Edge]
    next_cursor: str | None


def _edge_page(rows: list[Edge], limit: int) -> EdgePage:
    edges, cursor = next_cursor(rows, limit, lambda edge: edge.position)
    return EdgePage(edges, cursor)


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
    mine, other = (
        (Follow.followee_id, Follow.follower_id)
        if followers
        else (Follow.follower_id, Follow.followee_id)
    )
    query = Keyset(Follow.created_at, other).apply(
        select(other, Follow.created_at).where(mine == owner.id), cursor, limit
    )
    rows = (await session.execute(query)).all()
    return _edge_page([Edge(uid, created) for uid, created in rows], limit)


async def incoming_requests(
    session: AsyncSession, viewer_id: str, *, cursor: str | None, limit: int
) -> EdgePage:
    query = Keyset(FollowRequest.created_at, FollowRequest.id).apply(
        select(FollowRequest).where(FollowRequest.target_id == viewer_id), cursor, limit
    )
    rows = await session.scalars(query)
    return _edge_page([Edge(r.requester_id, r.created_at, r.id) for r in rows], limit)


async def blocked_users(
    session: AsyncSession, viewer_id: str, *, cursor: str | None, limit: int
) -> EdgePage:
    query = Keyset(Block.created_at, Block.blocked_id).apply(
        select(Block.blocked_id, Block.created_at).where(Block.blocker_id == viewer_id),
        cursor,
        limit,
    )
    rows = (await session.execute(query)).all()
    return _edge_page([Edge(uid, created) for uid, created in rows], limit)


RECOUNT_BATCH = 1000


async def _count_by(session: AsyncSession, column: Any, ids: list[str]) -> dict[str, int]:
    """How many follow rows each of `ids` has in `column`."""
    rows = await session.execute(
        select(column, func.count()).where(column.in_(ids)).group_by(column)
    )
    return {uid: count for uid, count in rows}


async def recount_follow_counts(
    session: AsyncSession, *, after_id: str = "", batch: int = RECOUNT_BATCH
) -> tuple[int, str | None]:
    """Recompute one batch of users' follow counts from the rows and repair any drift.
    Returns how many were wrong and where the next batch starts (None when done)."""
    stored = await accounts.follow_counts_page(session, after_id, batch)
    if not stored:
        return 0, None
    ids = list(stored)
    followers = await _count_by(session, Follow.followee_id, ids)
    following = await _count_by(session, Follow.follower_id, ids)
    drifted = {
        uid: (followers.get(uid, 0), following.get(uid, 0))
        for uid, counts in stored.items()
        if counts != (followers.get(uid, 0), following.get(uid, 0))
    }
    repaired = await accounts.repair_follow_counts(session, stored, drifted)
    return repaired, (ids[-1] if len(ids) == batch else None)


async def hydrate(
    session: AsyncSession, viewer_id: str | None, page: EdgePage, *, hide_blockers: bool = True
) -> list[tuple[Edge, User, Relationship]]:
    """The users of a page with the viewer's relationship to each, in a fixed number of queries.
    Users who block the viewer are left out, except from the viewer's own block list."""
    ids = [edge.user_id for edge in page.edges]
    users = await accounts.get_users(session, ids)
    relations = await relationships(session, viewer_id, ids)
    return [
        (edge, users[edge.user_id], relations[edge.user_id])
        for edge in page.edges
        if edge.user_id in users and not (hide_blockers and relations[edge.user_id].is_blocked_by)
    ]
