"""Engines, sessions and the unit of work shared by requests and jobs."""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Executable, Insert, MetaData, String, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from reelstack.errors import AppError
from reelstack.infra import sqlite_driver
from reelstack.infra.ids import ID_LENGTH

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AFTER_COMMIT = "reelstack.after_commit"
AFTER_COMMIT_CALLBACKS = "reelstack.after_commit_callbacks"
SQLITE_BUSY_TIMEOUT_MS = 15000
# How often the write-ahead log is copied into an SQLite database (the writer's commits don't).
SQLITE_CHECKPOINT_SECONDS = 1.0


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def IdColumn() -> String:
    return String(ID_LENGTH)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which stores naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobRequest:
    """A job to enqueue once the transaction that asked for it has committed."""

    name: str
    payload: dict[str, Any]
    delay: float | None = None
    # Jobs with the same key asked for within `delay` seconds run once, after that delay: the
    # job reads what happened from the rows, so one run covers every request it absorbed.
    coalesce_key: str | None = None
    # Run by the process that committed, right after the commit, instead of through the queue:
    # for cheap reactions (a cache write) whose loss in a crash costs a hint, never a row.
    in_process: bool = False


Dispatch = Callable[[list[JobRequest]], Awaitable[None]]


def enqueue_after_commit(
    session: AsyncSession,
    name: str,
    payload: dict[str, Any],
    *,
    delay: float | None = None,
    coalesce_key: str | None = None,
    in_process: bool = False,
) -> None:
    """Queue a job for after this transaction commits; it is dropped if the transaction rolls back
    (a transcode must never run for a video row that was never stored)."""
    session.info.setdefault(AFTER_COMMIT, []).append(
        JobRequest(name, payload, delay, coalesce_key, in_process)
    )


AfterCommit = Callable[[], Awaitable[None]]


def call_after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once this transaction has committed (never if it rolls back): for side
    effects outside the database, such as a cached counter, that must follow the rows."""
    session.info.setdefault(AFTER_COMMIT_CALLBACKS, []).append(callback)


def insert_ignoring_conflicts(session: AsyncSession, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the dialect of the session's database."""
    return insert_ignoring_conflicts_in(session.get_bind().dialect.name, table)


