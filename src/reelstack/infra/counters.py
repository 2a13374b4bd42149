"""Counters role: how many likes, views, comments... a row has. The rows they count are the
truth; a counter is a fast copy that a periodic reconcile recomputes from them.

Embedded (`DatabaseCounters`): the count is a column moved by an atomic `UPDATE ... SET n = n + d`
in the same transaction as the row it counts. SQLite has one writer, so there is no hot row to
fight over.

Scale-out (`RedisCounters`): the transaction writes only the row; after it commits, the change
goes to one of N Redis hashes of that counter picked at random (sub-keys spread over a Redis
Cluster, summed on read), and a job writes the deltas back into the column in batches. A reader
adds the pending deltas to the stored column, so a liker sees their like at once.

Write-back without a window where a reader sees a delta twice or not at all: the flush locks the
row, and an atomic script per sub-key moves the live deltas into an entry tagged with the next
flush number `seq`; the column and its `counters_seq` are then updated together. A reader adds
an entry only if its seq is above the `counters_seq` it read, so before the commit the entry
counts and after it the column does. Entries of a flush that never committed are merged into
the next one. A flush claims its rows into an in-flight set until each is written, so a flusher
that fails, is cancelled or dies leaves them to be retried, never forgotten.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.db import BOUNDED, call_after_commit, fetch_bounded
from reelstack.infra.jobs import job

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)

Truth = Callable[[AsyncSession, list[str]], Awaitable[dict[str, int]]]
FLUSH_JOB = "counters.flush"
FLUSH_DELAY_SECONDS = 1.0
FLUSH_BATCH = 200
RECONCILE_BATCH = 500
SETTLE_SECONDS = 0.2


@dataclass(frozen=True)
class CounterSpec:
    """The counter columns of one table, keyed by its `id` column."""

    name: str
    table: Table
    fields: tuple[str, ...]
    seq_column: str = "counters_seq"
    # field -> the query that recounts it from the rows; features register theirs.
    truths: dict[str, Truth] = field(default_factory=dict, compare=False, hash=False)


COUNTER_SPECS: dict[str, CounterSpec] = {}


def register_counters(spec: CounterSpec) -> CounterSpec:
    COUNTER_SPECS[spec.name] = spec
    return spec


def register_truth(spec: CounterSpec, field_name: str, truth: Truth) -> None:
    """Declare how `field_name` is recounted from the rows (the reconcile job uses it)."""
    if field_name not in spec.fields:
        raise ValueError(f"{spec.name} has no counter {field_name!r}")
    spec.truths[field_name] = truth


Counts = dict[str, dict[str, int]]  # row id -> field -> count


class Counters(Protocol):
    async def add(
        self, session: AsyncSession, spec: CounterSpec, row_id: str, field_name: str, delta: int
    ) -> int:
        """Move a counter with the transaction of `session`; returns the count the writer should
        see once it commits."""
        ...

    async def read(self, spec: CounterSpec, rows: Sequence[Any]) -> Counts:
        """The counts of loaded rows (objects with `id`, the fields and the seq column) as a
        reader should see them."""
        ...

    async def pending(self, spec: CounterSpec, seqs: dict[str, int]) -> Counts:
        """Deltas not yet written into the rows, for rows at these flush numbers."""
        ...

    async def flush(self, rt: Runtime, spec: CounterSpec) -> int:
        """Write pending deltas into the rows; returns how many rows were written."""
        ...

    async def recover(self, spec: CounterSpec) -> int:
        """Make the next flush retry the rows an interrupted flush had taken on."""
        ...

    @property
    def settle_seconds(self) -> float:
        """How long after a commit its counter change may still be on its way (0: none)."""
        ...


def _stored(spec: CounterSpec, rows: Sequence[Any]) -> Counts:
    return {row.id: {f: int(getattr(row, f)) for f in spec.fields} for row in rows}


_MOVES: dict[tuple[str, str], Any] = {}


def _move(spec: CounterSpec, field_name: str) -> Any:
    """`UPDATE ... SET n = n + :delta WHERE id = :row_id RETURNING n`, built once per counter:
    composing the statement on every write cost more than running it."""
    key = (spec.name, field_name)
    if key not in _MOVES:
        column = spec.table.c[field_name]
        _MOVES[key] = (
            update(spec.table)
            .where(spec.table.c.id == bindparam("row_id"))
            .values({field_name: column + bindparam("delta", type_=column.type)})
            .returning(column)
            .execution_options(**BOUNDED)  # one row by key
        )
    return _MOVES[key]


class DatabaseCounters:
    """Embedded: the column is the counter, moved in the writer's own transaction."""

    async def add(
        self, session: AsyncSession, spec: CounterSpec, row_id: str, field_name: str, delta: int
    ) -> int:
        rows = await fetch_bounded(
            session, _move(spec, field_name), {"row_id": row_id, "delta": delta}
        )
        return int(rows[0][0] or 0) if rows else 0

    async def read(self, spec: CounterSpec, rows: Sequence[Any]) -> Counts:
        return _stored(spec, rows)

    async def pending(self, spec: CounterSpec, seqs: dict[str, int]) -> Counts:
        return {row_id: {} for row_id in seqs}

    async def flush(self, rt: Runtime, spec: CounterSpec) -> int:
        return 0

    async def recover(self, spec: CounterSpec) -> int:
        return 0

    @property
    def settle_seconds(self) -> float:
        return 0.0  # the column moves inside the writer's transaction


