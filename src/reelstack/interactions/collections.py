"""Named collections of saved videos: private to their owner, sizes kept exact.

Every change to a user's collections takes `service.lock_saver` first, so two changes of one
collection never interleave: a membership and its `video_count` move together, exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from reelstack.db import insert_ignoring_conflicts, utcnow
from reelstack.errors import Conflict, NotFound
from reelstack.infra.counters import Counters
from reelstack.infra.pagination import Keyset, PageParams, next_cursor
from reelstack.interactions import service
from reelstack.interactions.models import Collection, CollectionVideo
from reelstack.media import service as media
from reelstack.media.models import Video

log = logging.getLogger(__name__)
REPAIR_BATCH = 500


@dataclass(frozen=True)
class CollectionList:
    collections: list[Collection]
    next_cursor: str | None


@dataclass(frozen=True)
class Membership:
    """Where a video stands in a collection after a change."""

    collection: Collection
    video_id: str
    in_collection: bool
    saved: bool
    save_count: int


async def owned_collection(session: AsyncSession, user_id: str, collection_id: str) -> Collection:
    """A collection of the user's; anyone else's is answered as if it did not exist."""
    collection = await session.scalar(
        select(Collection)
        .where(Collection.id == collection_id, Collection.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if collection is None:
        raise NotFound("No such collection.", code="collection_not_found")
    return collection


async def _refuse_taken_name(
    session: AsyncSession, user_id: str, name: str, *, other_than: str | None = None
) -> None:
    query = select(Collection.id).where(
        Collection.user_id == user_id, func.lower(Collection.name) == name.lower()
    )
    if other_than is not None:
        query = query.where(Collection.id != other_than)
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict(f"You already have a collection named {name!r}.", code="collection_exists")


async def create_collection(session: AsyncSession, user_id: str, name: str) -> Collection:
    """A new, empty collection; names are unique per user, ignoring case."""
    await service.lock_saver(session, user_id)
    await _refuse_taken_name(session, user_id, name)
    now = utcnow()
    collection = Collection(
        user_id=user_id, name=name, video_count=0, created_at=now, updated_at=now
    )
    session.add(collection)
    await session.flush()
    return collection


async def rename_collection(
    session: AsyncSession, user_id: str, collection_id: str, name: str
) -> Collection:
    await service.lock_saver(session, user_id)
    collection = await owned_collection(session, user_id, collection_id)
    if collection.name != name:
        await _refuse_taken_name(session, user_id, name, other_than=collection.id)
        collection.name = name
        collection.updated_at = utcnow()
        await session.flush()
    return collection


async def delete_collection(session: AsyncSession, user_id: str, collection_id: str) -> None:
    """The collection goes; its videos stay saved."""
    await service.lock_saver(session, user_id)
    collection = await owned_collection(session, user_id, collection_id)
    await session.delete(collection)
    await session.flush()


async def my_collections(session: AsyncSession, user_id: str, page: PageParams) -> CollectionList:
    """The user's collections, newest first."""
    query = Keyset(Collection.created_at, Collection.id).apply(
        select(Collection).where(Collection.user_id == user_id), page.cursor, page.size
    )
    rows = list(await session.scalars(query))
    collections, cursor = next_cursor(rows, page.size, lambda c: (c.created_at, c.id))
    return CollectionList(collections, cursor)


async def add_video(
    counters: Counters,
    session: AsyncSession,
    viewer: media.Viewer,
    collection_id: str,
    video_id: str,
) -> Membership:
    """Put a video in a collection, saving it if it was not saved; idempotent."""
    seen = await service.writable_video(session, viewer, video_id)
    user_id = service.signed_in(viewer)
    await service.lock_saver(session, user_id)
    collection = await owned_collection(session, user_id, collection_id)
    save_count = await service.ensure_saved(counters, session, user_id, seen.video)
    table = CollectionVideo.__table__
    inserted = await session.execute(
        insert_ignoring_conflicts(session, table)
        .values(collection_id=collection.id, video_id=video_id, added_at=utcnow())
        .returning(table.c.video_id)
    )
    if inserted.first() is not None:
        await _move_size(session, collection, 1)
    return Membership(collection, video_id, True, True, save_count)


