"""One object per runtime in this process (a log that batches writes, a shelf of kept cards):
made on first use, and made again for a new runtime that happens to reuse a gone one's id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerRuntime(Generic[T]):
    def __init__(self, make: Callable[[Any], T]) -> None:
        self._make = make
        self._made: dict[int, tuple[Any, T]] = {}

    def __call__(self, rt: Any) -> T:
        found = self._made.get(id(rt))
        if found is None or found[0] is not rt:
            found = self._made[id(rt)] = (rt, self._make(rt))
        return found[1]
