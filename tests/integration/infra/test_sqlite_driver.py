"""The embedded deployment's SQLite driver (one trip to aiosqlite's thread per statement) gives
SQLAlchemy everything the stock adapter does: rows, counts, new ids, RETURNING, errors and
streamed results."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    column,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from reelstack.db import BOUNDED, Database, _configure_sqlite
from reelstack.infra import sqlite_driver

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", module=sqlite_driver.dbapi()
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_rows_counts_ids_and_returning(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        first = await conn.execute(insert(items).values(name="a"))
        assert first.inserted_primary_key == (1,)
        returned = await conn.execute(insert(items).values(name="b").returning(items.c.id))
        assert returned.scalar_one() == 2
        many = await conn.execute(insert(items), [{"name": "c"}, {"name": "d"}, {"name": "e"}])
        assert many.rowcount == 3
        changed = await conn.execute(
            update(items).where(items.c.name.in_(["a", "b", "zz"])).values(name=items.c.name + "!")
        )
        assert changed.rowcount == 2
        gone = await conn.execute(delete(items).where(items.c.name == "e"))
        assert gone.rowcount == 1

    async with engine.connect() as conn:
        names = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars().all()
        assert names == ["a!", "b!", "c", "d"]
        empty = await conn.execute(select(items.c.id, items.c.name).where(items.c.id > 100))
        assert list(empty.keys()) == ["id", "name"]
        assert empty.all() == []
        # fetchone / fetchmany on a result with more rows than asked for.
        result = await conn.execute(select(items.c.id).order_by(items.c.id))
        assert result.fetchone() == (1,)
        assert result.fetchmany(2) == [(2,), (3,)]
        assert result.fetchall() == [(4,)]


async def test_errors_reach_the_caller_and_roll_back(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await conn.execute(insert(items).values(name="only"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(items).values(name="kept-out"))
            await conn.execute(insert(items).values(name="only"))
    async with engine.connect() as conn:
        names = (await conn.execute(select(items.c.name))).scalars().all()
    assert names == ["only"]


async def test_streamed_results(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await conn.execute(insert(items), [{"name": f"n{i:03}"} for i in range(250)])
    async with engine.connect() as conn:
        stream = await conn.stream(select(items.c.name).order_by(items.c.name))
        seen = [row.name async for row in stream]
    assert seen == [f"n{i:03}" for i in range(250)]


async def test_the_application_database_uses_it_and_writes_do_not_interleave(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    try:
        assert isinstance(db.writer.dialect.dbapi, sqlite_driver.OneTripDBAPI)
        assert isinstance(db.reader.dialect.dbapi, sqlite_driver.OneTripDBAPI)
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)

        async def add(i: int) -> None:
            async with db.write_sessions() as session, session.begin():
                await session.execute(insert(items).values(name=f"w{i}"))

        await asyncio.gather(*(add(i) for i in range(100)))
        async with db.read_sessions() as session:
            count = len((await session.execute(select(items.c.id))).all())
        assert count == 100
    finally:
        await db.dispose()


def _thread_probe(engine) -> None:  # type: ignore[no-untyped-def]
    """Give every connection of the engine `thread_id()`: the thread a statement ran in."""

    @event.listens_for(engine.sync_engine, "connect")
    def _register(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection._connection._conn.create_function("thread_id", 0, threading.get_ident)


async def test_bounded_statements_run_in_the_callers_thread_and_others_do_not(
    tmp_path: Path,
) -> None:
    """A statement marked `BOUNDED` runs in the event loop's thread (no hand-off); every other
    statement still runs in the connection's own thread, so a long one cannot stall the loop."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    _thread_probe(db.reader)
    _thread_probe(db.writer)
    loop_thread = threading.get_ident()
    probe = select(func.thread_id())
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)
        for engine in (db.reader, db.writer):
            async with engine.begin() as conn:
                inline = await conn.scalar(probe.execution_options(**BOUNDED))
                handed_off = await conn.scalar(probe)
            assert inline == loop_thread
            assert handed_off is not None and handed_off != loop_thread
        # A bounded write, then a read of it in the same transaction, then both after commit.
        async with db.write_sessions() as session, session.begin():
            await session.execute(insert(items).values(name="inline").execution_options(**BOUNDED))
            assert await session.scalar(select(func.count()).select_from(items)) == 1
        async with db.read_sessions() as session:
            names = (
                await session.execute(select(items.c.name).execution_options(**BOUNDED))
            ).scalars()
            assert list(names) == ["inline"]
    finally:
        await db.dispose()


