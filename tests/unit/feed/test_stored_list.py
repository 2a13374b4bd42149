"""A For-You list as stored in the cache: what a page reads back of it."""

from __future__ import annotations

import json

from reelstack.feed.for_you import Entry, StoredList, pack_features
from reelstack.recommend.features import FEATURES


def entry(n: int) -> Entry:
    values = [round(0.1 * n + i / 100, 4) for i in range(len(FEATURES))]
    return Entry(
        f"v{n}", 1.0 - n / 100, f"c{n % 3}", None, "food", ["cooking"], "affinity",
        "because you liked #cooking", pack_features(values),
    )  # fmt: skip


def test_a_list_reads_back_as_it_was_written() -> None:
    written = StoredList.of("ver", 12.5, [entry(n) for n in range(50)])
    raw = json.dumps({"v": written.version, "at": written.built_at, "e": written.packed})
    data = json.loads(raw)
    read = StoredList(data["v"], data["at"], data["e"])
    assert len(read) == 50
    assert read.window(45, 10) == written.entries[45:]
    assert read.find("v7") == entry(7) and read.find("v99") is None
    assert read.entry(3).feature_values() == dict(
        zip(FEATURES, [round(0.3 + i / 100, 4) for i in range(len(FEATURES))], strict=True)
    )


def test_a_list_stored_with_features_as_numbers_still_reads() -> None:
    """Lists written before features were text, still in a shared cache after an upgrade."""
    old = entry(4).packed()
    old[-1] = [float(v) for v in old[-1].split(",")]
    read = StoredList("old", 1.0, [old])
    assert read.entry(0) == entry(4)
    assert read.entry(0).feature_values()["similarity"] == 0.4
