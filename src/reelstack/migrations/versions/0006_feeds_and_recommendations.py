"""feeds, impressions and recommendation signals

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index("ix_videos_published_at", ["published_at"], unique=False)

    op.create_table(
        "feed_impressions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("feed", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_impressions")),
    )
    with op.batch_alter_table("feed_impressions", schema=None) as batch_op:
        batch_op.create_index("ix_feed_impressions_created", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_feed_impressions_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "not_interested",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_not_interested_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_not_interested_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_not_interested")),
    )
    with op.batch_alter_table("not_interested", schema=None) as batch_op:
        batch_op.create_index(
            "ix_not_interested_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "ranker_models",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("trained_on", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranker_models")),
    )
    with op.batch_alter_table("ranker_models", schema=None) as batch_op:
        batch_op.create_index("ix_ranker_models_created", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("ranker_models")
    op.drop_table("not_interested")
    op.drop_table("feed_impressions")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_published_at")
