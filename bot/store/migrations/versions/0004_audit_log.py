"""audit log of setup changes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the setup-modal work (audit log table)


def downgrade() -> None:
    pass
