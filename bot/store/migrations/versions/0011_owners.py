"""todo owners: confidence and suggestions on todo states, the member directory, email lookups,
aliases and Not me answers, carried-over todos

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("todo_states") as batch:
        batch.add_column(sa.Column("owner_confidence", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("suggested_owner", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("owner_hint", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("owner_quote", sa.String(length=200), nullable=True))
        batch.add_column(_ts("owner_asked_at", nullable=True))
        batch.add_column(sa.Column("carried_from_id", sa.Integer(), nullable=True))
        batch.add_column(_ts("carried_since", nullable=True))
        batch.add_column(sa.Column("carried_from_title", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    op.create_table(
        "slack_members",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("real_name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("real_key", sa.String(length=255), nullable=False),
        sa.Column("display_key", sa.String(length=255), nullable=False),
        _ts("refreshed_at"),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_index("ix_slack_members_real_key", "slack_members", ["team_id", "real_key"])
    op.create_index("ix_slack_members_display_key", "slack_members", ["team_id", "display_key"])
    op.create_table(
        "member_directories",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        _ts("refreshed_at"),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "member_email_lookups",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        _ts("looked_up_at"),
        sa.PrimaryKeyConstraint("team_id", "email_hash"),
    )
    op.create_table(
        "owner_aliases",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("team_id", "name_key"),
    )
    op.create_table(
        "owner_rejections",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("team_id", "name_key", "user_id"),
    )


def downgrade() -> None:
    for table in ("owner_rejections", "owner_aliases", "member_email_lookups", "member_directories"):
        op.drop_table(table)
    op.drop_index("ix_slack_members_display_key", table_name="slack_members")
    op.drop_index("ix_slack_members_real_key", table_name="slack_members")
    op.drop_table("slack_members")
    with op.batch_alter_table("todo_states") as batch:
        for column in ("language", "carried_from_title", "carried_since", "carried_from_id", "owner_asked_at",
                       "owner_quote", "owner_hint", "suggested_owner", "owner_confidence"):
            batch.drop_column(column)
