"""SQLite through aiosqlite, with one trip to the connection's thread per statement.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as four separate
requests to aiosqlite's thread, and every request is a hand-off to that thread and back through
the event loop. Under load the event loop is busy, so each hand-off waits a whole turn of the
loop; and SQLite's one writer connection is held across all of them, which made writes queue
behind each other (`bench/interaction_writes.py`, bench/RESULTS.md). Here the four steps run
as one function in the thread, so a statement is one hand-off.

Everything else (the connection, transactions, server-side cursors, errors) is SQLAlchemy's
aiosqlite adapter unchanged. Installed by passing `dbapi()` as `module=` to the engine.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, int, int | None, list[Any] | None]


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


def _executemany(conn: sqlite3.Connection, operation: str, parameters: Sequence[Any]) -> Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, None
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs, and whose rows are fetched, in one trip to the thread.

    No aiosqlite cursor lives beyond the trip: what SQLAlchemy reads afterwards (description,
    rowcount, lastrowid, the rows) was captured in the thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

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
            self._keep(await connection._execute(_execute, connection._conn, operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        connection: Any = self._connection  # an aiosqlite.Connection; `_execute` is untyped
        async with self._adapt_connection._execute_mutex:
            self._keep(
                await connection._execute(
                    _executemany, connection._conn, operation, seq_of_parameters
                )
            )


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    """The DBAPI module to hand to `create_async_engine(..., module=dbapi())`."""
    return OneTripDBAPI(aiosqlite, sqlite3)
