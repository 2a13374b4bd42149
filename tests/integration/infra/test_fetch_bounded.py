"""`db.fetch_bounded`: a statement built once runs in the session's transaction and answers
what `session.execute` would, on both deployments (on SQLite straight on the connection)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, RootTransaction
from sqlalchemy.exc import CompileError, IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from reelstack.accounts.models import User
from reelstack.db import BOUNDED, fetch_bounded
from reelstack.interactions.models import VideoLike
from reelstack.media.models import Video
from reelstack.runtime import Runtime
from tests.factories import make_user, make_video

VIDEO_ROW = (
    select(
        Video.id,
        Video.allow_comments,
        Video.hidden_by_moderation,
        Video.like_count,
        Video.hashtags,
        Video.created_at,
        User.username.label("owner_name"),
    )
    .join(User, User.id == Video.user_id)
    .where(Video.id == bindparam("video_id"))
    .execution_options(**BOUNDED)
)
MOVE_LIKES = (
    update(Video)
    .where(Video.id == bindparam("row_id"))
    .values(like_count=Video.like_count + bindparam("delta"))
    .returning(Video.like_count, Video.updated_at)
    .execution_options(**BOUNDED)
)
LIKE = (
    insert(VideoLike)
    .values(user_id=bindparam("user_id"), video_id=bindparam("video_id"))
    .execution_options(**BOUNDED)
)


async def test_rows_have_the_statements_names_and_types(runtime: Runtime) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner, allow_comments=False)
    async with runtime.unit_of_work() as session:
        await session.execute(update(Video).where(Video.id == video_id).values(hashtags=["cats"]))
        expected = (await session.execute(VIDEO_ROW, {"video_id": video_id})).one()
        (row,) = await fetch_bounded(session, VIDEO_ROW, {"video_id": video_id})
        missing = await fetch_bounded(session, VIDEO_ROW, {"video_id": "0" * 26})
    assert tuple(row) == tuple(expected)
    assert row.allow_comments is False and row.hidden_by_moderation is False
    assert row.hashtags == ["cats"] and row.owner_name == owner.username
    assert row.created_at.tzinfo is not None
    assert missing == []


async def test_a_write_fills_python_side_defaults_and_commits_with_the_session(
    runtime: Runtime,
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    async with runtime.unit_of_work() as session:
        before = await session.scalar(select(Video.updated_at).where(Video.id == video_id))
    assert before is not None
    async with runtime.unit_of_work() as session:
        (moved,) = await fetch_bounded(session, MOVE_LIKES, {"row_id": video_id, "delta": 3})
        # An ORM object added before a bounded statement is flushed first, as execute would.
        session.add(VideoLike(user_id=owner.id, video_id=video_id))
        (again,) = await fetch_bounded(session, MOVE_LIKES, {"row_id": video_id, "delta": 1})
        liked = await session.scalar(
            select(VideoLike.user_id).where(VideoLike.video_id == video_id)
        )
    assert (moved.like_count, again.like_count) == (3, 4)
    assert moved.updated_at > before and moved.updated_at.tzinfo is not None
    assert moved.updated_at - datetime.now(UTC) < timedelta(minutes=1)
    assert liked == owner.id
    async with runtime.unit_of_work(write=False) as session:
        stored = await session.scalar(select(Video.like_count).where(Video.id == video_id))
    assert stored == 4


async def test_a_failed_statement_raises_sqlalchemys_error_and_rolls_back_with_the_session(
    runtime: Runtime,
) -> None:
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)
    with pytest.raises(IntegrityError):
        async with runtime.unit_of_work() as session:
            await fetch_bounded(session, MOVE_LIKES, {"row_id": video_id, "delta": 5})
            await fetch_bounded(session, LIKE, {"user_id": owner.id, "video_id": video_id})
            await fetch_bounded(session, LIKE, {"user_id": owner.id, "video_id": video_id})
    async with runtime.unit_of_work(write=False) as session:
        count = await session.scalar(select(Video.like_count).where(Video.id == video_id))
        likes = (
            await session.execute(select(VideoLike).where(VideoLike.video_id == video_id))
        ).all()
    assert count == 0 and likes == []


async def test_only_statements_marked_bounded_run(runtime: Runtime) -> None:
    async with runtime.unit_of_work() as session:
        with pytest.raises(TypeError):
            await fetch_bounded(session, select(Video.id))


async def test_a_parameter_named_as_a_column_it_does_not_set_is_refused(runtime: Runtime) -> None:
    """As SQLAlchemy refuses it: in an UPDATE such a name would also set the column."""
    ambiguous = (
        update(Video)
        .where(Video.id == bindparam("video_id"), Video.user_id == bindparam("user_id"))
        .values(like_count=0)
        .execution_options(**BOUNDED)
    )
    async with runtime.unit_of_work() as session:
        with pytest.raises(CompileError):
            await fetch_bounded(session, ambiguous, {"video_id": "x", "user_id": "y"})


VIDEOS_IN = (
    select(Video.id, Video.created_at, Video.hashtags)
    .where(Video.id.in_(bindparam("ids", expanding=True)), Video.user_id == bindparam("owner"))
    .order_by(Video.id)
    .execution_options(**BOUNDED)
)


async def test_a_list_of_values_answers_as_session_execute_does_whatever_its_length(
    runtime: Runtime,
) -> None:
    owner, other = await make_user(runtime), await make_user(runtime)
    mine = [await make_video(runtime, owner) for _ in range(3)]
    theirs = await make_video(runtime, other)
    async with runtime.unit_of_work(write=False) as session:
        for ids in ([mine[0]], mine, [*mine, theirs, "0" * 26], [mine[1], mine[1]], []):
            params = {"ids": ids, "owner": owner.id}
            expected = (await session.execute(VIDEOS_IN, params)).all()
            rows = await fetch_bounded(session, VIDEOS_IN, params)
            assert [tuple(r) for r in rows] == [tuple(r) for r in expected], ids
            assert {r.id for r in rows} == set(ids) & set(mine)
            assert all(r.created_at.tzinfo is not None for r in rows)


HELD_BY_A_UNIT_OF_WORK = (Session, SessionTransaction, Connection, RootTransaction)


async def test_a_unit_of_work_leaves_no_garbage_only_the_collector_can_free(
    runtime: Runtime,
) -> None:
    """Each request's session must be freed when it ends: a reference cycle per session made
    the young collections promote every session in flight, and the older ones then took
    20-70 ms pauses to free them under load (bench/RESULTS.md)."""
    owner = await make_user(runtime)
    video_id = await make_video(runtime, owner)

    async def one_read() -> None:
        async with runtime.unit_of_work(write=False) as session:
            (row,) = await fetch_bounded(session, VIDEO_ROW, {"video_id": video_id})
            assert row.id == video_id

    await one_read()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            await one_read()
        gc.collect()
        # Other work of the runtime (its jobs, its listeners) may leave garbage of its own
        # meanwhile: only what a unit of work holds counts here.
        cyclic = [o for o in gc.garbage if isinstance(o, HELD_BY_A_UNIT_OF_WORK)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cyclic == []
