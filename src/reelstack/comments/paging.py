"""Keyset orders that the shared newest-first `Keyset` does not cover: oldest first (replies
read as a conversation) and most liked first ("top" comments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, tuple_

from reelstack.errors import Unprocessable
from reelstack.infra.pagination import decode_cursor, encode_cursor

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
T = TypeVar("T")


def _invalid_cursor() -> Unprocessable:
    return Unprocessable("The cursor is not one this list gave out.", code="invalid_cursor")


@dataclass(frozen=True)
class OldestFirst:
    """Ascending keyset paging on (a timestamp column, a unique tie-breaker column)."""

    time_column: Any
    tie_column: Any

    def apply(self, query: S, cursor: str | None, limit: int) -> S:
        """`query` after `cursor`, oldest first, with one extra row to tell if more follow."""
        position = decode_cursor(cursor, "t", "id")
        if position is not None:
            try:
                after = datetime.fromisoformat(position["t"])
            except ValueError:
                raise _invalid_cursor() from None
            query = query.where(
                tuple_(self.time_column, self.tie_column) > tuple_(after, position["id"])
            )
        return query.order_by(self.time_column.asc(), self.tie_column.asc()).limit(limit + 1)


@dataclass(frozen=True)
class MostLiked:
    """Descending keyset paging on (a count column, a unique tie-breaker column). Counts move
    while someone pages; an item whose count changes may then show twice or not at all, which
    a ranking by popularity accepts."""

    count_column: Any
    tie_column: Any

    def apply(self, query: S, cursor: str | None, limit: int) -> S:
        position = decode_cursor(cursor, "likes", "id")
        if position is not None:
            if not position["likes"].isdigit():
                raise _invalid_cursor()
            query = query.where(
                tuple_(self.count_column, self.tie_column)
                < tuple_(int(position["likes"]), position["id"])
            )
        return query.order_by(self.count_column.desc(), self.tie_column.desc()).limit(limit + 1)


def next_likes_cursor(rows: list[T], limit: int, position: Any) -> tuple[list[T], str | None]:
    """Cut the extra row off a `MostLiked` page; `position(row)` gives (count, id) of a row."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    count, tie = position(rows[-1])
    return rows, encode_cursor({"likes": str(count), "id": tie})
