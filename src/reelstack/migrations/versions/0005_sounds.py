"""sounds and sound reuse

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sounds",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("audio_key", sa.String(length=200), nullable=False),
        sa.Column("usage_count", sa.BigInteger(), nullable=False),
        sa.Column("is_original", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sounds_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sounds")),
    )
    with op.batch_alter_table("sounds", schema=None) as batch_op:
        batch_op.create_index("uq_sounds_video_id", ["video_id"], unique=True)
        batch_op.create_index("ix_sounds_usage", ["usage_count", "created_at"], unique=False)
        batch_op.create_index("ix_sounds_user_created", ["user_id", "created_at"], unique=False)

    op.create_table(
        "sound_uses",
        sa.Column("sound_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sound_id"],
            ["sounds.id"],
            name=op.f("fk_sound_uses_sound_id_sounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sound_id", "video_id", name=op.f("pk_sound_uses")),
    )
    with op.batch_alter_table("sound_uses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sound_uses_created_sound", ["created_at", "sound_id"], unique=False
        )
        batch_op.create_index("ix_sound_uses_video_id", ["video_id"], unique=False)

    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sound_mode", sa.String(length=8), nullable=True))
        batch_op.create_index(
            "ix_videos_sound_id_created_at", ["sound_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_sound_id_created_at")
        batch_op.drop_column("sound_mode")

    with op.batch_alter_table("sound_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_sound_uses_video_id")
        batch_op.drop_index("ix_sound_uses_created_sound")

    op.drop_table("sound_uses")
    with op.batch_alter_table("sounds", schema=None) as batch_op:
        batch_op.drop_index("ix_sounds_user_created")
        batch_op.drop_index("ix_sounds_usage")
        batch_op.drop_index("uq_sounds_video_id")

    op.drop_table("sounds")
