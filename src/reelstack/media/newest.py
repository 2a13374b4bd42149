"""The newest videos of many creators (or sounds) at once, each read in publish order from its
own range of a `(key, published_at, id)` index and the ranges merged: the cost follows the
number of videos asked for, not how many each creator has. One `IN (...)` over the creators
instead reads every video of every one of them and sorts them all (1.4 to 1.7 s per query for
creators of 50K to 100K videos in a 1M-video world)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from reelstack.media.models import Video

# Keys per statement: each is one SELECT of a UNION ALL (SQLite allows 500 by default).
KEYS_PER_STATEMENT = 100


async def newest_of(
    session: AsyncSession,
    key: InstrumentedAttribute[Any],
    values: Sequence[str],
    *where: ColumnElement[bool],
    limit: int,
    before: datetime | None = None,
    per_key: int | None = None,
) -> list[tuple[str, datetime]]:
    """(id, published_at) of the `limit` newest published videos whose `key` (Video.user_id
    or Video.sound_id) is one of `values` and that meet `where`, newest first (ties: higher
    id first), published at or before `before` if given; at most `per_key` of each value when
    given (then not the exact newest `limit` when one value has many of them)."""
    if not values or limit <= 0:
        return []
    each = min(limit, per_key) if per_key else limit
    found: list[tuple[str, datetime]] = []
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), KEYS_PER_STATEMENT):
        parts = []
        for value in unique[start : start + KEYS_PER_STATEMENT]:
            query = select(Video.id, Video.published_at).where(
                key == value, Video.published_at.is_not(None), *where
            )
            if before is not None:
                query = query.where(Video.published_at <= before)
            ordered = query.order_by(Video.published_at.desc(), Video.id.desc()).limit(each)
            parts.append(select(ordered.subquery()))
        statement = parts[0] if len(parts) == 1 else union_all(*parts)
        found += [(vid, at) for vid, at in await session.execute(statement)]
    found.sort(key=lambda row: (row[1], row[0]), reverse=True)
    return found[:limit]
