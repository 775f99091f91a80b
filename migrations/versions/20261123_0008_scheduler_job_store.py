"""The scheduler's job store table, created here so that schedulers starting together don't race to create it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 01:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The layout APScheduler 3's SQLAlchemyJobStore expects (it only creates the table when missing).
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
