"""A For-You list as stored in the cache: what a page reads back of it."""

from __future__ import annotations

import json

from reelstack.feed.for_you import CHUNK, Entry, StoredList, pack_features
from reelstack.recommend.features import FEATURES


def entry(n: int) -> Entry:
    values = [round(0.1 * n + i / 100, 4) for i in range(len(FEATURES))]
    return Entry(
        f"v{n}", 1.0 - n / 1000, f"c{n % 3}", None, "food", ["cooking", 'say "hi"\n'], "affinity",
        "because you liked #cooking", pack_features(values),
    )  # fmt: skip


def test_a_list_reads_back_as_it_was_written() -> None:
    written = StoredList.of("ver", 12.5, [entry(n) for n in range(130)])
    read = StoredList.decoded(written.encoded())
    assert (read.version, read.built_at, len(read)) == ("ver", 12.5, 130)
    assert read.window(125, 10) == [entry(n) for n in range(125, 130)]
    assert read.entries == written.entries
    assert read.entry(3).feature_values() == dict(
        zip(FEATURES, [round(0.3 + i / 100, 4) for i in range(len(FEATURES))], strict=True)
    )


def test_a_page_decodes_only_the_lines_under_its_window() -> None:
    read = StoredList.decoded(StoredList.of("ver", 1.0, [entry(n) for n in range(500)]).encoded())
    window = read.window(CHUNK * 2 + 5, CHUNK)
    assert [e.video_id for e in window] == [f"v{n}" for n in range(CHUNK * 2 + 5, CHUNK * 3 + 5)]
    assert sorted(read._chunks) == [2, 3]
    assert read.find(f"v{CHUNK * 2 + 7}") == entry(CHUNK * 2 + 7)
    assert read.find("v0") is None  # not decoded: a page looks such videos up elsewhere


def test_a_list_stored_whole_with_features_as_numbers_still_reads() -> None:
    """A list written before lines and features as text, still in a shared cache (Redis)
    when a new version of the server starts."""
    rows = [e.packed() for e in map(entry, range(60))]
    for row in rows:
        row[-1] = [float(v) for v in row[-1].split(",")]
    raw = json.dumps({"v": "old", "at": 3.0, "e": rows}, separators=(",", ":"))
    read = StoredList.decoded(raw)
    assert (read.version, len(read)) == ("old", 60)
    assert read.entries == [entry(n) for n in range(60)]
    assert read.entry(4).feature_values()["similarity"] == 0.4


def test_an_impression_logs_the_features_as_a_json_object() -> None:
    served = entry(2)
    assert json.loads(served.features_json()) == served.feature_values()
    odd = pack_features([float("nan"), 1, -0.0, 1e-7] + [0.5] * (len(FEATURES) - 4))
    assert odd.startswith("0.0,1.0,-0.0,1e-07,")
    assert json.loads(Entry("v", 1.0, "c", None, None, [], "x", "", odd).features_json())


def test_a_list_cut_with_another_line_length_is_cut_again() -> None:
    rows = [e.packed() for e in map(entry, range(75))]
    head = json.dumps({"v": "ver", "at": 2.0, "n": 75, "c": 30})
    raw = "\n".join([head, *(json.dumps(rows[i : i + 30]) for i in range(0, 75, 30))])
    read = StoredList.decoded(raw)
    assert len(read.lines) == -(-75 // CHUNK)
    assert read.window(CHUNK - 1, 3) == [entry(n) for n in range(CHUNK - 1, CHUNK + 2)]
