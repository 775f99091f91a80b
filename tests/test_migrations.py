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

from app.db.base import Base, include_in_migrations
from app.web import create_app


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
        from app.web.extensions import db

        upgrade()
        assert {"users", "pools", "commitments"} <= set(inspect(db.engine).get_table_names())
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "pools" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_emails_still_queued_at_migration_0012_stay_due_on_their_notification(fresh_url):
    """0012 drops the email_messages outbox: an unsent email's notification becomes due, a sent one's not."""
    fresh = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": fresh_url})
    with fresh.app_context():
        from app.web.extensions import db

        upgrade(revision="0011")
        at, later = "2026-11-20 10:00:00+00:00", "2026-11-21 10:00:00+00:00"
        with db.engine.begin() as conn:
            for n in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO users (id, email, password_hash, display_name, created_at, is_admin,"
                        " is_active_account) VALUES (:n, :email, 'x', 'U', :at, false, true)"
                    ),
                    {"n": n, "email": f"u{n}@example.com", "at": at},
                )
                conn.execute(
                    text(
                        "INSERT INTO notifications (id, user_id, pool_id, kind, message, created_at)"
                        " VALUES (:n, :n, NULL, 'awarded', 'Awarded.', :at)"
                    ),
                    {"n": n, "at": later},
                )
                conn.execute(
                    text(
                        "INSERT INTO email_messages (to_email, subject, body, created_at, sent_at, attempts)"
                        " VALUES (:email, 's', 'b', :at, :sent, 0)"
                    ),
                    {"email": f"u{n}@example.com", "at": later, "sent": None if n == 1 else later},
                )
        upgrade()
        with db.engine.connect() as conn:
            due = dict(conn.execute(text("SELECT id, email_due FROM notifications ORDER BY id")).all())
        assert {n: bool(flag) for n, flag in due.items()} == {1: True, 2: False}
        assert "email_messages" not in inspect(db.engine).get_table_names()
        db.engine.dispose()
