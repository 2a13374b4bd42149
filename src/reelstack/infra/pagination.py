"""Opaque keyset cursors: a page boundary survives inserts, unlike an offset."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select, tuple_

from reelstack.errors import Unprocessable

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
T = TypeVar("T")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the page before.")
]


@dataclass(frozen=True)
class PageParams:
    cursor: str | None
    size: int


async def page_params(cursor: Cursor = None, page_size: PageSize = DEFAULT_PAGE_SIZE) -> PageParams:
    return PageParams(cursor, page_size)


# The query parameters of every cursor-paginated list: `?page_size=20&cursor=...`.
Paging = Annotated[PageParams, Depends(page_params)]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *keys: str) -> dict[str, Any] | None:
    """The position inside `cursor`, which must carry `keys`; a bad cursor is a 422."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or any(not isinstance(position.get(k), str) for k in keys):
        raise Unprocessable("The cursor is not one this list gave out.", code="invalid_cursor")
    return position


@dataclass(frozen=True)
class Keyset:
    """Newest-first keyset paging on (a timestamp column, a unique tie-breaker column)."""

    time_column: Any
    tie_column: Any

    def apply(self, query: S, cursor: str | None, limit: int) -> S:
        """`query` restricted to rows after `cursor`, newest first, one extra row to see if
        there is a next page."""
        position = decode_cursor(cursor, "t", "id")
        if position is not None:
            try:
                after = datetime.fromisoformat(position["t"])
            except ValueError:
                raise Unprocessable(
                    "The cursor is not one this list gave out.", code="invalid_cursor"
                ) from None
            query = query.where(
                tuple_(self.time_column, self.tie_column) < tuple_(after, position["id"])
            )
        return query.order_by(self.time_column.desc(), self.tie_column.desc()).limit(limit + 1)


def next_cursor(rows: list[T], limit: int, position: Any) -> tuple[list[T], str | None]:
    """Cut the extra row off a keyset page; `position(row)` gives (time, id) of a row."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    moment, tie = position(rows[-1])
    return rows, encode_cursor({"t": moment.isoformat(), "id": tie})
