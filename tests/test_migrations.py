"""The Alembic migrations are the schema: they agree with the models and run both ways."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.db import Base, include_in_migrations


@pytest.fixture
def fresh_url(database_url: str, tmp_path) -> Iterator[str]:
    """An empty database of the same kind as the test database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = "fresh_" + uuid.uuid4().hex[:8]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_models_match_the_migrations(app, engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_in_migrations})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_downgrade_upgrade_round_trip(fresh_url):
    fresh = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": fresh_url})
    with fresh.app_context():
        from app.extensions import db

        upgrade()
        assert {"users", "pools", "commitments"} <= set(inspect(db.engine).get_table_names())
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "pools" in inspect(db.engine).get_table_names()
        db.engine.dispose()
