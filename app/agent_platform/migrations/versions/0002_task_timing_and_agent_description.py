"""Expand: agents.description, tasks.completed_by_release and tasks.duration_ms.

Revision ID: 0002
Revises: 0001
Phase: expand (nullable columns only: release 0001 keeps reading and writing)
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("completed_by_release", sa.String(128), nullable=True))
    op.add_column("tasks", sa.Column("duration_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tasks", "duration_ms")
    op.drop_column("tasks", "completed_by_release")
    op.drop_column("agents", "description")
