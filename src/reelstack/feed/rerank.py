"""Diversity re-ranking: never more than 2 in a row from one creator, at most 3 with the same
sound in any 20, no long runs of one category, and about one slot in ten for exploration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

MAX_CREATOR_RUN = 2
SOUND_WINDOW = 20
MAX_SAME_SOUND = 3
MAX_CATEGORY_RUN = 3
EXPLORE_EVERY = 10


class Slot(NamedTuple):
    """A ranked candidate as re-ranking sees it. A tuple, not a frozen dataclass: a page makes
    ~120 of them, and a frozen dataclass's `__init__` sets each field through
    `object.__setattr__`."""

    video_id: str
    score: float
    creator_id: str
    sound_id: str | None
    category: str | None
    explore: bool


def _fits(slot: Slot, placed: Sequence[Slot], *, mix_categories: bool) -> bool:
    recent = placed[-MAX_CREATOR_RUN:]
    if len(recent) == MAX_CREATOR_RUN and all(p.creator_id == slot.creator_id for p in recent):
        return False
    if slot.sound_id:
        window = placed[-(SOUND_WINDOW - 1) :]
        if sum(1 for p in window if p.sound_id == slot.sound_id) >= MAX_SAME_SOUND:
            return False
    if mix_categories and slot.category:
        run = placed[-MAX_CATEGORY_RUN:]
        if len(run) == MAX_CATEGORY_RUN and all(p.category == slot.category for p in run):
            return False
    return True


def rerank(ranked: Sequence[Slot], limit: int, before: Sequence[Slot] = ()) -> list[Slot]:
    """Up to `limit` slots in feed order; `before` are the slots already shown just before
    (their creators and sounds count). Candidates that fit nowhere are left out."""
    main = [s for s in ranked if not s.explore]
    explore = [s for s in ranked if s.explore]
    placed: list[Slot] = list(before)
    start = len(placed)
    while len(placed) - start < limit and (main or explore):
        position = len(placed) - start + 1
        queues = [explore, main] if position % EXPLORE_EVERY == 0 else [main, explore]
        chosen = None
        for mix in (True, False):  # mixing categories gives way before the hard rules do
            for queue in queues:
                chosen = next((s for s in queue if _fits(s, placed, mix_categories=mix)), None)
                if chosen is not None:
                    queue.remove(chosen)
                    break
            if chosen is not None:
                break
        if chosen is None:
            break
        placed.append(chosen)
    return placed[start:]
