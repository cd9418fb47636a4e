"""reserved: an empty step

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

An empty placeholder was applied under this id during development; the installation tables
it was meant for are created by 0005, so every database reaches the same schema.
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
