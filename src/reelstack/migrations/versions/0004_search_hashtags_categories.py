"""search index, hashtags and categories

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Objects outside the models (reelstack.infra.search.UNMODELLED_PREFIX): the FTS5 table on
# SQLite, the expression and trigram indexes on PostgreSQL.
FTS_TABLE = "fts_search_documents"
PG_TSV_INDEX = "fts_search_documents_terms"
PG_TRGM_INDEX = "fts_search_terms_trgm"


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.String(length=26), nullable=False),
        sa.Column("primary_terms", sa.Text(), nullable=False),
        sa.Column("secondary_terms", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("rank_key", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index("ix_search_documents_kind_ref_id", ["kind", "ref_id"], unique=True)
        batch_op.create_index(
            "ix_search_documents_kind_rank_key", ["kind", "rank_key"], unique=False
        )
    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("doc_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_search_terms")),
    )
    op.create_table(
        "search_term_deletes",
        sa.Column("variant", sa.String(length=200), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("variant", "term", name=op.f("pk_search_term_deletes")),
    )
    op.create_table(
        "hashtags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("video_count", sa.Integer(), nullable=False),
        sa.Column("view_count", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag", name=op.f("pk_hashtags")),
    )
    with op.batch_alter_table("hashtags", schema=None) as batch_op:
        batch_op.create_index("ix_hashtags_video_count", ["video_count"], unique=False)
    op.create_table(
        "video_hashtags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("tag", "video_id", name=op.f("pk_video_hashtags")),
    )
    with op.batch_alter_table("video_hashtags", schema=None) as batch_op:
        batch_op.create_index("ix_video_hashtags_video_id", ["video_id"], unique=False)
    op.create_table(
        "search_queries",
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_searched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query", name=op.f("pk_search_queries")),
    )
    with op.batch_alter_table("search_queries", schema=None) as batch_op:
        batch_op.create_index("ix_search_queries_count", ["count"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        # Terms are pre-tokenised ASCII words (search.text); the FTS table keeps its own copy.
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
            "terms, tokenize = 'unicode61 remove_diacritics 0', detail = 'none')"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX {PG_TSV_INDEX} ON search_documents USING gin "
            "(array_to_tsvector(string_to_array(terms, ' ')))"
        )
        op.execute(f"CREATE INDEX {PG_TRGM_INDEX} ON search_terms USING gin (term gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {PG_TRGM_INDEX}")
        op.execute(f"DROP INDEX IF EXISTS {PG_TSV_INDEX}")
    with op.batch_alter_table("search_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_search_queries_count")
    op.drop_table("search_queries")
    with op.batch_alter_table("video_hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_video_hashtags_video_id")
    op.drop_table("video_hashtags")
    with op.batch_alter_table("hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_hashtags_video_count")
    op.drop_table("hashtags")
    op.drop_table("search_term_deletes")
    op.drop_table("search_terms")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_kind_rank_key")
        batch_op.drop_index("ix_search_documents_kind_ref_id")
    op.drop_table("search_documents")
