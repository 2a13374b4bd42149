"""SQLite through aiosqlite, with one trip to the connection's thread per statement.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as four separate
requests to aiosqlite's thread, and every request is a hand-off to that thread and back through
the event loop. Under load the event loop is busy, so each hand-off waits a whole turn of the
loop; and SQLite's one writer connection is held across all of them, which made writes queue
behind each other (`bench/interaction_writes.py`, bench/RESULTS.md). Here the four steps run
as one function in the thread, so a statement is one hand-off.

A statement marked `execution_options(**INLINE)` (`db.BOUNDED`: one touching a bounded
handful of rows by key, such as a feed page's cards, the viewer's likes on them, or one like)
runs in the event loop's own thread instead: no hand-off at all. That is cheaper than the
hand-off, and much cheaper under load: the connection's thread takes the GIL back for every
row SQLite steps, and each of those waits behind the busy event loop costs more CPU than the
row (`bench/page_cost.py`, bench/RESULTS.md). Only such bounded statements may be marked:
while one runs, nothing else in the process does; scans and aggregates stay in the thread.
Transactions begin and end in the loop too. A read's deferred BEGIN and its COMMIT wait for
no lock. The writer's BEGIN IMMEDIATE runs inline when the write lock is free at once (within
one process the writer is a single connection, so only another process can hold it), and
through the thread, waiting, when it is not. The writer's COMMIT runs inline because it never
checkpoints: the database turns automatic checkpoints off and runs one a second on the writer
connection, in its thread (`db.Database`). So a write transaction holds the one writer for no
turn of the event loop, where it held it for two (bench/RESULTS.md). One sync remains in the
loop's thread: the first commit after a checkpoint starts the log over, and SQLite syncs the
log's header then (at most once a second; well under a millisecond here).

Everything else (the connection, transactions, server-side cursors, errors) is SQLAlchemy's
aiosqlite adapter unchanged. Installed by passing `dbapi()` as `module=` to the engine and
`mark_inline(engine)`.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, int, int | None, list[Any] | None]
# Execution option of statements that run in the event loop's thread (see the module's doc).
INLINE_OPTION = "sqlite_inline"
INLINE: dict[str, Any] = {INLINE_OPTION: True}


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    """Run one statement to completion in the connection's thread."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def checkpoint(conn: sqlite3.Connection) -> None:
    """A passive checkpoint of the connection's database (`db.Database` says where it runs)."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _executemany(conn: sqlite3.Connection, operation: str, parameters: Sequence[Any]) -> Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, None
    finally:
        cursor.close()


class _Connection(aiosqlite.Connection):
    """aiosqlite's connection, knowing whether anything is queued to or running in its thread.

    Inline work must never run beside the thread's: a caller cancelled while it awaited the
    thread leaves its statement running there. SQLAlchemy gives such a connection up (its
    close is queued behind the statement), but that is its choice, not a promise: inline work
    on a connection whose thread is not idle waits its turn in the queue instead."""

    def __init__(self, *arg: Any, **kw: Any) -> None:
        super().__init__(*arg, **kw)
        # Each counter is written by one thread only (the loop / the worker), so no lock.
        self._queued = 0
        self._finished = 0

    @property
    def idle(self) -> bool:
        return self._queued == self._finished

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")

        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished += 1

        self._queued += 1
        queue: Any = super()._execute  # untyped in aiosqlite
        return await queue(counted)


def _connect(database: Any, **kw: Any) -> _Connection:
    """`aiosqlite.connect`, with our connection class."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(str(database), **kw)
        return connection

    connection = _Connection(connector, 64)
    connection._thread.daemon = True
    return connection


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs, and whose rows are fetched, in one trip to the thread.

    No aiosqlite cursor lives beyond the trip: what SQLAlchemy reads afterwards (description,
    rowcount, lastrowid, the rows) was captured in the thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount", "inline")

    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self.inline = False  # set per statement by `mark_inline`'s listener

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def _keep(self, outcome: Outcome) -> None:
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        connection: Any = self._connection  # an aiosqlite.Connection; `_execute` is untyped
        async with self._adapt_connection._execute_mutex:
            inline, self.inline = self.inline, False
            if inline and connection.idle:
                self._keep(_execute(connection._conn, operation, parameters))
                return
            self._keep(await connection._execute(_execute, connection._conn, operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        connection: Any = self._connection  # an aiosqlite.Connection; `_execute` is untyped
        async with self._adapt_connection._execute_mutex:
            self._keep(
                await connection._execute(
                    _executemany, connection._conn, operation, seq_of_parameters
                )
            )


# A transaction that changed more rows than this ends in the connection's thread: its commit
# writes every page it dirtied to the log, which for one chunk of impressions took 26 ms of
# the loop's time (bench/RESULTS.md). A like or a comment changes a few rows.
INLINE_END_MOST_ROWS = 32


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_changes_at_end",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._changes_at_end = 0

    def _end_inline(self, how: str) -> bool:
        """End a transaction (`how`: "commit" or "rollback") in the loop's thread, if this
        engine's ends are inline, the connection's thread is idle and the transaction changed
        few rows: no lock to wait for, no hand-off. False when it must go through the
        thread."""
        connection = self._connection
        raw = connection._connection
        if not (self.dbapi.inline_ends and connection.idle and raw):
            return False
        # Rows changed since the last end: this transaction's (a connection runs one at once).
        if raw.total_changes - self._changes_at_end > INLINE_END_MOST_ROWS:
            return False
        try:
            getattr(raw, how)()
        except Exception as error:
            self._handle_exception(error)
        return True

    def _ended(self) -> None:
        raw = self._connection._connection
        if raw is not None:
            self._changes_at_end = raw.total_changes

    def begin_immediate_inline(self) -> bool:
        """BEGIN IMMEDIATE in the loop's thread, if the connection's thread is idle and the
        write lock is free at once (the writer's busy timeout is 0, so a lock held by another
        process fails here rather than blocking the loop). False when the caller must begin
        through the thread, waiting for the lock."""
        connection = self._connection
        if not (connection.idle and connection._connection):
            return False
        try:
            connection._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                return False
            self._handle_exception(error)
        return True

    def commit(self) -> None:
        try:
            if not self._end_inline("commit"):
                super().commit()
        finally:
            self._ended()

    def rollback(self) -> None:
        try:
            if not self._end_inline("rollback"):
                super().rollback()
        finally:
            self._ended()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, *arg: Any, inline_ends: bool = False) -> None:
        super().__init__(*arg)
        self.inline_ends = inline_ends

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        # Used from the loop's thread too (inline statements), one caller at a time: SQLAlchemy
        # awaits each call on a connection before the next.
        kw["check_same_thread"] = False
        connection: Any = await_(_connect(*arg, **kw))
        return OneTripConnection(self, connection)


def dbapi(*, inline_ends: bool = False) -> OneTripDBAPI:
    """The DBAPI module to hand to `create_async_engine(..., module=dbapi())`. With
    `inline_ends`, transactions end in the event loop's thread: right for an engine that only
    reads, and for a writer whose commits never checkpoint (`wal_autocheckpoint=0`)."""
    return OneTripDBAPI(aiosqlite, sqlite3, inline_ends=inline_ends)


def mark_inline(engine: Any) -> None:
    """Run statements carrying `INLINE` in the event loop's thread on this (sync) engine."""

    @event.listens_for(engine, "before_cursor_execute")
    def _inline(
        _conn: Any, cursor: Any, _statement: Any, _params: Any, context: Any, many: bool
    ) -> None:
        # Many parameter sets run inline only as SQLAlchemy's multi-row INSERTs
        # ("insertmanyvalues"): each batch is one statement, executed as such.
        if (
            isinstance(cursor, OneTripCursor)
            and context is not None
            and context.execution_options.get(INLINE_OPTION)
            and (not many or context.execute_style is ExecuteStyle.INSERTMANYVALUES)
        ):
            cursor.inline = True
