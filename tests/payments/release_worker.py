"""A release sweeper for the two-schedulers test: one process, its own connection, started at once
with another (a barrier), sweeping the same due pools."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import app.models  # noqa: F401 - every mapper configured, as the app does
from app.payments import jobs
from app.payments.offline import OfflineGateway
from tests.bids.contention import engine_for


def sweep(url: str, at: str, rounds: int, start: Any, results: Any) -> None:
    """Wait for the other sweeper, then release and pay out `rounds` times; report what this one released."""
    engine = engine_for(url)
    now = datetime.fromisoformat(at)
    released = 0
    with Session(engine, expire_on_commit=False) as session:
        start.wait(timeout=60)
        for _ in range(rounds):
            released += jobs.release_due_escrow(session, OfflineGateway(), now=now, terms=jobs.TERMS)
    engine.dispose()
    results.put(released)
