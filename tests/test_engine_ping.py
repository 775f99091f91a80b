"""Pooled connections are pinged on checkout only after sitting idle (app.web.extensions.ping_idle_connections)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from app.web.extensions import ping_idle_connections


@pytest.fixture
def pinged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, list[object]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'ping.sqlite3'}", pool_size=1)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    return engine, pings


def test_a_connection_used_moments_ago_is_not_pinged(pinged):
    engine, pings = pinged
    ping_idle_connections(engine, idle_seconds=60)
    for _ in range(3):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []


def test_a_connection_that_sat_idle_is_pinged(pinged):
    engine, pings = pinged
    ping_idle_connections(engine, idle_seconds=0)
    with engine.connect() as conn:  # new: nothing to check
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert len(pings) == 1


def test_a_dead_idle_connection_is_replaced_before_use(pinged):
    engine, pings = pinged
    ping_idle_connections(engine, idle_seconds=0)
    with engine.connect() as conn:
        dead = conn.connection.dbapi_connection
    assert dead is not None
    dead.close()  # as if the server had dropped it while it sat in the pool
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert conn.connection.dbapi_connection is not dead
    assert pings[0] is dead
