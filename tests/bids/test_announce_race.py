"""Two vendors take the first lead of an open auction at the same moment: the members (and the
organiser) are told once, and neither bid's request fails after its bid committed."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

import app.models  # noqa: F401 - every mapper configured
from app.bids import service
from app.notifications.models import Notification
from tests import factories
from tests.bids.contention import engine_for

ROUNDS = 12  # pools: at each, two announcers start together


def test_two_first_leads_at_once_tell_each_member_once_and_raise_nothing(session, database_url, now):
    pools = []
    for _ in range(ROUNDS):
        pool = factories.open_pool(session, now=now)
        for _ in range(3):
            factories.commitment(session, pool=pool, now=now)
        pools.append(pool)
    engine = engine_for(database_url)
    errors: list[BaseException] = []

    def announce(pool_id: int, start: threading.Barrier) -> None:
        with Session(engine, expire_on_commit=False) as mine:
            start.wait(timeout=30)
            try:  # as app.unit_of_work runs the follow-up of a bid that took the lead
                service.announce_new_leader(mine, pool_id=pool_id, now=now)
                mine.commit()
            except BaseException as exc:
                errors.append(exc)

    for pool in pools:
        start = threading.Barrier(2)
        threads = [threading.Thread(target=announce, args=(pool.id, start)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    engine.dispose()
    assert errors == []
    told = Counter(
        session.execute(select(Notification.pool_id, Notification.user_id).where(Notification.kind == "new_best_price"))
    )
    assert set(told.values()) == {1} and len(told) == ROUNDS * 4  # three members and the organiser, each once
