"""cost that follows the work due: partial and per-team indexes, stored member time zones, what
later jobs need stored on outbox rows (a digest's title, a reminder's todos, permalinks)

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-27
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The same conditions as bot/store/models.py (a migration never imports the models it migrates).
UNSENT = "state = 'active' AND (sent_hash IS NULL OR sent_hash <> content_hash)"
OPEN_TODO = "status = 'open'"
DEAD_EVENT = "status = 'dead'"
PROCESSED_EVENT = "status IN ('done', 'ignored')"
FOLLOWUP_MESSAGE = "kind IN ('reminder', 'recap')"
HAS_PARENT = "parent_id IS NOT NULL"
UNPOSTED = "ts IS NULL"
TODO_ACTIONS_PREFIX = "todo_actions:"  # bot/slack/ids.py BlockId.TODO_ACTIONS_PREFIX when this was written
BATCH = 500


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table("slack_messages") as batch:
        batch.add_column(sa.Column("title", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("todo_refs", sa.Text(), nullable=True))
        batch.add_column(sa.Column("permalink", sa.String(length=500), nullable=True))
    op.create_table(
        "member_zones",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_index("ix_member_zones_zone", "member_zones", ["zone"])

    # The old due index matched every message ever sent; the partial one holds only unsent rows.
    op.drop_index("ix_slack_messages_due", table_name="slack_messages")
    _partial("ix_slack_messages_unsent", "slack_messages", ["priority", "id"], UNSENT)
    op.create_index("ix_slack_messages_team_kind_sent", "slack_messages", ["team_id", "kind", "sent_at"])
    _partial("ix_slack_messages_followups", "slack_messages", ["created_at"], FOLLOWUP_MESSAGE)
    # Deleting a message looks up its thread replies (ON DELETE CASCADE): one index read, not a table scan.
    _partial("ix_slack_messages_parent_id", "slack_messages", ["parent_id"], HAS_PARENT)
    # Messages not posted yet: the sender's "is the parent posted?" check reads only these.
    _partial("ix_slack_messages_unposted", "slack_messages", ["id"], UNPOSTED)
    _partial("ix_todo_states_open_owned", "todo_states", ["team_id", "assignee"], OPEN_TODO)
    _partial("ix_inbox_events_dead", "inbox_events", ["team_id"], DEAD_EVENT)
    _partial("ix_inbox_events_processed", "inbox_events", ["received_at"], PROCESSED_EVENT)
    _backfill()


def _backfill() -> None:
    """Rows queued before this revision: their title and todos, read once from their payload."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, kind, payload FROM slack_messages WHERE kind IN ('digest', 'reminder') AND id > :last "
            "ORDER BY id LIMIT :batch"), {"last": last, "batch": BATCH}).all()
        if not rows:
            return
        for row_id, kind, payload in rows:
            try:
                message = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if kind == "digest":
                title = str(message.get("text") or "").removeprefix("Meeting notes: ")[:500]
                bind.execute(sa.text("UPDATE slack_messages SET title = :title WHERE id = :id"),
                             {"title": title or None, "id": row_id})
            else:
                refs = [block["block_id"][len(TODO_ACTIONS_PREFIX):].partition("@")[0]
                        for block in message.get("blocks") or []
                        if isinstance(block, dict) and block.get("type") == "actions"
                        and str(block.get("block_id") or "").startswith(TODO_ACTIONS_PREFIX)]
                bind.execute(sa.text("UPDATE slack_messages SET todo_refs = :refs WHERE id = :id"),
                             {"refs": json.dumps(refs), "id": row_id})
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_inbox_events_processed", table_name="inbox_events")
    op.drop_index("ix_inbox_events_dead", table_name="inbox_events")
    op.drop_index("ix_todo_states_open_owned", table_name="todo_states")
    op.drop_index("ix_slack_messages_unposted", table_name="slack_messages")
    op.drop_index("ix_slack_messages_parent_id", table_name="slack_messages")
    op.drop_index("ix_slack_messages_followups", table_name="slack_messages")
    op.drop_index("ix_slack_messages_team_kind_sent", table_name="slack_messages")
    op.drop_index("ix_slack_messages_unsent", table_name="slack_messages")
    op.create_index("ix_slack_messages_due", "slack_messages", ["state", "next_attempt_at"])
    op.drop_index("ix_member_zones_zone", table_name="member_zones")
    op.drop_table("member_zones")
    with op.batch_alter_table("slack_messages") as batch:
        batch.drop_column("permalink")
        batch.drop_column("todo_refs")
        batch.drop_column("title")
