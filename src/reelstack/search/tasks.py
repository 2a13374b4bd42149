"""Search jobs: (re)index one video, user or sound, drop a deleted video, record a query, and
a periodic refresh of rankings and hashtag counts (likes and views move them between edits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.accounts.models import User
from reelstack.db import utcnow
from reelstack.infra.jobs import job
from reelstack.media.models import Video
from reelstack.search import indexing, text
from reelstack.search.models import Hashtag, SearchDocument, SearchQuery, VideoHashtag
from reelstack.sounds import service as sounds

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

REFRESH_BATCH = 1000
DOCUMENTS = cast(Table, SearchDocument.__table__)
USER_VIDEOS_BATCH = 200


async def index_video(rt: Runtime, video_id: str) -> None:
    """Index a video as it is now; a video gone since is dropped from the index."""
    async with rt.unit_of_work() as session:
        row = (
            await session.execute(
                select(Video, User).join(User, User.id == Video.user_id).where(Video.id == video_id)
            )
        ).one_or_none()
        if row is None:
            await _drop_video(rt, session, video_id)
            return
        video, owner = row
        titles = await sounds.sound_titles(session, [video.sound_id] if video.sound_id else [])
        doc = indexing.video_doc(video, owner, titles.get(video.sound_id or ""))
        await indexing.write_doc(session, rt.search, doc)
        changed = await indexing.set_video_tags(
            session, video.id, text.hashtags_of(video.caption, video.hashtags)
        )
        await indexing.recount_hashtags(session, changed)


async def _drop_video(rt: Runtime, session: AsyncSession, video_id: str) -> None:
    await indexing.remove_doc(session, rt.search, indexing.VIDEO, video_id)
    changed = await indexing.set_video_tags(session, video_id, [])
    await indexing.recount_hashtags(session, changed)


async def remove_video(rt: Runtime, video_id: str) -> None:
    async with rt.unit_of_work() as session:
        if await session.get(Video, video_id) is not None:
            return  # not deleted after all (a stale event): nothing to drop
        await _drop_video(rt, session, video_id)


async def index_user(rt: Runtime, user_id: str) -> None:
    async with rt.unit_of_work() as session:
        user = await session.get(User, user_id)
        if user is None:
            await indexing.remove_doc(session, rt.search, indexing.USER, user_id)
            return
        await indexing.write_doc(session, rt.search, indexing.user_doc(user))


async def index_user_videos(rt: Runtime, user_id: str) -> None:
    """A creator's name changed: their videos are found by it, so index them again."""
    after = ""
    while True:
        async with rt.unit_of_work(write=False) as session:
            ids = list(
                await session.scalars(
                    select(Video.id)
                    .where(Video.user_id == user_id, Video.id > after)
                    .order_by(Video.id)
                    .limit(USER_VIDEOS_BATCH)
                )
            )
        for video_id in ids:
            await index_video(rt, video_id)
        if len(ids) < USER_VIDEOS_BATCH:
            return
        after = ids[-1]


async def index_sound(rt: Runtime, sound_id: str) -> None:
    async with rt.unit_of_work() as session:
        found = await sounds.sound_doc(session, sound_id)
        if found is None:
            await indexing.remove_doc(session, rt.search, indexing.SOUND, sound_id)
            return
        doc = indexing.sound_doc(
            found.id, found.title, found.creator_username, found.creator_display_name,
            found.usage_count, found.created_at,
        )  # fmt: skip
        await indexing.write_doc(session, rt.search, doc)


@job("search.record_query", queue="default", retries=1)
async def record_query(rt: Runtime, query: str) -> None:
    """Count a query that found something; popular ones are offered as suggestions."""
    async with rt.unit_of_work() as session:
        stmt = indexing.insert_for(session, SearchQuery).values(
            query=query, count=1, last_searched_at=utcnow()
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["query"],
                set_={"count": SearchQuery.count + 1, "last_searched_at": utcnow()},
            )
        )


async def _refresh_kind(rt: Runtime, kind: str, model: Any, rank: Callable[[Any], float]) -> None:
    after = 0
    while True:
        async with rt.unit_of_work() as session:
            rows = (
                await session.execute(
                    select(SearchDocument.id, SearchDocument.rank_key, model)
                    .join(model, model.id == SearchDocument.ref_id)
                    .where(SearchDocument.kind == kind, SearchDocument.id > after)
                    .order_by(SearchDocument.id)
                    .limit(REFRESH_BATCH)
                )
            ).all()
            changed = [
                {"doc_id": doc_id, "key": key}
                for doc_id, stored, row in rows
                if abs((key := rank(row)) - stored) > 1e-9
            ]
            if changed:  # most rows gained nothing since the last pass: leave them be
                await session.execute(
                    update(DOCUMENTS)
                    .where(DOCUMENTS.c.id == bindparam("doc_id"))
                    .values(rank_key=bindparam("key")),
                    changed,
                )
        if len(rows) < REFRESH_BATCH:
            return
        after = rows[-1][0]


@job("search.refresh_rankings", queue="maintenance", every_minutes=15)
async def refresh_rankings(rt: Runtime) -> None:
    """Rank keys of video and user documents and every hashtag's counts, from the rows."""
    await _refresh_kind(rt, indexing.VIDEO, Video, indexing.video_rank)
    await _refresh_kind(rt, indexing.USER, User, indexing.user_rank)
    async with rt.unit_of_work() as session:
        tags = list(await session.scalars(select(Hashtag.tag)))
        tags += list(await session.scalars(select(func.distinct(VideoHashtag.tag))))
        for start in range(0, len(tags), REFRESH_BATCH):
            await indexing.recount_hashtags(session, tags[start : start + REFRESH_BATCH])
