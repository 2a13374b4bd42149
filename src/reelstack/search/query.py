"""A query as the index understands it: folded words, each widened by typo corrections, the
last one also a prefix; and how well a document's terms answer it.

Query text never reaches an engine's query syntax: it is reduced to index terms first
(`search.text`), so quotes, `*`, `-`, OR, NEAR, parentheses or SQL are plain words.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.errors import Unprocessable
from reelstack.infra.search import Alternative, SearchBackend
from reelstack.search import text
from reelstack.search.models import SearchTerm

MAX_QUERY_LENGTH = 200
MAX_WORDS = 8
MAX_CORRECTIONS = 3
PREFIX_COMPLETIONS = 10
# How much each way of matching a query word counts, in the primary field (caption, tags,
# names); the secondary field (description, display name, sound) counts half.
EXACT, PREFIX, CORRECTED = 1.0, 0.8, 0.7
SECONDARY_FIELD = 0.5


def clean(q: str | None) -> str:
    """The query text, or a 422 for an empty or overlong one."""
    # Control characters (a NUL above all, which PostgreSQL refuses) are not text.
    q = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in q or "").strip()
    if not q:
        raise Unprocessable("Type something to search for.", code="empty_query")
    if len(q) > MAX_QUERY_LENGTH:
        raise Unprocessable(
            f"A search is at most {MAX_QUERY_LENGTH} characters.", code="query_too_long"
        )
    return q


@dataclass
class Expanded:
    """Per query word, the index terms that answer it and how well."""

    groups: list[dict[str, float]] = field(default_factory=list)

    def alternatives(self) -> list[list[Alternative]]:
        return [[Alternative(term) for term in group] for group in self.groups]

    def any_word(self) -> list[list[Alternative]]:
        """Every word's alternatives in one group: documents matching any word."""
        return [[Alternative(term) for group in self.groups for term in group]]

    def score(self, primary: set[str], secondary: set[str]) -> float:
        """Between 0 (nothing matched) and 1 (every word exactly, in the primary field)."""
        if not self.groups:
            return 0.0
        total = 0.0
        for group in self.groups:
            best = 0.0
            for term, quality in group.items():
                if term in primary:
                    best = max(best, quality)
                elif term in secondary:
                    best = max(best, quality * SECONDARY_FIELD)
            total += best
        return total / len(self.groups)


async def expand(session: AsyncSession, backend: SearchBackend, q: str) -> Expanded:
    """The words of `q`, each with its typo corrections; the last word also stands for the
    most common vocabulary words it begins (a prefix search both backends run the same way,
    and fast: a handful of exact terms rather than a scan of every term with the prefix)."""
    words = text.terms(q)[:MAX_WORDS]
    known = await _known(session, words)
    expanded = Expanded()
    for i, word in enumerate(words):
        group = {word: EXACT}
        edits = text.max_edits(word)
        if edits and word not in known:
            for fixed in await corrections(session, backend, word, edits):
                group.setdefault(fixed, CORRECTED)
        if i == len(words) - 1:
            for completed in await completions(session, word):
                group.setdefault(completed, PREFIX)
        expanded.groups.append(group)
    return expanded


def starts_with(column: Any, prefix: str) -> Any:
    """`column` begins with `prefix`: LIKE says so exactly, the range lets an index find it
    (the next code point bounds the prefix in C collation and, for letters and digits, in
    language collations too)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters
        following = 0xE000
    upper = prefix[:-1] + chr(following) if following <= 0x10FFFF else None
    clauses = [column >= prefix, column.like(escaped + "%", escape="\\")]
    if upper is not None:
        clauses.append(column < upper)
    return and_(*clauses)


async def completions(session: AsyncSession, prefix: str) -> list[str]:
    """The most common vocabulary words that begin with `prefix`."""
    rows = await session.scalars(
        select(SearchTerm.term)
        .where(
            starts_with(SearchTerm.term, prefix),
            SearchTerm.term != prefix,
            SearchTerm.doc_count > 0,
        )
        .order_by(SearchTerm.doc_count.desc(), SearchTerm.term)
        .limit(PREFIX_COMPLETIONS)
    )
    return list(rows)


async def _known(session: AsyncSession, words: list[str]) -> set[str]:
    if not words:
        return set()
    rows = await session.scalars(
        select(SearchTerm.term).where(SearchTerm.term.in_(words), SearchTerm.doc_count > 0)
    )
    return set(rows)


async def corrections(
    session: AsyncSession, backend: SearchBackend, word: str, edits: int
) -> list[str]:
    """The closest vocabulary words within `edits`, the most common first."""
    candidates = await backend.similar_terms(session, word, edits)
    close = {c: d for c in candidates if (d := text.edit_distance(word, c, edits)) <= edits}
    if not close:
        return []
    rows = await session.execute(
        select(SearchTerm.term, SearchTerm.doc_count).where(SearchTerm.term.in_(sorted(close)))
    )
    counts = {term: count for term, count in rows}
    ranked = sorted(close, key=lambda c: (close[c], -counts.get(c, 0), c))
    return ranked[:MAX_CORRECTIONS]
