"""Full-text search backends: SQLite FTS5 (embedded) and PostgreSQL full text with pg_trgm
(scale-out), behind one small interface.

Both receive terms already folded and tokenised the same way (`reelstack.search.text`), each
a plain `[a-z0-9]+` word, so what matches is the same on both; ranking happens above them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, bindparam, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

# Tables and indexes outside the models carry this prefix; the schema comparison skips them.
UNMODELLED_PREFIX = "fts_"
FTS_TABLE = "fts_search_documents"
SAFE_TERM = re.compile(r"^[a-z0-9]{1,200}$")
# pg_trgm's similarity below which a vocabulary term is not even considered a typo candidate.
TRIGRAM_THRESHOLD = 0.25
MAX_CANDIDATE_TERMS = 50
# A query looks at the newest this many matching documents (the highest ids: documents are
# numbered as they are first indexed), so a word in half of all videos costs no more than a
# rare one; both backends cut at the same place, so they still agree.
MATCH_WINDOW = 1000


@dataclass(frozen=True)
class Alternative:
    term: str
    prefix: bool = False


# A query: every group must match (AND), through any of its alternatives (OR).
TermGroups = Sequence[Sequence[Alternative]]


def _checked(term: str) -> str:
    # Terms are spliced into the engine's query syntax: only plain words may get there.
    if not SAFE_TERM.match(term):
        raise ValueError(f"not an index term: {term!r}")
    return term


def is_unmodelled(name: str | None) -> bool:
    return bool(name) and str(name).startswith(UNMODELLED_PREFIX)


class SearchBackend(Protocol):
    name: str

    async def store(self, session: AsyncSession, doc_id: int, terms: str) -> None:
        """Make document `doc_id` findable by `terms` (space-separated index terms)."""

    async def drop(self, session: AsyncSession, doc_id: int) -> None: ...

    def matches(self, id_column: Any, terms_column: Any, groups: TermGroups) -> ColumnElement[bool]:
        """A WHERE clause: the document is among the newest `MATCH_WINDOW` whose terms satisfy
        `groups`."""

    async def learn_terms(self, session: AsyncSession, new_terms: Collection[str]) -> None:
        """New vocabulary words, for typo correction."""

    async def similar_terms(self, session: AsyncSession, term: str, max_edits: int) -> list[str]:
        """Vocabulary words that may be within `max_edits` of `term` (the caller verifies)."""


def deletes(term: str, depth: int) -> set[str]:
    found = {term}
    frontier = {term}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w)) if len(w) > 1}
        found |= frontier
    return found


def spell_depth(term: str) -> int:
    """How many deletes of a vocabulary word the SQLite spell table keeps."""
    if len(term) < 4 or len(term) > 24 or term.isdigit():
        return 0
    return 1 if len(term) <= 7 else 2


class SqliteFts5Search:
    """FTS5 over the documents (rowid = document id); SymSpell deletes for typos."""

    name = "sqlite-fts5"

    async def store(self, session: AsyncSession, doc_id: int, terms: str) -> None:
        await self.drop(session, doc_id)
        await session.execute(
            text("INSERT INTO fts_search_documents (rowid, terms) VALUES (:id, :terms)"),
            {"id": doc_id, "terms": terms},
        )

    async def drop(self, session: AsyncSession, doc_id: int) -> None:
        await session.execute(
            text("DELETE FROM fts_search_documents WHERE rowid = :id"), {"id": doc_id}
        )

    def matches(self, id_column: Any, terms_column: Any, groups: TermGroups) -> ColumnElement[bool]:
        expression = " AND ".join(
            "(" + " OR ".join(f'"{_checked(a.term)}"' + ("*" if a.prefix else "") for a in g) + ")"
            for g in groups
        )
        matching: Any = (
            select(literal_column("rowid"))
            .select_from(text(FTS_TABLE))
            .where(literal_column(FTS_TABLE).op("MATCH")(bindparam("fts_query", expression)))
            .order_by(literal_column("rowid").desc())
            .limit(MATCH_WINDOW)
        )
        clause: ColumnElement[bool] = id_column.in_(matching.scalar_subquery())
        return clause

    async def learn_terms(self, session: AsyncSession, new_terms: Collection[str]) -> None:
        rows = [
            {"variant": variant, "term": term}
            for term in new_terms
            for variant in deletes(term, spell_depth(term))
            if spell_depth(term)
        ]
        if rows:
            await session.execute(
                text(
                    "INSERT OR IGNORE INTO search_term_deletes (variant, term) "
                    "VALUES (:variant, :term)"
                ),
                rows,
            )

    async def similar_terms(self, session: AsyncSession, term: str, max_edits: int) -> list[str]:
        variants = sorted(deletes(term, max_edits))
        found = await session.execute(
            text(
                "SELECT DISTINCT d.term FROM search_term_deletes d "
                "JOIN search_terms t ON t.term = d.term "
                "WHERE d.variant IN :variants AND t.doc_count > 0 LIMIT :limit"
            ).bindparams(bindparam("variants", expanding=True)),
            {"variants": variants, "limit": MAX_CANDIDATE_TERMS * 4},
        )
        return [row[0] for row in found]


class PostgresFullTextSearch:
    """tsvector of the document's terms under a GIN index; pg_trgm similarity for typos."""

    name = "postgres-fts"

    async def store(self, session: AsyncSession, doc_id: int, terms: str) -> None:
        return None  # the GIN expression index follows the row

    async def drop(self, session: AsyncSession, doc_id: int) -> None:
        return None

    def matches(self, id_column: Any, terms_column: Any, groups: TermGroups) -> ColumnElement[bool]:
        expression = " & ".join(
            "(" + " | ".join(f"'{_checked(a.term)}'" + (":*" if a.prefix else "") for a in g) + ")"
            for g in groups
        )
        matched = terms_column.table.alias("matched")
        # The very expression the GIN index is built on (migration 0004), separator inline:
        # a bound separator would not match the index expression.
        vector = func.array_to_tsvector(
            func.string_to_array(matched.c[terms_column.key], literal_column("' '"))
        )
        newest = (
            select(matched.c[id_column.key])
            .where(vector.op("@@")(cast(bindparam("ts_query", expression), TSQUERY)))
            .order_by(matched.c[id_column.key].desc())
            .limit(MATCH_WINDOW)
        )
        clause: ColumnElement[bool] = id_column.in_(newest.scalar_subquery())
        return clause

    async def learn_terms(self, session: AsyncSession, new_terms: Collection[str]) -> None:
        return None  # the trigram index follows the vocabulary table

    async def similar_terms(self, session: AsyncSession, term: str, max_edits: int) -> list[str]:
        await session.execute(
            text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
            {"t": str(TRIGRAM_THRESHOLD)},
        )
        found = await session.execute(
            text(
                "SELECT term FROM search_terms WHERE term % :term AND doc_count > 0 "
                "AND length(term) BETWEEN :shortest AND :longest "
                "ORDER BY similarity(term, :term) DESC, term LIMIT :limit"
            ),
            {
                "term": term,
                "shortest": len(term) - max_edits,
                "longest": len(term) + max_edits,
                "limit": MAX_CANDIDATE_TERMS,
            },
        )
        return [row[0] for row in found]


def build_search(database_url: str) -> SearchBackend:
    """The backend that goes with the relational store."""
    if database_url.startswith("sqlite"):
        return SqliteFts5Search()
    return PostgresFullTextSearch()