async def test_a_bounded_statement_that_fails_raises_and_leaves_the_connection_usable(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(items).values(name="taken"))
        with pytest.raises(IntegrityError):
            async with db.write_sessions() as session, session.begin():
                await session.execute(
                    insert(items).values(name="lost").execution_options(**BOUNDED)
                )
                await session.execute(
                    insert(items).values(name="taken").execution_options(**BOUNDED)
                )
        with pytest.raises(OperationalError):
            async with db.read_sessions() as session:
                await session.execute(
                    select(column("nope")).select_from(items).execution_options(**BOUNDED)
                )
        # The failed write was rolled back; both pools still answer, inline and handed off.
        for engine in (db.reader, db.writer):
            async with engine.connect() as conn:
                inline = await conn.execute(select(items.c.name).execution_options(**BOUNDED))
                assert inline.scalars().all() == ["taken"]
                assert (await conn.execute(select(items.c.name))).scalars().all() == ["taken"]
    finally:
        await db.dispose()


async def test_work_after_a_cancelled_statement_waits_for_it_to_finish(tmp_path: Path) -> None:
    """A caller that times out leaves its statement running in the connection's thread. What
    happens next to that connection (SQLAlchemy gives it up: its close is queued behind the
    statement) must not run inline (in the loop's thread) alongside the statement; once the
    pool's connection is idle, bounded statements run inline again."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'one.db'}",
        module=sqlite_driver.dbapi(inline_ends=True),
        pool_size=1,
        max_overflow=0,
        pool_reset_on_return=None,
    )
    _configure_sqlite(engine, immediate=False)
    _thread_probe(engine)
    finished: list[float] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _register(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        def done(value: int) -> int:
            finished.append(time.monotonic())
            return value

        dbapi_connection._connection._conn.create_function("done", 1, done)

    slow = text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
        " SELECT done(max(x)) FROM c"
    )
    probe = select(func.thread_id()).execution_options(**BOUNDED)
    loop_thread = threading.get_ident()
    try:

        async def run_slow() -> None:
            async with engine.connect() as conn:
                await conn.execute(slow)

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run_slow(), timeout=0.05)
        # The cancelled caller's clean-up (its rollback) waited for the statement to finish.
        assert finished and finished[0] > started + 0.05
        async with engine.connect() as conn:
            assert await conn.scalar(probe) == loop_thread  # idle again: inline
            assert await conn.scalar(select(func.thread_id())) != loop_thread
    finally:
        await engine.dispose()


async def test_a_bounded_statement_waits_its_turn_while_the_connections_thread_is_busy(
    tmp_path: Path,
) -> None:
    """Whatever SQLAlchemy does after a cancellation, inline work never runs beside work still
    in the connection's thread: while the thread is busy, a bounded statement queues behind."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    _thread_probe(db.reader)
    probe = select(func.thread_id()).execution_options(**BOUNDED)
    loop_thread = threading.get_ident()
    try:
        async with db.reader.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            busy_until: list[float] = []

            def busy() -> None:  # stands in for a statement whose caller gave up on it
                time.sleep(0.3)
                busy_until.append(time.monotonic())

            running = asyncio.ensure_future(raw._execute(busy))
            await asyncio.sleep(0.05)
            assert not raw.idle
            await conn.scalar(probe)
            # It waited for the thread's work (its BEGIN queued behind it), then ran.
            assert busy_until
            await running
            assert raw.idle and await conn.scalar(probe) == loop_thread
    finally:
        await db.dispose()


