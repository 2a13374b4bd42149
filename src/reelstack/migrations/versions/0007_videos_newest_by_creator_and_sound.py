"""videos newest by creator and by sound

Feeds read the newest videos of each followed creator (and of each sound) in publish order;
without these indexes every video of a creator was read and sorted per query.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 07:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index(
            "ix_videos_user_id_published_at", ["user_id", "published_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_videos_sound_id_published_at", ["sound_id", "published_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_sound_id_published_at")
        batch_op.drop_index("ix_videos_user_id_published_at")
