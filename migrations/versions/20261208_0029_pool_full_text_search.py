"""full-text search over pools on PostgreSQL: a generated tsvector (title, description, category) with a GIN index

Accents are folded by `unaccent` (wrapped in an IMMUTABLE function, as a generated column needs),
words stemmed by the English configuration; title weighs most, then category, then description.
The column is PostgreSQL's alone and is not in the ORM model (app.pools.search queries it);
SQLite keeps its LIKE search.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 06:30:00
"""

from alembic import op


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS unaccent')
    op.execute(
        "CREATE OR REPLACE FUNCTION buyswarm_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ SELECT public.unaccent('public.unaccent', $1) $$"
    )
    op.execute(
        "ALTER TABLE pools ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        " setweight(to_tsvector('english', buyswarm_unaccent(coalesce(title, ''))), 'A')"
        " || setweight(to_tsvector('english', buyswarm_unaccent(coalesce(category, ''))), 'B')"
        " || setweight(to_tsvector('english', buyswarm_unaccent(coalesce(description, ''))), 'C')"
        ") STORED"
    )
    op.execute('CREATE INDEX ix_pools_search_vector ON pools USING gin (search_vector)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX IF EXISTS ix_pools_search_vector')
    op.execute('ALTER TABLE pools DROP COLUMN IF EXISTS search_vector')
    op.execute('DROP FUNCTION IF EXISTS buyswarm_unaccent(text)')
