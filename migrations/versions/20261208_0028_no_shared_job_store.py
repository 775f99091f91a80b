"""each scheduler keeps its schedule in memory: the shared job store table goes

APScheduler 3's job stores must never be shared between schedulers; correctness was always with the
sweepers' row locks, and once-a-day jobs now run on the leader (an advisory lock). Downgrading
recreates the empty table.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 06:20:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('apscheduler_jobs')


def downgrade() -> None:
    op.create_table(
        'apscheduler_jobs',
        sa.Column('id', sa.Unicode(191), primary_key=True),
        sa.Column('next_run_time', sa.Float(25), index=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
    )
