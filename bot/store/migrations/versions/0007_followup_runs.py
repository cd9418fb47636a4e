"""follow-up run keys (one reminder per person and day, one recap per channel and week), the
channel Slack answered with for each posted message (a DM's D… id), each todo's thread message

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followup_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "team_id", "subject", "period", name="uq_followup_runs_key"),
    )
    with op.batch_alter_table("slack_messages") as batch:
        batch.add_column(sa.Column("sent_channel", sa.String(length=32), nullable=True))
    with op.batch_alter_table("todo_states") as batch:
        batch.add_column(sa.Column("message_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("todo_states") as batch:
        batch.drop_column("message_id")
    with op.batch_alter_table("slack_messages") as batch:
        batch.drop_column("sent_channel")
    op.drop_table("followup_runs")
