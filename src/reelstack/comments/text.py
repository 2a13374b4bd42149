"""What a comment's text means beyond its characters: its normal form for the duplicate check,
the @usernames it mentions, and whether the held-word filter matches it."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_MENTIONS = 20
WORD_FILTER_REASON = "word_filter"
# Not after a word character, '@' or '.', so an e-mail address mentions nobody.
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.]{3,30})")


def normalised(text: str) -> str:
    """The text as a reader compares it: case and runs of whitespace do not matter."""
    return " ".join(text.casefold().split())


def duplicate_key(user_id: str, text: str) -> str:
    """The cache key that marks this user as having just posted this text."""
    digest = hashlib.sha256(normalised(text).encode()).hexdigest()[:32]
    return f"comments:recent:{user_id}:{digest}"


def mentioned_usernames(text: str) -> list[str]:
    """The distinct usernames `@mentioned`, lower-cased, in order of first appearance."""
    names: list[str] = []
    for raw in _MENTION.findall(text):
        # A sentence may end right after a mention ("thanks @ana."); usernames never end in '.'.
        name = raw.rstrip(".").lower()
        if len(name) >= 3 and name not in names:
            names.append(name)
            if len(names) == MAX_MENTIONS:
                break
    return names


@lru_cache(maxsize=8)
def _held_pattern(words: str) -> re.Pattern[str] | None:
    listed = sorted({normalised(w) for w in words.split(",") if w.strip()}, key=len)
    if not listed:
        return None
    # Longest first, so "bad word" wins over "bad"; any run of whitespace between the words of
    # a phrase; lookarounds instead of \b, so a listed word that starts or ends with
    # punctuation still matches as a whole word.
    alternatives = "|".join(
        r"\s+".join(re.escape(part) for part in w.split()) for w in reversed(listed)
    )
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def held_reason(text: str, held_words: str) -> str | None:
    """Why this text must wait for a moderator (None when it need not): a listed word."""
    pattern = _held_pattern(held_words)
    if pattern is None or pattern.search(text) is None:
        return None
    return WORD_FILTER_REASON
