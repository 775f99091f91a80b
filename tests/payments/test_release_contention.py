"""Two schedulers release the same pools at the same moment (real processes, one database): each
line is released once and paid out once, in one payout, and every ledger balances."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from sqlalchemy import select

from app.audit import AuditEvent
from app.payments import escrow, ledger
from app.payments.models import LedgerEntry, Payment, Payout
from app.payments.rules import EscrowTerms
from app.pools.models import Pool, PoolStatus
from tests import factories
from tests.payments import release_worker

POOLS, MEMBERS = 6, 5


def test_two_sweepers_releasing_the_same_pools_at_once_pay_each_line_once(session, database_url, now):
    pools = [factories.settled_pool(session, now=now, members=MEMBERS, quantity=3, price="10")[0] for _ in range(POOLS)]
    due = now + EscrowTerms().window
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=release_worker.sweep, args=(database_url, due.isoformat(), 3, start, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    released = [results.get(timeout=5) for _ in workers]
    assert sum(released) == POOLS * MEMBERS, f"each line released by exactly one sweeper: {released}"

    session.expire_all()
    lines = session.scalars(select(Payment).where(Payment.pool_id.in_([p.id for p in pools]))).all()
    assert len(lines) == POOLS * MEMBERS and all(line.released_by == "window" for line in lines)
    assert all(line.paid_out_at is not None and line.payout_id is not None for line in lines)
    postings = Counter(
        session.scalars(select(LedgerEntry.posting_key).where(LedgerEntry.account == ledger.VENDOR_PAYOUTS))
    )
    assert len(postings) == len(lines) and set(postings.values()) == {1}, "each line paid out once"
    payouts = session.scalars(select(Payout)).all()
    assert sum(p.line_count for p in payouts) == len(lines)
    assert sum(p.amount_minor for p in payouts) == sum(line.net_minor for line in lines)
    for pool in pools:
        assert ledger.statement(session, pool.id).total == 0
        assert ledger.balance(session, pool.id, ledger.ESCROW) == 0
        assert session.get(Pool, pool.id).status == PoolStatus.COMPLETED
    releases = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "line.release")).all()
    assert sorted(releases) == sorted(line.id for line in lines)  # one release event per line
    assert escrow.pools_with_due_lines(session, now=due, limit=100) == []
