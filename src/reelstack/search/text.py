"""Text as the search index sees it: folded, tokenised and encoded the same way for both
backends, so SQLite FTS5 and PostgreSQL match exactly the same terms.

Every index term is plain ASCII `[a-z0-9]`: words in other scripts (CJK bigrams, emoji,
Cyrillic, ...) are hex-encoded behind a marker. Neither backend's own tokeniser can then split
or drop anything, and a hex prefix is still a prefix, so prefix search works in every script.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

ENCODED_MARK = "q0"  # no ordinary word starts like this
ASCII_TERM = re.compile(r"^[a-z0-9]+$")
HASHTAG_CHARS = re.compile(r"^[\w\u200d\ufe0f\U0001f000-\U0001faff\u2600-\u27bf]{1,100}$")
CAPTION_HASHTAG = re.compile(r"#([\w\u200d\ufe0f\U0001f000-\U0001faff\u2600-\u27bf]{1,100})")
MAX_HASHTAGS = 30


def fold(text: str) -> str:
    """NFKC, case folding and accents stripped: 'Café', 'CAFE' and 'cafe' are one word."""
    text = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return unicodedata.normalize("NFC", stripped)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
    )


def _is_emoji(ch: str) -> bool:
    return unicodedata.category(ch) == "So"


def _char_class(ch: str) -> str:
    """'w' word character, 'c' CJK, 'e' emoji, '' separator (underscore separates too)."""
    if _is_cjk(ch):
        return "c"
    if ch.isalnum():
        return "w"
    if _is_emoji(ch):
        return "e"
    return ""


def _runs(text: str) -> Iterator[tuple[str, str]]:
    kind, start = "", 0
    for i, ch in enumerate(text):
        cls = _char_class(ch)
        if cls != kind or cls == "e":
            if kind:
                yield kind, text[start:i]
            kind, start = cls, i
    if kind:
        yield kind, text[start:]


def words(text: str) -> list[str]:
    """Folded words in order: CJK runs as overlapping bigrams (a lone character as itself),
    each emoji a word of its own."""
    out: list[str] = []
    for kind, run in _runs(fold(text)):
        if kind == "c" and len(run) > 1:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


def encode(word: str) -> str:
    """The index term of a folded word."""
    if ASCII_TERM.match(word):
        return word
    return ENCODED_MARK + word.encode().hex()


def decode(term: str) -> str:
    if term.startswith(ENCODED_MARK):
        try:
            return bytes.fromhex(term[len(ENCODED_MARK) :]).decode()
        except ValueError:
            return term
    return term


def terms(*texts: str) -> list[str]:
    """Distinct index terms of some texts, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in words(text):
            seen.setdefault(encode(word), None)
    return list(seen)


def is_correctable(term: str) -> bool:
    """Typo correction is for plain words long enough to have typos worth fixing."""
    return len(term) >= 4 and not term.startswith(ENCODED_MARK) and not term.isdigit()


def max_edits(term: str) -> int:
    if not is_correctable(term):
        return 0
    return 1 if len(term) <= 7 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, `limit + 1` once beyond it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[-1], limit + 1)


# -- hashtags ------------------------------------------------------------------------------------


def normalise_tag(raw: str) -> str:
    """One hashtag's canonical form: NFKC, case-folded, without its '#'; letters, digits,
    '_' and emoji in any script. Raises ValueError for anything else."""
    tag = unicodedata.normalize("NFKC", raw.strip()).casefold().lstrip("#")
    if not HASHTAG_CHARS.fullmatch(tag):
        raise ValueError(f"{raw!r} is not a hashtag: use letters, digits, '_' and emoji")
    return tag


def hashtags_of(caption: str, explicit: Iterable[str]) -> list[str]:
    """The hashtags of a video: its hashtags field, then those written in its caption."""
    seen: dict[str, None] = {}
    for raw in [*explicit, *CAPTION_HASHTAG.findall(unicodedata.normalize("NFKC", caption))]:
        try:
            seen.setdefault(normalise_tag(raw), None)
        except ValueError:
            continue
    return list(seen)[:MAX_HASHTAGS]
