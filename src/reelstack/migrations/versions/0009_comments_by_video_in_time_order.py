"""comments by video in time order

The comment notifications of a video are made once a second from its comments since the last
run; without this index each run read every comment of the video (the older index puts
thread_id between video_id and created_at).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_video_created", ["video_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_video_created")
