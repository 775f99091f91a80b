"""Advisory locks: one process at a time for work that must not run twice at once, on any host."""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable 32-bit key for a named lock (PostgreSQL advisory locks take a bigint)."""
    return zlib.crc32(name.encode())


def try_transaction_lock(session: Session, name: str) -> bool:
    """Take the named lock until the session's transaction ends; False when another holds it.

    PostgreSQL: `pg_try_advisory_xact_lock`, shared by every process and host on the database.
    SQLite: always True, since every writing transaction holds the database's write lock anyway
    (app.db.base.serialize_sqlite_writers), so two such runs cannot overlap.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}))
