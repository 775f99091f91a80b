"""Test fixtures: a real database (SQLite file or a PostgreSQL server this run starts), built by
the Alembic migrations, emptied after each test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from app.clock import utcnow
from tests import pg_server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("BUYSWARM_TEST_DB", "sqlite"),
        help="database the integration tests run against",
    )


def pytest_configure(config: pytest.Config) -> None:
    config._buyswarm_pg = None  # type: ignore[attr-defined]
    if config.getoption("--db") == "postgresql" and not os.environ.get("TEST_DATABASE_URL"):
        config._buyswarm_pg = pg_server.start()  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    server = getattr(config, "_buyswarm_pg", None)
    if server is not None:
        server.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"buyswarm database: {config.getoption('--db')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db") == "postgresql":
        # Tests that never touch a database (pure rules, gateways) ran in the SQLite pass already.
        pure = [item for item in items if "database_url" not in getattr(item, "fixturenames", ())]
        if pure:
            config.hook.pytest_deselected(items=pure)
            items[:] = [item for item in items if item not in pure]
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with --db=postgresql (make test does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    server = pytestconfig._buyswarm_pg  # type: ignore[attr-defined]
    if server is not None:
        return str(server.url)
    # A file, not :memory:, so that every connection and thread sees the same database.
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def app(database_url: str) -> Flask:
    """The application on a database built by `alembic upgrade head`."""
    from flask_migrate import upgrade

    from app.web import create_app

    application = create_app(
        {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "SERVER_NAME": "localhost"}
    )
    with application.app_context():
        upgrade()
    return application


@pytest.fixture(scope="session")
def engine(app: Flask) -> Engine:
    from app.web.extensions import db

    with app.app_context():
        return db.engine


def _empty_all_tables(engine: Engine) -> None:
    from app.db.base import Base

    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[None]:
    yield
    _empty_all_tables(engine)


@pytest.fixture(scope="session")
def harness_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    """The engine the tests' own session reads and writes with.

    On PostgreSQL it is the app's. On SQLite the app's engine begins every transaction with the
    write lock (app.db.base.serialize_sqlite_writers), so a test session that merely read something
    would hold the lock against the requests it then makes; the harness uses SQLite's ordinary
    deferred transactions instead, which lock only while writing.
    """
    if engine.dialect.name != "sqlite":
        yield engine
        return
    harness = create_engine(database_url, connect_args={"timeout": 30})
    yield harness
    harness.dispose()


@pytest.fixture
def session(harness_engine: Engine, clean_db: None) -> Iterator[Session]:
    """A plain session on the test database, separate from the sessions requests use."""
    with Session(harness_engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def client(app: Flask, clean_db: None) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    return utcnow()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(engine: Engine, harness_engine: Engine) -> Iterator[QueryCounter]:
    """Count the SQL statements run while the test runs, by requests and by the test's session (N+1 queries)."""
    counter = QueryCounter()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement != "BEGIN IMMEDIATE":  # SQLite's transaction start (app.db.base.serialize_sqlite_writers)
            counter.statements.append(statement)

    engines = {id(e): e for e in (engine, harness_engine)}.values()
    for each in engines:
        event.listen(each, "before_cursor_execute", before)
    yield counter
    for each in engines:
        event.remove(each, "before_cursor_execute", before)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client: FlaskClient, path: str = "/login") -> str:
    """Load a page and return the CSRF token in its forms."""
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)
