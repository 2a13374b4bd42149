"""Diversity re-ranking rules, on made-up ranked lists."""

from __future__ import annotations

from reelstack.feed.rerank import Slot, rerank


def slot(
    n: int, creator: str, *, sound: str | None = None, cat: str | None = None, explore: bool = False
) -> Slot:
    return Slot(f"v{n}", 100.0 - n, creator, sound, cat, explore)


def test_no_creator_three_times_in_a_row_even_across_pages() -> None:
    ranked = [slot(n, "a") for n in range(6)] + [slot(n, "b") for n in range(6, 9)]
    out = rerank(ranked, 9)
    creators = [s.creator_id for s in out]
    assert all(creators[i : i + 3] != [creators[i]] * 3 for i in range(len(creators) - 2))
    before = [slot(90, "b"), slot(91, "b")]
    assert rerank([slot(1, "b"), slot(2, "c")], 1, before)[0].creator_id == "c"


def test_at_most_three_of_one_sound_in_twenty() -> None:
    ranked = [slot(n, f"c{n}", sound="s") for n in range(6)] + [
        slot(n, f"c{n}") for n in range(6, 30)
    ]
    out = rerank(ranked, 20)
    assert sum(1 for s in out if s.sound_id == "s") == 3


def test_every_tenth_slot_explores_and_categories_mix() -> None:
    ranked = [slot(n, f"c{n}", cat="food" if n < 15 else "sport") for n in range(20)]
    ranked += [slot(n, f"e{n}", explore=True) for n in range(50, 53)]
    out = rerank(ranked, 20)
    assert out[9].explore and out[19].explore
    cats = [s.category for s in out]
    assert all(cats[i : i + 4] != ["food"] * 4 for i in range(len(cats) - 3))
