"""The documented backup and restore (scripts/backup.sh, scripts/restore.sh) give back every row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import factories

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("users", "pools", "commitments", "bids", "awards", "award_lines", "payments", "ledger_entries",
          "audit_events", "alembic_version")  # fmt: skip


@pytest.mark.postgres
def test_a_backup_restores_into_a_fresh_database_with_every_row_and_a_balanced_ledger(
    session, engine, database_url, now, tmp_path
):
    factories.settled_pool(session, now=now)  # a pool closed, awarded, charged: money in the ledger
    session.commit()
    dump = tmp_path / "buyswarm.dump"
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHON": sys.executable}
    subprocess.run(["bash", "scripts/backup.sh", str(dump)], cwd=ROOT, env=env, check=True, capture_output=True)

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS restore_check"))
        conn.execute(text("CREATE DATABASE restore_check"))
    target = make_url(database_url).set(database="restore_check").render_as_string(hide_password=False)
    restored = subprocess.run(["bash", "scripts/restore.sh", str(dump)], cwd=ROOT, env=env | {"DATABASE_URL": target},
                              capture_output=True, text=True)  # fmt: skip
    assert restored.returncode == 0, restored.stderr[-3000:]

    copy = create_engine(target)
    try:
        with engine.connect() as before, copy.connect() as after:
            for table in TABLES:
                count = f"SELECT count(*) FROM {table}"
                assert after.scalar(text(count)) == before.scalar(text(count)), table
            assert after.scalar(text("SELECT count(*) FROM payments")) > 0
            assert after.scalar(text("SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries")) == 0
    finally:
        copy.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("DROP DATABASE IF EXISTS restore_check WITH (FORCE)"))
