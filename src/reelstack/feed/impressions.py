"""Impressions: every video a feed served, with the features it was ranked on. Rows gather
in memory and go to the database in batches (one INSERT a second at most), off the request
path: they are training data, and losing the last second of them in a crash costs nothing."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, insert, select

from reelstack.db import execute_core, utcnow
from reelstack.infra.per_runtime import PerRuntime
from reelstack.recommend.models import Impression

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
_INSERT = insert(cast(Table, Impression.__table__))
FLUSH_SECONDS = 1.0
MAX_BUFFER = 50_000
# Rows per INSERT: SQLAlchemy prepares a statement's parameters in the event loop, and a
# second of a busy feed's impressions (thousands of rows) in one statement held every request
# in flight for that long; between statements they go on. The rows themselves are written in
# the connection's thread, not the loop's: while sign-ups were writing, an INSERT of 200 rows
# took 50-300 ms (bench/RESULTS.md).
FLUSH_CHUNK = 250


class ImpressionLog:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._rows: list[dict[str, Any]] = []
        self._flusher: asyncio.Task[None] | None = None

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Log these rows (the log takes them over and stamps them)."""
        if len(self._rows) < MAX_BUFFER:
            now = utcnow()
            for row in rows:
                row["created_at"] = now
            self._rows += rows
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            async with self._rt.unit_of_work() as session:
                # Core, not the ORM's bulk insert: its per-row bookkeeping cost more than the
                # rows themselves, in the loop that serves pages.
                for start in range(0, len(rows), FLUSH_CHUNK):
                    await execute_core(session, _INSERT, rows[start : start + FLUSH_CHUNK])
        except Exception:  # training data only: never let logging hurt serving
            log.exception("dropped %d impressions", len(rows))


impression_log: PerRuntime[ImpressionLog] = PerRuntime(ImpressionLog)  # this process's log


PRUNE_BATCH = 5000


async def prune(rt: Runtime) -> int:
    """Delete impressions older than the retention, oldest first, a batch per transaction (the
    writer is never held for long); returns how many went."""
    cutoff = utcnow() - timedelta(days=rt.settings.impression_retention_days)
    oldest = (
        select(Impression.id)
        .where(Impression.created_at < cutoff)
        .order_by(Impression.created_at)
        .limit(PRUNE_BATCH)
    )
    batch = delete(Impression).where(Impression.id.in_(oldest.scalar_subquery()))
    removed = 0
    while True:
        async with rt.unit_of_work() as session:
            result = await execute_core(session, batch)
        removed += result.rowcount
        if result.rowcount < PRUNE_BATCH:
            return removed
        await asyncio.sleep(0)  # let requests in between
