"""PostgreSQL helpers the benchmarks share: the libpq URL of a server and bulk loading with COPY."""

from __future__ import annotations

from typing import Any

import psycopg


def psycopg_url(url: str) -> str:
    """The libpq form of the server's SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def copy_rows(cur: psycopg.Cursor[Any], target: str, rows: Any) -> None:
    """COPY rows (tuples, in `target`'s column order) into `target`, e.g. "users (email, created_at)"."""
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
