"""notifications by user and group

A digest asks whether a user was already told of a subject (a comment, a video's likes) by
(user_id, group_key). Without this index both databases found those rows through the user's
index on update time, reading every notification of the user: a creator with thousands of
notifications made every digest of their videos slower (bench/RESULTS.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_group", ["user_id", "group_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_group")