# Moves one sub-key's live deltas (and entries of flushes that never committed) into the entry
# of flush ARGV[2]; drops entries older than any reader can still need. Returns the moved totals.
_MOVE_SCRIPT = """
local db_seq = tonumber(ARGV[1])
local n = #ARGV - 2
local totals = {}
for j = 1, n do totals[j] = 0 end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local name = all[i]
  if string.sub(name, 1, 1) == '#' then
    local seq = tonumber(string.sub(name, 2))
    if seq > db_seq then
      local parts = cjson.decode(all[i + 1])
      for j = 1, n do totals[j] = totals[j] + (parts[j] or 0) end
      redis.call('HDEL', KEYS[1], name)
    elseif seq <= db_seq - 2 then
      redis.call('HDEL', KEYS[1], name)
    end
  end
end
for j = 1, n do
  local v = redis.call('HGET', KEYS[1], ARGV[j + 2])
  if v then
    totals[j] = totals[j] + tonumber(v)
    redis.call('HDEL', KEYS[1], ARGV[j + 2])
  end
end
for j = 1, n do
  if totals[j] ~= 0 then
    redis.call('HSET', KEYS[1], '#' .. ARGV[2], cjson.encode(totals))
    break
  end
end
return cjson.encode(totals)
"""

# Takes up to ARGV[1] dirty rows and records them as in flight, in one step.
_CLAIM_SCRIPT = """
local ids = redis.call('SPOP', KEYS[1], ARGV[1])
if #ids > 0 then redis.call('SADD', KEYS[2], unpack(ids)) end
return ids
"""

# Puts every in-flight row back among the dirty ones.
_RECOVER_SCRIPT = """
local n = redis.call('SCARD', KEYS[2])
if n > 0 then
  redis.call('SUNIONSTORE', KEYS[1], KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[2])
end
return n
"""


