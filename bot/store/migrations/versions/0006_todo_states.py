"""todo state kept by the bot (done, owner, snooze), and reminder/recap preferences

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "todo_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=255), nullable=False),
        sa.Column("meeting_title", sa.String(length=500), nullable=False),
        sa.Column("todo_key", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_by", sa.String(length=32), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("assignee", sa.String(length=32), nullable=True),
        sa.Column("assigned_by", sa.String(length=32), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(), nullable=True),
        sa.Column("meeting_started_at", sa.DateTime(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("connection_id", "meeting_id", "todo_key", name="uq_todo_states_todo"),
    )
    op.create_index("ix_todo_states_connection_id", "todo_states", ["connection_id"])
    op.create_index("ix_todo_states_team_id", "todo_states", ["team_id"])
    op.create_index("ix_todo_states_assignee", "todo_states", ["assignee"])
    op.create_table(
        "member_prefs",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("reminders", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_table(
        "channel_prefs",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("weekly_recap", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel"),
    )
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("timezone")
    op.drop_table("channel_prefs")
    op.drop_table("member_prefs")
    op.drop_table("todo_states")