def insert_ignoring_conflicts_in(dialect: str, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the named dialect, for statements built once."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table).on_conflict_do_nothing()
    return stmt


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves, so the driver must not open transactions on its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # The writer never waits on the lock in the loop's thread: its BEGIN IMMEDIATE tries
        # once there and, if another process holds the lock, waits for it in the thread.
        cursor.execute(f"PRAGMA busy_timeout={0 if immediate else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if immediate:
            # Its commits run in the loop's thread, so they must not checkpoint (copying the
            # log into the database and syncing it): `Database._start_checkpoints` does that in
            # the connection's thread instead.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
        # write transactions take the lock up front instead. A deferred BEGIN takes no lock at
        # all, so it runs in the event loop's thread.
        if not immediate:
            conn.exec_driver_sql("BEGIN", execution_options=sqlite_driver.INLINE)
        elif not conn.connection.dbapi_connection.begin_immediate_inline():
            conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")

    sqlite_driver.mark_inline(engine.sync_engine)


# Execution options of a statement that touches a bounded handful of rows by key (a page's
# cards, the viewer's likes on them, one like): on SQLite it runs in the event loop's thread,
# without a hand-off (`infra.sqlite_driver`); elsewhere it has no effect. Never for scans,
# aggregates or anything whose cost grows with the data.
BOUNDED = sqlite_driver.INLINE
# A statement whose rows are as many as the ids or rows it is given (an IN list, a multi-row
# INSERT) is bounded when those are few: `bounded_when(len(ids))`.
BOUNDED_ROWS = 200


def bounded_when(count: int) -> dict[str, Any]:
    """Execution options: `BOUNDED` for a statement of `count` rows at most, when that is few."""
    return BOUNDED if count <= BOUNDED_ROWS else {}


def _same(value: Any) -> Any:
    return value


class _Prepared:
    """A bounded statement compiled once for SQLite: its SQL, how to bind a call's parameters
    in order, and how to turn a row into one with the statement's column names and types."""

    __slots__ = ("binds", "columns", "expanded", "expanding", "processed", "row", "sql")

    def __init__(self, stmt: Any, dialect: Dialect, keys: tuple[str, ...]) -> None:
        # Compiled for the parameters given, as SQLAlchemy compiles a statement it executes:
        # an INSERT without values takes the columns named, and the same names are refused.
        compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positiontup is None:
            raise TypeError("a bounded statement must compile to positional parameters")
        self.sql: str = compiled.string
        # An IN list of values (an expanding parameter) is rendered as one `?` per value, per
        # list length met: `sql_for`.
        self.expanding: tuple[str, ...] = ()
        self.expanded: dict[tuple[int, ...], str] = {}
        # Columns the statement leaves to their Python-side default (INSERT) or onupdate
        # (UPDATE), such as `updated_at`: computed per execution, as SQLAlchemy does.
        generated = {
            column.key: column.default if inserting else column.onupdate
            for inserting, columns in (
                (True, compiled.insert_prefetch),
                (False, compiled.update_prefetch),
            )
            for column in columns
        }
        binds = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding and name not in self.expanding:
                self.expanding += (name,)
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            make = None
            if name in generated:
                generator = generated[name]
                if generator.is_scalar:
                    make = functools.partial(_same, generator.arg)
                elif generator.is_callable:
                    make = functools.partial(generator.arg, None)  # takes no context
                else:
                    raise TypeError(f"{name}: only scalar and callable defaults are computed")
            # Parameters the statement fixed itself (`required` is False) carry their value.
            fixed = None if bind.required else bind.effective_value
            binds.append((name, bind.required, fixed, make, process, bind.expanding))
        self.binds = tuple(binds)
        exported = list(stmt.exported_columns.items()) if hasattr(stmt, "exported_columns") else []
        names = [name for name, _ in exported]
        # Names that cannot be attributes (`_no_label`, a keyword) become `_0`, `_1`, ...
        self.row: Any = collections.namedtuple("Row", names, rename=True) if names else tuple
        self.columns = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for _, column in exported
        )
        # Only the columns with a result processor are touched per row: a feed page's facts
        # query has 23 columns, 7 of them processed (its flags, read as 0 and 1).
        self.processed = tuple(
            (index, process) for index, process in enumerate(self.columns) if process is not None
        )

    def sql_for(self, params: dict[str, Any]) -> str | None:
        """The SQL for these parameters' list lengths; None for an empty list, which
        SQLAlchemy renders as an expression of its own."""
        if not self.expanding:
            return self.sql
        lengths = tuple(len(params[name]) for name in self.expanding)
        found = self.expanded.get(lengths)
        if found is None:
            if not all(lengths):
                return None
            found = self.sql
            for name, length in zip(self.expanding, lengths, strict=True):
                found = found.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * length))
            self.expanded[lengths] = found
        return found

    def parameters(self, params: dict[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for name, required, fixed, make, process, expanding in self.binds:
            if expanding:
                items = params[name]
                values += items if process is None else [process(item) for item in items]
                continue
            if make is not None:
                value = params[name] if name in params else make()
            else:
                value = params[name] if required else params.get(name, fixed)
            values.append(process(value) if process is not None else value)
        return tuple(values)

    def rows(self, raw: list[tuple[Any, ...]]) -> list[Any]:
        make = self.row._make if self.row is not tuple else tuple
        processed = self.processed
        if not processed:
            return [make(values) for values in raw]
        out = []
        for values in raw:
            row = list(values)
            for index, process in processed:
                row[index] = process(row[index])
            out.append(make(row))
        return out


_PREPARED: dict[tuple[int, tuple[str, ...]], tuple[Any, _Prepared]] = {}
_RAW = "reelstack.raw_sqlite"


def _prepared(stmt: Any, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
    # Keyed by identity, holding the statement so its id is never reused: only statements
    # built once (at import, or behind `functools.cache`) come here.
    found = _PREPARED.get((id(stmt), keys))
    if found is None:
        found = _PREPARED[(id(stmt), keys)] = (stmt, _Prepared(stmt, dialect, keys))
    return found[1]


async def execute_core(
    session: AsyncSession,
    stmt: Executable,
    params: Any = None,
    *,
    execution_options: dict[str, Any] | None = None,
) -> CursorResult[*tuple[Any, ...]]:
    """Run a statement in the session's transaction through SQLAlchemy Core, on the session's
    connection: for statements that name columns, never entities. The ORM's execution (its
    compile state, its result loading) costs as much as the statement does for the small reads
    and writes of a job. Pending ORM changes are flushed first, as `session.execute` does.
    `params` may be a list of parameter sets (an INSERT of many rows)."""
    if session.new or session.deleted or session.dirty:
        await session.flush()
    connection = await session.connection()
    return await connection.execute(stmt, params, execution_options=execution_options or {})


async def _rows_of(session: AsyncSession, stmt: Executable, values: dict[str, Any]) -> list[Any]:
    result = await execute_core(session, stmt, values)
    return list(result.all()) if result.returns_rows else []


async def fetch_bounded(
    session: AsyncSession, stmt: Executable, params: dict[str, Any] | None = None
) -> list[Any]:
    """Run a statement built once and marked `BOUNDED` in the session's transaction; its rows,
    with the statement's column names as attributes.

    On SQLite it runs straight on the connection, in the event loop's thread: what SQLAlchemy
    adds around a statement (the ORM session's execution, the execution context, result
    objects) cost several times SQLite's own work for the one-row statements of a like or a
    comment (bench/RESULTS.md). The rows and parameters pass through the same type processing,
    errors are raised as SQLAlchemy's, and pending ORM changes are flushed first, as
    `session.execute` does. `before_cursor_execute` listeners hear it, with no connection,
    cursor or context (tests count a page's statements that way).
    Elsewhere (PostgreSQL), and whenever the connection's thread is busy, it runs through
    SQLAlchemy Core on the session's connection."""
    values = params or {}
    if not stmt.get_execution_options().get(sqlite_driver.INLINE_OPTION):
        raise TypeError("fetch_bounded runs only statements marked BOUNDED")
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return await _rows_of(session, stmt, values)
    if session.new or session.deleted or session.dirty:
        await session.flush()
    prepared = _prepared(stmt, bind.dialect, tuple(values))
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_RAW)
    if held is None or held[0]() is not transaction or transaction is None:
        conn = await session.connection()  # begins the transaction, as a first execute would
        transaction = session.sync_session.get_transaction()
        dbapi_connection: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        # A weak reference: the transaction refers to the session, and a strong one here
        # made every session a reference cycle, freed only by the collector's passes.
        held = session.info[_RAW] = (weakref.ref(transaction), dbapi_connection)
    connection = held[1]._connection  # the aiosqlite connection
    if not (connection.idle and connection._connection):
        return await _rows_of(session, stmt, values)
    sql = prepared.sql_for(values)
    if sql is None:
        return await _rows_of(session, stmt, values)
    parameters = prepared.parameters(values)
    bind.dispatch.before_cursor_execute(None, None, sql, parameters, None, False)
    try:
        raw = connection._connection.execute(sql, parameters).fetchall()
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error
    return prepared.rows(raw)


class JSONText(str):
    """A JSON column's value already encoded (by code that builds the text more cheaply than
    `json.dumps` would): written as it is."""

    __slots__ = ()


def _json_serializer(value: Any) -> str:
    return value if isinstance(value, JSONText) else json.dumps(value)


def _checkpoint_connection(path: str) -> sqlite3.Connection:
    """A connection that only checkpoints, used from one thread at a time."""
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return connection


class Database:
    """A writer and a reader engine. On SQLite the writer is one connection, so writers queue
    in-process instead of spinning on the file lock; on PostgreSQL the reader can be a replica."""

    def __init__(self, url: str, *, reader_url: str | None = None, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            # Every session ends in our own COMMIT or ROLLBACK (and SQLAlchemy rolls back any
            # transaction still open when a connection closes), so the pool's extra rollback on
            # return is redundant. Its cost is within the noise on a quiet machine
            # (`bench/page_cost.py`, bench/RESULTS.md).
            self.writer = create_async_engine(
                url,
                echo=echo,
                json_serializer=_json_serializer,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,
                module=sqlite_driver.dbapi(inline_ends=True),
            )
            self.reader = create_async_engine(
                url,
                echo=echo,
                json_serializer=_json_serializer,
                pool_size=8,
                max_overflow=8,
                pool_reset_on_return=None,
                module=sqlite_driver.dbapi(inline_ends=True),
            )
            _configure_sqlite(self.writer, immediate=True)
            _configure_sqlite(self.reader, immediate=False)
        else:
            options: dict[str, Any] = {
                "echo": echo,
                "json_serializer": _json_serializer,
                "pool_size": 10,
                "max_overflow": 20,
                "pool_pre_ping": True,
            }
            self.writer = create_async_engine(url, **options)
            self.reader = create_async_engine(reader_url, **options) if reader_url else self.writer
        self._checkpoints: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def unit_of_work(
        self, dispatch: Dispatch, *, write: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on error; jobs asked for inside it are
        handed to `dispatch` only after the commit."""
        if write and self.is_sqlite and self._checkpoints is None:
            self._start_checkpoints()
        factory = self.write_sessions if write else self.read_sessions
        async with factory() as session:
            try:
                yield session
            except BaseException as exc:
                if not (isinstance(exc, AppError) and exc.keep_changes):
                    session.info.pop(AFTER_COMMIT, None)
                    session.info.pop(AFTER_COMMIT_CALLBACKS, None)
                    await session.rollback()
                    raise
                await session.commit()
                await self._dispatch_pending(session, dispatch)
                raise
            await session.commit()
            await self._dispatch_pending(session, dispatch)

    @staticmethod
    async def _dispatch_pending(session: AsyncSession, dispatch: Dispatch) -> None:
        for callback in session.info.pop(AFTER_COMMIT_CALLBACKS, []):
            try:
                await callback()
            except Exception:
                # Committed all the same; whatever the callback kept (a cached counter) is
                # recomputed from the rows by its periodic reconcile.
                log.exception("after-commit callback %r failed", callback)
        pending: list[JobRequest] = session.info.pop(AFTER_COMMIT, [])
        if not pending:
            return
        try:
            await dispatch(pending)
        except Exception:
            # The data is committed: answering 500 would make a client retry a write that
            # worked. What these jobs would have done is lost (a transactional outbox is the
            # cure); counts are safe, as the periodic recount repairs them from the rows.
            log.exception("could not enqueue %s after commit", [job.name for job in pending])

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.rollback()

    def _start_checkpoints(self) -> None:
        """SQLite: copy the write-ahead log into the database every second, for the writer's
        commits never do (`_configure_sqlite`). In two steps, so that writes hardly wait:

        1. a passive checkpoint on a connection of its own, in a thread, copies the bulk of
           the log while writes go on;
        2. a passive checkpoint on the writer connection, in its thread, copies what was
           committed meanwhile. No commit can land in the middle of it, so the whole log is
           copied (less what a reader still holds) and the next write starts the log over, as
           the writer's own automatic checkpoints did.

        The writer's checkpoint alone held the writer for 15-25 ms each second at 500 writes/s
        (bench/RESULTS.md). The second step ran in the event loop's thread until it was seen
        to hold it 22-28 ms each second (14-19 ms of CPU), up to 130 ms, under the For-You
        load, which writes ~5,000 impressions a second (the copier had left it little: what it
        copied was most likely committed while it waited for the writer; not checked). In the
        writer's thread, it holds up writes, not reads."""
        path = self.writer.url.database
        if path in (None, "", ":memory:"):
            return

        async def every_second() -> None:
            copier: sqlite3.Connection | None = None
            try:
                while not self._closing.is_set():
                    try:
                        await asyncio.wait_for(self._closing.wait(), SQLITE_CHECKPOINT_SECONDS)
                    except TimeoutError:
                        pass
                    try:
                        if copier is None:
                            copier = await asyncio.to_thread(_checkpoint_connection, str(path))
                        await asyncio.to_thread(sqlite_driver.checkpoint, copier)
                        async with self.writer.connect() as conn:
                            raw: Any = (await conn.get_raw_connection()).driver_connection
                            await raw._execute(sqlite_driver.checkpoint, raw._conn)
                    except Exception:
                        log.exception("checkpoint of %s failed; the next one tries again", self.url)
            finally:
                if copier is not None:
                    copier.close()

        self._checkpoints = asyncio.create_task(every_second(), name="sqlite-checkpoints")

    async def dispose(self) -> None:
        if self._checkpoints is not None:
            self._closing.set()
            await self._checkpoints  # its last checkpoint runs after the last write
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
