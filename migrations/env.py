"""Alembic environment: the app's engine and metadata; batch mode so SQLite can alter tables."""

from alembic import context
from flask import current_app

from app.db.base import Base, include_in_migrations

engine = current_app.extensions["migrate"].db.engine


def run_migrations_online() -> None:
    """Run the migrations on the application's database connection."""
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_in_migrations,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations_online()
