"""routing: connections get an owner and a provider account (several accounts per workspace),
ordered route rules, and one routing decision per delivered meeting

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

Existing connections get an owner: the Slack user whose audit entry says they connected that
provider, else any Slack user who connected something in the workspace, else the installer.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_DISPLAY = {"hedy": "Hedy", "meetric": "Meetric", "harmony": "Harmony", "whereby": "Whereby"}


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider_account", sa.String(length=255), nullable=False, server_default=""))
        batch.add_column(sa.Column("personal", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("visible_to_all", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.drop_constraint("uq_connections_team_provider", type_="unique")
        batch.create_unique_constraint("uq_connections_team_provider_account",
                                       ["team_id", "provider", "provider_account"])
    with op.batch_alter_table("workspaces") as batch:
        # None: not learned yet (from the members' email addresses); an admin may edit the list.
        batch.add_column(sa.Column("internal_domains", sa.JSON(), nullable=True))

    op.create_table(
        "route_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=True),
        sa.Column("builtin", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("auto_approve_hours", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "builtin", name="uq_route_rules_builtin"),
    )
    op.create_index("ix_route_rules_team_id", "route_rules", ["team_id"], unique=False)

    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.String(length=255), nullable=False),
        sa.Column("meeting_title", sa.String(length=500), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("approver", sa.String(length=32), nullable=True),
        sa.Column("auto_approve_at", sa.DateTime(), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("acted_by", sa.String(length=64), nullable=True),
        sa.Column("acted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "meeting_id", name="uq_routing_decisions_meeting"),
    )
    op.create_index("ix_routing_decisions_team_state", "routing_decisions", ["team_id", "state"], unique=False)

    _backfill_owners()


def _backfill_owners() -> None:
    bind = op.get_bind()
    connections = bind.execute(sa.text("SELECT id, team_id, provider FROM connections")).fetchall()
    for connection_id, team_id, provider in connections:
        connectors = bind.execute(sa.text(
            "SELECT actor, detail FROM audit_log WHERE team_id = :team AND action = 'connected' "
            "AND actor LIKE 'U%' ORDER BY at, id"), {"team": team_id}).fetchall()
        name = _DISPLAY.get(provider, provider)
        owner = next((actor for actor, detail in connectors if (detail or "").startswith(name)), None)
        if owner is None and connectors:
            owner = connectors[0][0]
        if owner is None:
            owner = bind.execute(sa.text("SELECT installed_by FROM workspaces WHERE team_id = :team"),
                                 {"team": team_id}).scalar()
        if owner:
            bind.execute(sa.text("UPDATE connections SET owner_id = :owner WHERE id = :id"),
                         {"owner": owner, "id": connection_id})


def downgrade() -> None:
    op.drop_index("ix_routing_decisions_team_state", table_name="routing_decisions")
    op.drop_table("routing_decisions")
    op.drop_index("ix_route_rules_team_id", table_name="route_rules")
    op.drop_table("route_rules")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("internal_domains")
    with op.batch_alter_table("connections") as batch:
        batch.drop_constraint("uq_connections_team_provider_account", type_="unique")
        batch.create_unique_constraint("uq_connections_team_provider", ["team_id", "provider"])
        batch.drop_column("visible_to_all")
        batch.drop_column("personal")
        batch.drop_column("provider_account")
        batch.drop_column("owner_id")
