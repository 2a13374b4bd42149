"""How text becomes index terms, identically for both backends."""

from __future__ import annotations

import pytest

from reelstack.infra.search import SAFE_TERM, deletes
from reelstack.search import text


def full_width(ascii_text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in ascii_text)


def test_folding_removes_case_accents_and_width() -> None:
    assert text.fold("CAFÉ Crème") == "cafe creme"
    assert text.fold(full_width("cafe")) == "cafe"
    assert text.fold("Straße") == "strasse"


def test_words_split_scripts_cjk_bigrams_and_emoji() -> None:
    assert text.words("Hip-hop_dance 2024!") == ["hip", "hop", "dance", "2024"]
    assert text.words("舞蹈教学") == ["舞蹈", "蹈教", "教学"]
    assert text.words("舞") == ["舞"]
    assert text.words("fire🔥🔥ok") == ["fire", "🔥", "🔥", "ok"]


def test_every_term_is_a_plain_ascii_word_and_prefixes_survive_encoding() -> None:
    terms = text.terms('Ёлка 東京タワー 🔥 naïve "quoted" OR NEAR(x) \'; DROP TABLE')
    assert all(SAFE_TERM.match(t) for t in terms)
    assert text.encode("東京").startswith(text.encode("東"))
    assert text.decode(text.encode("東京")) == "東京"


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("dance", "dnce", 1), ("tutorial", "tutorail", 1), ("dance", "dance", 0),
     ("kitten", "sitting", 3), ("abc", "abcdef", 3)],
)  # fmt: skip
def test_edit_distance_counts_transpositions_as_one(a: str, b: str, distance: int) -> None:
    assert text.edit_distance(a, b, 2) == min(distance, 3)


def test_symspell_deletes_meet_for_any_word_within_the_limit() -> None:
    assert deletes("dance", 1) & deletes("dnce", 1)
    assert deletes("dacne", 1) & deletes("dance", 1)  # a swap
    assert deletes("tutorial", 2) & deletes("tutoriall", 2)


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("#Dance", "dance"),
        (full_width("DANCE"), "dance"),
        ("#東京", "東京"),
        ("🔥", "🔥"),
        ("#hip_hop", "hip_hop"),
    ],
)
def test_hashtags_are_normalised(raw: str, tag: str) -> None:
    assert text.normalise_tag(raw) == tag


@pytest.mark.parametrize("raw", ["", "#", "two words", "semi;colon", "x" * 101])
def test_bad_hashtags_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        text.normalise_tag(raw)


def test_hashtags_come_from_the_field_and_the_caption() -> None:
    assert text.hashtags_of("Night walk #Tokyo #夜景 #🔥 #tokyo", ["City", "#night"]) == [
        "city", "night", "tokyo", "夜景", "🔥"
    ]  # fmt: skip
