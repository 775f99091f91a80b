"""commitments leave room on their pages for status changes (PostgreSQL fillfactor 70)

A commitment changes status two or three times (served or unserved at the close, charged or
payment_failed at settlement), and none of those columns is indexed. With room on its page, the
new version goes on the same page as a heap-only tuple and no index gets a new entry; on a full
page every index of the table does. Existing pages keep their layout until they are rewritten
(VACUUM FULL or pg_repack); new rows get the room at once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 06:45:00
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE commitments SET (fillfactor = 70)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE commitments RESET (fillfactor)')
