"""vendors who bid on a non-public pool hold an access grant to it

A pool's parties always see it. Members are the pools package's own rows; bidders were found by
reading the bids, which the pools package may not import (docs/architecture.md), so placing a bid
on a non-public pool now records an access grant (`pool_link_grants`). This writes the grants for
the bids placed before.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 02:40:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO pool_link_grants (pool_id, user_id, created_at) "
        "SELECT b.pool_id, b.vendor_id, MIN(b.created_at) FROM bids b "
        "JOIN pools p ON p.id = b.pool_id "
        "WHERE p.visibility <> 'public' AND NOT EXISTS ("
        "SELECT 1 FROM pool_link_grants g WHERE g.pool_id = b.pool_id AND g.user_id = b.vendor_id) "
        "GROUP BY b.pool_id, b.vendor_id"
    )


def downgrade() -> None:
    pass  # the grants stay: they only let a pool's own bidders see it, as before
