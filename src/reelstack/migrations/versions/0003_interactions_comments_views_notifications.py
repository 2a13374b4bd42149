"""interactions, comments, views and notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 19:34:12.197715
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("video_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_collections_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collections_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "type", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "collection_videos",
        sa.Column("collection_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_videos_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_collection_videos_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "video_id", name=op.f("pk_collection_videos")),
    )
    with op.batch_alter_table("collection_videos", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collection_videos_collection_added", ["collection_id", "added_at"], unique=False
        )
        batch_op.create_index("ix_collection_videos_video_id", ["video_id"], unique=False)

    op.create_table(
        "comments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("thread_id", sa.String(length=26), nullable=True),
        sa.Column("reply_to_user_id", sa.String(length=26), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentioned_user_ids", sa.JSON(), nullable=False),
        sa.Column("like_count", sa.BigInteger(), nullable=False),
        sa.Column("dislike_count", sa.BigInteger(), nullable=False),
        sa.Column("reply_count", sa.BigInteger(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("is_edited", sa.Boolean(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("held_for_review", sa.Boolean(), nullable=False),
        sa.Column("held_reason", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_to_user_id"],
            ["users.id"],
            name=op.f("fk_comments_reply_to_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["comments.id"],
            name=op.f("fk_comments_thread_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_comments_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_comments_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_comments_thread_created", ["thread_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_comments_user_created", ["user_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_comments_video_thread_created",
            ["video_id", "thread_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_comments_video_thread_likes", ["video_id", "thread_id", "like_count"], unique=False
        )
        batch_op.create_index(
            "uq_comments_pinned_per_video",
            ["video_id"],
            unique=True,
            sqlite_where=sa.text("is_pinned"),
            postgresql_where=sa.text("is_pinned"),
        )

    op.create_table(
        "saves",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saves_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_saves_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_saves")),
    )
    with op.batch_alter_table("saves", schema=None) as batch_op:
        batch_op.create_index("ix_saves_user_created", ["user_id", "created_at"], unique=False)
        batch_op.create_index("ix_saves_video_id", ["video_id"], unique=False)

    op.create_table(
        "shares",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=50), nullable=True),
        sa.Column("to_user_id", sa.String(length=26), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["users.id"],
            name=op.f("fk_shares_to_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_shares_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_shares_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
    )
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.create_index("ix_shares_video_created", ["video_id", "created_at"], unique=False)

    op.create_table(
        "video_likes",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_video_likes_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_likes_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_video_likes")),
    )
    with op.batch_alter_table("video_likes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_video_likes_video_created", ["video_id", "created_at"], unique=False
        )

    op.create_table(
        "watch_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("watched_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_watch_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_watch_events_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_events")),
    )
    with op.batch_alter_table("watch_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_watch_events_user_created", ["user_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_watch_events_video_created", ["video_id", "created_at"], unique=False
        )

    op.create_table(
        "watch_history",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=False),
        sa.Column("position_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("watched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_watch_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_watch_history_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_watch_history")),
    )
    with op.batch_alter_table("watch_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_watch_history_user_watched", ["user_id", "watched_at"], unique=False
        )

    op.create_table(
        "comment_reactions",
        sa.Column("comment_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_reactions_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_comment_reactions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", "user_id", name=op.f("pk_comment_reactions")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("group_key", sa.String(length=100), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("actor_id", sa.String(length=26), nullable=True),
        sa.Column("actor_count", sa.BigInteger(), nullable=False),
        sa.Column("video_id", sa.String(length=26), nullable=True),
        sa.Column("comment_id", sa.String(length=26), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_notifications_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_notifications_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_notifications_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_user_unread",
            ["user_id"],
            unique=False,
            sqlite_where=sa.text("read_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL"),
        )
        batch_op.create_index(
            "ix_notifications_user_updated", ["user_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(
            "uq_notifications_open_group",
            ["user_id", "group_key"],
            unique=True,
            sqlite_where=sa.text("is_open"),
            postgresql_where=sa.text("is_open"),
        )

    op.create_table(
        "notification_actors",
        sa.Column("notification_id", sa.String(length=26), nullable=False),
        sa.Column("actor_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_notification_actors_actor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_actors_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", "actor_id", name=op.f("pk_notification_actors")),
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("save_count", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("counters_seq", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:

    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("counters_seq")
        batch_op.drop_column("save_count")

    op.drop_table("notification_actors")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_notifications_open_group",
            sqlite_where=sa.text("is_open"),
            postgresql_where=sa.text("is_open"),
        )
        batch_op.drop_index("ix_notifications_user_updated")
        batch_op.drop_index(
            "ix_notifications_user_unread",
            sqlite_where=sa.text("read_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL"),
        )

    op.drop_table("notifications")
    op.drop_table("comment_reactions")
    with op.batch_alter_table("watch_history", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_history_user_watched")

    op.drop_table("watch_history")
    with op.batch_alter_table("watch_events", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_events_video_created")
        batch_op.drop_index("ix_watch_events_user_created")

    op.drop_table("watch_events")
    with op.batch_alter_table("video_likes", schema=None) as batch_op:
        batch_op.drop_index("ix_video_likes_video_created")

    op.drop_table("video_likes")
    with op.batch_alter_table("shares", schema=None) as batch_op:
        batch_op.drop_index("ix_shares_video_created")

    op.drop_table("shares")
    with op.batch_alter_table("saves", schema=None) as batch_op:
        batch_op.drop_index("ix_saves_video_id")
        batch_op.drop_index("ix_saves_user_created")

    op.drop_table("saves")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_comments_pinned_per_video",
            sqlite_where=sa.text("is_pinned"),
            postgresql_where=sa.text("is_pinned"),
        )
        batch_op.drop_index("ix_comments_video_thread_likes")
        batch_op.drop_index("ix_comments_video_thread_created")
        batch_op.drop_index("ix_comments_user_created")
        batch_op.drop_index("ix_comments_thread_created")

    op.drop_table("comments")
    with op.batch_alter_table("collection_videos", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_videos_video_id")
        batch_op.drop_index("ix_collection_videos_collection_added")

    op.drop_table("collection_videos")
    op.drop_table("notification_preferences")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index("ix_collections_user_created")

    op.drop_table("collections")