async def remove_video(
    counters: Counters,
    session: AsyncSession,
    viewer: media.Viewer,
    collection_id: str,
    video_id: str,
) -> Membership:
    """Take a video out of a collection; it stays saved. Idempotent."""
    seen = await service.writable_video(session, viewer, video_id)
    user_id = service.signed_in(viewer)
    await service.lock_saver(session, user_id)
    collection = await owned_collection(session, user_id, collection_id)
    deleted = await session.execute(
        delete(CollectionVideo)
        .where(CollectionVideo.collection_id == collection.id, CollectionVideo.video_id == video_id)
        .returning(CollectionVideo.video_id)
    )
    if deleted.first() is not None:
        await _move_size(session, collection, -1)
    saved = await service.is_saved(session, user_id, video_id)
    save_count = await service.current_count(counters, seen.video, "save_count")
    return Membership(collection, video_id, False, saved, save_count)


async def _move_size(session: AsyncSession, collection: Collection, delta: int) -> None:
    """An atomic increment, its result set on the loaded collection without marking it changed."""
    now = utcnow()
    count = await session.scalar(
        update(Collection)
        .where(Collection.id == collection.id)
        .values(video_count=Collection.video_count + delta, updated_at=now)
        .returning(Collection.video_count)
    )
    set_committed_value(collection, "video_count", int(count or 0))
    set_committed_value(collection, "updated_at", now)


async def collection_videos(
    session: AsyncSession, viewer: media.Viewer, collection_id: str, page: PageParams
) -> service.VideoListPage:
    """The videos of one of the viewer's collections, most recently added first."""
    collection = await owned_collection(session, service.signed_in(viewer), collection_id)
    query = (
        select(Video, CollectionVideo.added_at, CollectionVideo.video_id)
        .join(CollectionVideo, CollectionVideo.video_id == Video.id)
        .where(CollectionVideo.collection_id == collection.id)
    )
    keyset = Keyset(CollectionVideo.added_at, CollectionVideo.video_id)
    return await service.visible_page(session, viewer, query, keyset, page)


# -- repair --------------------------------------------------------------------------------


async def drifted_collections(session: AsyncSession, after_id: str) -> tuple[list[str], str | None]:
    """One batch of collections whose size differs from their rows (a deleted video takes its
    memberships with it by cascade); and where the next batch starts (None when done)."""
    members = (
        select(func.count())
        .where(CollectionVideo.collection_id == Collection.id)
        .correlate(Collection)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Collection.id, Collection.video_count, members)
            .where(Collection.id > after_id)
            .order_by(Collection.id)
            .limit(REPAIR_BATCH)
        )
    ).all()
    drifted = [cid for cid, stored, counted in rows if stored != counted]
    return drifted, (rows[-1][0] if len(rows) == REPAIR_BATCH else None)


async def recount_collection(session: AsyncSession, collection_id: str) -> bool:
    """Set one collection's size from its rows, under its owner's lock; True if it was wrong."""
    owner_id = await session.scalar(
        select(Collection.user_id).where(Collection.id == collection_id)
    )
    if owner_id is None:
        return False
    await service.lock_saver(session, owner_id)
    counted = (
        select(func.count()).where(CollectionVideo.collection_id == collection_id).scalar_subquery()
    )
    fixed = await session.execute(
        update(Collection)
        .where(Collection.id == collection_id, Collection.video_count != counted)
        .values(video_count=counted)
        .returning(Collection.id)
    )
    if fixed.first() is None:
        return False
    log.info("recounted the size of collection %s", collection_id)
    return True