def _hand_offs(raw) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the calls handed to this aiosqlite connection's thread from now on."""
    handed_off: list[str] = []
    queue = raw._execute

    async def counting(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        handed_off.append(getattr(fn, "__name__", repr(fn)))
        return await queue(fn, *args, **kwargs)

    raw._execute = counting
    return handed_off


async def test_a_write_begins_and_commits_in_the_callers_thread_unless_it_changed_many_rows(
    tmp_path: Path,
) -> None:
    """The writer's BEGIN IMMEDIATE and COMMIT take no hand-off when the lock is free: a write
    transaction of bounded statements never leaves the event loop's thread, so it holds the
    one writer for no turn of the loop. But a commit writes each page the transaction
    dirtied: a chunk of impressions held the loop for 26 ms, so a transaction that changed
    many rows commits in the connection's thread, and the next small one inline again."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async with db.writer.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        async with db.writer.connect() as conn:
            handed_off = _hand_offs((await conn.get_raw_connection()).driver_connection)
            async with conn.begin():
                await conn.execute(insert(items).values(name="x").execution_options(**BOUNDED))
            assert handed_off == []
            many = sqlite_driver.INLINE_END_MOST_ROWS + 1
            async with conn.begin():
                await conn.execute(insert(items), [{"name": f"m{i}"} for i in range(many)])
            assert handed_off[-1] == "commit"
            handed_off.clear()
            async with conn.begin():
                for i in range(3):
                    await conn.execute(
                        insert(items).values(name=f"s{i}").execution_options(**BOUNDED)
                    )
            assert handed_off == []
        async with db.read_sessions() as session:
            names = (await session.execute(select(items.c.name).order_by(items.c.id))).scalars()
            assert list(names) == ["x", *(f"m{i}" for i in range(many)), "s0", "s1", "s2"]
    finally:
        await db.dispose()


async def test_a_write_waits_for_another_process_holding_the_lock_without_stalling_the_loop(
    tmp_path: Path,
) -> None:
    """Another process (here a plain connection) holds the write lock: the writer's BEGIN does
    not fail and does not block the event loop; it waits in its thread and goes on once the
    lock is free."""
    path = tmp_path / "app.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.writer.begin() as conn:
        await conn.run_sync(metadata.create_all)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO items (name) VALUES ('first')")

        async def write() -> None:
            async with db.write_sessions() as session, session.begin():
                await session.execute(insert(items).values(name="second"))

        writing = asyncio.ensure_future(write())
        started = time.monotonic()
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
        # Blocked in the loop's thread, the write would have held it for the busy timeout.
        assert time.monotonic() - started < 2
        assert not writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, timeout=5)
        async with db.read_sessions() as session:
            names = (await session.execute(select(items.c.name).order_by(items.c.id))).scalars()
            assert list(names) == ["first", "second"]
        # Once free, the lock is taken inline again, with a busy timeout of 0 as before.
        async with db.writer.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 0
    finally:
        other.close()
        await db.dispose()


async def test_the_log_reaches_the_database_file_within_seconds(tmp_path: Path) -> None:
    """The writer's commits do not checkpoint; the database's background checkpoint copies the
    write-ahead log into the database file instead, so it grows with the data."""
    path = tmp_path / "app.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with db.writer.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        before = path.stat().st_size
        async with db.unit_of_work(_no_jobs) as session:
            await session.execute(
                insert(items), [{"name": f"{i:06}" + "x" * 1000} for i in range(2000)]
            )
        for _ in range(50):  # up to 5 s: the checkpoint runs every second
            if path.stat().st_size >= before + 2_000_000:
                break
            await asyncio.sleep(0.1)
        assert path.stat().st_size >= before + 2_000_000
    finally:
        await db.dispose()
    # Closed: the log was checkpointed and removed, and every row is in the file.
    assert not path.with_name(path.name + "-wal").exists()
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*) FROM items").fetchone() == (2000,)
    finally:
        check.close()


async def test_checkpoints_never_run_in_the_event_loops_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each second's checkpoint copies whatever was committed meanwhile; in the loop's thread,
    under ~5,000 impressions a second, it held every request in flight for 22-130 ms."""
    threads: list[int] = []
    original = sqlite_driver.checkpoint

    def recording(conn: sqlite3.Connection) -> None:
        threads.append(threading.get_ident())
        original(conn)

    monkeypatch.setattr(sqlite_driver, "checkpoint", recording)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)
        for i in range(30):  # writes across two checkpoints, the loop idle in between
            async with db.unit_of_work(_no_jobs) as session:
                await session.execute(insert(items).values(name=f"{i:04}" + "x" * 800))
            await asyncio.sleep(0.08)
    finally:
        await db.dispose()
    assert len(threads) >= 4  # two steps a second, and the last ones at close
    assert threading.get_ident() not in threads


async def test_the_log_starts_over_under_steady_writes(tmp_path: Path) -> None:
    """Writes without a pause must not grow the write-ahead log for ever: each checkpoint
    copies all of it (no commit lands in the middle), so the next write starts it over and
    its file stays about one second of writes long."""
    path = tmp_path / "app.db"
    wal = path.with_name(path.name + "-wal")
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(metadata.create_all)
        written = 0

        async def write_for(seconds: float) -> int:
            nonlocal written
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                async with db.unit_of_work(_no_jobs) as session:
                    await session.execute(insert(items).values(name=f"{written:08}" + "x" * 800))
                written += 1
            return wal.stat().st_size

        first = await write_for(3.5)
        second = await write_for(3.5)
        assert written > 500
        # Growing for ever, the log would be about twice as long after twice the writes.
        assert second < 1.5 * first, (first, second, written)
    finally:
        await db.dispose()


async def _no_jobs(jobs: object) -> None:
    raise AssertionError("no jobs expected")
