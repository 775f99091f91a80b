"""The declarative base with its naming convention, Alembic's table filter, and SQLite's writer lock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    MetaData,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry

from app.db.types import UnitPriceType, UtcDateTimeType

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; the metadata carries the constraint naming convention."""

    # Every `Mapped[datetime]` is aware UTC and every `Mapped[Decimal]` is a 4-place unit price,
    # unless a column says otherwise.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UtcDateTimeType(), Decimal: UnitPriceType()},
    )


def include_in_migrations(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: ignore what the models do not describe on purpose: an APScheduler job store of
    old (left by a downgrade), and PostgreSQL's full-text search column and index (migration 0029)."""
    if type_ == "table" and name is not None and name.startswith("apscheduler_"):
        return False
    return not (type_ in ("column", "index") and name in ("search_vector", "ix_pools_search_vector"))


SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another to commit before giving up


def serialize_sqlite_writers(engine: Engine) -> None:
    """Make every SQLite transaction take the database's write lock at its start (BEGIN IMMEDIATE).

    SQLite ignores `SELECT … FOR UPDATE`, and pysqlite begins a transaction only at its first write,
    so without this two requests could read the same pool, decide on what they read and both write:
    a withdrawn member still awarded, two closes of one pool, a vendor with several active bids.
    With it, transactions on one database run one after another, which is what the row locks give on
    PostgreSQL (at a coarser grain). This is SQLAlchemy's documented pysqlite recipe: pysqlite's own
    transaction handling is turned off and SQLAlchemy's "begin" emits the BEGIN. WAL lets readers
    outside a transaction go on while a writer works. Other dialects are left alone.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