class RedisCounters:
    """Scale-out: deltas in N Redis hashes per counter row, written back by a job."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        shards: int,
        schedule_flush: Callable[[str], Awaitable[None]],
    ) -> None:
        self._redis = client
        self._prefix = prefix + "ctr:"
        self._shards = shards
        self._schedule_flush = schedule_flush
        self._move = client.register_script(_MOVE_SCRIPT)
        self._claim = client.register_script(_CLAIM_SCRIPT)
        self._recover = client.register_script(_RECOVER_SCRIPT)

    @property
    def settle_seconds(self) -> float:
        # A delta reaches Redis just after its transaction commits (an after-commit callback).
        return SETTLE_SECONDS

    def _key(self, spec: CounterSpec, row_id: str, shard: int) -> str:
        # One hash tag per sub-key: in a Redis Cluster the sub-keys of a hot row spread over
        # the nodes, and each stays atomic for the move script.
        return f"{self._prefix}{spec.name}:{{{row_id}:{shard}}}"

    def _dirty(self, spec: CounterSpec) -> str:
        # The dirty and in-flight sets share a hash tag: the claim script touches both.
        return f"{self._prefix}{{{spec.name}}}:dirty"

    async def add(
        self, session: AsyncSession, spec: CounterSpec, row_id: str, field_name: str, delta: int
    ) -> int:
        if field_name not in spec.fields:
            raise ValueError(f"{spec.name} has no counter {field_name!r}")

        async def apply() -> None:
            key = self._key(spec, row_id, random.randrange(self._shards))  # noqa: S311 (spreads load)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, field_name, delta)
                pipe.sadd(self._dirty(spec), row_id)
                pipe.set(f"{self._prefix}{spec.name}:scheduled", "1", nx=True, px=1000)
                *_, scheduled = await pipe.execute()
            if scheduled:
                await self._schedule_flush(spec.name)

        call_after_commit(session, apply)
        row = (
            await session.execute(
                select(spec.table.c[field_name], spec.table.c[spec.seq_column]).where(
                    spec.table.c.id == row_id
                )
            )
        ).one_or_none()
        if row is None:
            return 0
        pending = await self.pending(spec, {row_id: int(row[1])})
        return int(row[0]) + pending[row_id].get(field_name, 0) + delta

    async def read(self, spec: CounterSpec, rows: Sequence[Any]) -> Counts:
        counts = _stored(spec, rows)
        pending = await self.pending(
            spec, {row.id: int(getattr(row, spec.seq_column)) for row in rows}
        )
        for row_id, deltas in pending.items():
            for name, delta in deltas.items():
                counts[row_id][name] += delta
        return counts

    async def pending(self, spec: CounterSpec, seqs: dict[str, int]) -> Counts:
        ids = list(seqs)
        result: Counts = {row_id: {} for row_id in ids}
        if not ids:
            return result
        async with self._redis.pipeline(transaction=False) as pipe:
            for row_id in ids:
                for shard in range(self._shards):
                    pipe.hgetall(self._key(spec, row_id, shard))
            hashes = await pipe.execute()
        for index, raw in enumerate(hashes):
            row_id = ids[index // self._shards]
            totals = result[row_id]
            for name_b, value_b in raw.items():
                name, value = _text(name_b), _text(value_b)
                if name.startswith("#"):
                    if int(name[1:]) > seqs[row_id]:
                        for field_name, delta in zip(spec.fields, json.loads(value), strict=False):
                            totals[field_name] = totals.get(field_name, 0) + int(delta)
                elif name in spec.fields:
                    totals[name] = totals.get(name, 0) + int(value)
        return result

    def _in_flight(self, spec: CounterSpec) -> str:
        return f"{self._prefix}{{{spec.name}}}:inflight"

    async def flush(self, rt: Runtime, spec: CounterSpec) -> int:
        written = 0
        while True:
            # Claimed rows stay in the in-flight set until written: a flusher that dies or is
            # cancelled mid-batch leaves them there for `recover`, instead of losing their mark.
            claimed: Any = await self._claim(
                keys=[self._dirty(spec), self._in_flight(spec)], args=[FLUSH_BATCH]
            )
            ids = [_text(i) for i in claimed or []]
            if not ids:
                return written
            for index, row_id in enumerate(ids):
                try:
                    written += await self._flush_row(rt, spec, row_id)
                except Exception:
                    # This row and every one after it in the batch stay dirty.
                    await self._redis.sadd(self._dirty(spec), *ids[index:])
                    await self._redis.srem(self._in_flight(spec), *ids[index:])
                    raise
                await self._redis.srem(self._in_flight(spec), row_id)

    async def recover(self, spec: CounterSpec) -> int:
        """Mark dirty again the rows a flusher claimed and never finished; returns how many.
        A row still being flushed elsewhere is flushed once more, which moves nothing twice."""
        moved: Any = await self._recover(keys=[self._dirty(spec), self._in_flight(spec)])
        return int(moved)

    async def _flush_row(self, rt: Runtime, spec: CounterSpec, row_id: str) -> int:
        table = spec.table
        async with rt.unit_of_work() as session:
            seq = await session.scalar(
                select(table.c[spec.seq_column]).where(table.c.id == row_id).with_for_update()
            )
            if seq is None:  # the row is gone, and its counters with it
                await self._redis.delete(*(self._key(spec, row_id, s) for s in range(self._shards)))
                return 0
            new_seq = int(seq) + 1
            totals = [0] * len(spec.fields)
            for shard in range(self._shards):
                moved = await self._move(
                    keys=[self._key(spec, row_id, shard)], args=[int(seq), new_seq, *spec.fields]
                )
                for index, delta in enumerate(json.loads(_text(moved))):
                    totals[index] += int(delta)
            if not any(totals):
                return 0
            values: dict[str, Any] = {
                name: table.c[name] + delta
                for name, delta in zip(spec.fields, totals, strict=True)
                if delta
            }
            values[spec.seq_column] = new_seq
            await session.execute(update(table).where(table.c.id == row_id).values(values))
        return 1


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- jobs ----------------------------------------------------------------------------------


@job(FLUSH_JOB, queue="default", retries=2, retry_delay=1.0)
async def flush_counters(rt: Runtime, *, spec: str) -> None:
    """Write one table's pending counter deltas into its rows."""
    await rt.counters.flush(rt, COUNTER_SPECS[spec])


