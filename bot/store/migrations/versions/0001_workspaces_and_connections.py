"""workspaces and connections

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Migrations use plain SQLAlchemy types, never the live models, so they keep working as the
models change. Timestamps are naive UTC (bot.store.models.UTCDateTime adds the zone back).
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("api_key_hint", sa.String(length=8), nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("webhook_token", sa.String(length=64), nullable=False),
        sa.Column("default_channel", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account_email", sa.String(length=255), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_webhook_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["workspaces.team_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "provider", name="uq_connections_team_provider"),
    )
    op.create_index("ix_connections_team_id", "connections", ["team_id"], unique=False)
    op.create_index("ix_connections_webhook_token", "connections", ["webhook_token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_connections_webhook_token", table_name="connections")
    op.drop_index("ix_connections_team_id", table_name="connections")
    op.drop_table("connections")
    op.drop_table("workspaces")
