"""follows by followee in follower order

Fan-out and new-post notifications walk a creator's followers in batches of 1,000 keyed on
follower_id; without this index each batch sorted every remaining follower (quadratic: a
creator with 1M followers took minutes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 07:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_followee_follower", ["followee_id", "follower_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_followee_follower")