@job("counters.flush_all", queue="maintenance", every_minutes=1)
async def flush_all_counters(rt: Runtime) -> None:
    """A safety net under the debounced flush: nothing stays pending for long, not even the
    rows of a flush that died half-way."""
    for spec in COUNTER_SPECS.values():
        if recovered := await rt.counters.recover(spec):
            log.warning("retrying %d %s counter rows of an unfinished flush", recovered, spec.name)
        await rt.counters.flush(rt, spec)


@job("counters.reconcile", queue="maintenance", every_minutes=60)
async def reconcile_all_counters(rt: Runtime) -> None:
    for spec in COUNTER_SPECS.values():
        await reconcile(rt, spec)


async def reconcile(rt: Runtime, spec: CounterSpec, ids: list[str] | None = None) -> int:
    """Recount every registered counter of `spec` (or of `ids`) from the rows; returns how many
    rows were corrected. A row whose counter moves meanwhile is left for the next run."""
    if not spec.truths:
        return 0
    table = spec.table
    fixed = 0
    after = ""
    while True:
        async with rt.unit_of_work(write=False) as session:
            query = select(table.c.id, *(table.c[f] for f in spec.fields), table.c[spec.seq_column])
            if ids is not None:
                query = query.where(table.c.id.in_(ids))
            else:
                query = query.where(table.c.id > after)
            rows = (await session.execute(query.order_by(table.c.id).limit(RECONCILE_BATCH))).all()
            if not rows:
                return fixed
            batch = [row.id for row in rows]
            truths = {name: await truth(session, batch) for name, truth in spec.truths.items()}
        pending = await rt.counters.pending(
            spec, {row.id: int(getattr(row, spec.seq_column)) for row in rows}
        )
        for row in rows:
            drifted = any(
                int(getattr(row, name)) + pending[row.id].get(name, 0) != counts.get(row.id, 0)
                for name, counts in truths.items()
            )
            if drifted and await _recount_row(rt, spec, row.id):
                fixed += 1
        if ids is not None or len(rows) < RECONCILE_BATCH:
            return fixed
        after = rows[-1].id


async def _recount_row(rt: Runtime, spec: CounterSpec, row_id: str) -> bool:
    table = spec.table
    async with rt.unit_of_work() as session:
        seq = await session.scalar(
            select(table.c[spec.seq_column]).where(table.c.id == row_id).with_for_update()
        )
        if seq is None:
            return False
        # The lock holds off new rows (their foreign key needs this row), but rows committed
        # just before it may still be on their way to the pending deltas: let them land, or
        # the recount would count them once in the column and again when they arrive.
        settle = rt.counters.settle_seconds
        if settle:
            await asyncio.sleep(settle)
        before = await rt.counters.pending(spec, {row_id: int(seq)})
        truths = {
            name: (await truth(session, [row_id])).get(row_id, 0)
            for name, truth in spec.truths.items()
        }
        after = await rt.counters.pending(spec, {row_id: int(seq)})
        if settle and after == before:
            # A row deleted while we counted (deletes need no lock) lands late the same way.
            await asyncio.sleep(settle)
            after = await rt.counters.pending(spec, {row_id: int(seq)})
        if before != after:
            return False  # a write landed while we counted: the next run will look again
        values = {name: count - after[row_id].get(name, 0) for name, count in truths.items()}
        await session.execute(update(table).where(table.c.id == row_id).values(values))
    log.info("recounted %s %s: %s", spec.name, row_id, values)
    return True
