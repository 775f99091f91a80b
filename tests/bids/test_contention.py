"""16 vendor processes bid on one hot pool while members join (real connections, on both databases).

Afterwards the bid rows are replayed in commit order (bid id order: each bid takes the pool's row
lock before it gets its id) and must agree with what the rules give: who took the lead, which
bid extended the close, the final deadline and the number of extensions.
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bids import rules
from app.bids.models import Award, AwardLine, Bid
from app.bids.service import leader, offer_of
from app.pools.models import Commitment, CommitmentStatus, Pool
from tests import factories
from tests.bids import contention

VENDORS, ROUNDS, MEMBER_WORKERS, MEMBERS_EACH = 16, 12, 4, 6


@pytest.mark.slow
def test_concurrent_bids_lose_nothing_and_replay_to_the_same_auction(session, database_url, now):
    pool = factories.open_pool(
        session,
        now=now,
        closes_at=now + timedelta(minutes=6),
        soft_close_minutes=10,
        max_extensions=3,
        min_decrement_pct=Decimal("0.50"),
    )
    # Demand from the start, so every bid has a price at the current demand whatever the order in
    # which the worker processes start (at zero demand nobody leads, so nothing would extend).
    factories.commitment(session, pool=pool, now=now, quantity=5, max_unit_price="500")
    session.refresh(pool)
    initial_close = pool.closes_at
    vendors = [factories.vendor(session, now=now) for _ in range(VENDORS)]
    members = [factories.user(session, now=now) for _ in range(MEMBER_WORKERS * MEMBERS_EACH)]
    results = _run_workers(database_url, pool.id, vendors, members)

    accepted = [bid_id for kind, ids, _ in results if kind == "vendor" for bid_id in ids]
    stored = list(session.scalars(select(Bid).where(Bid.pool_id == pool.id).order_by(Bid.id)))
    assert sorted(accepted) == [b.id for b in stored], "a bid reported as accepted is missing, or vice versa"
    assert len(stored) >= VENDORS  # every vendor's first bid is accepted at least

    session.expire_all()
    final = session.get(Pool, pool.id)
    closes_at, used = _replay(stored, final, initial_close)
    assert (final.closes_at, final.extensions_used) == (closes_at, used)
    assert 0 < final.extensions_used <= final.max_extensions
    active = select(func.sum(Commitment.quantity)).where(
        Commitment.pool_id == pool.id, Commitment.status == CommitmentStatus.ACTIVE
    )
    assert final.committed_quantity == session.scalar(active)
    active_bids = select(Bid.vendor_id, func.count(Bid.id)).where(Bid.pool_id == pool.id, Bid.status == "active")
    assert max(n for _, n in session.execute(active_bids.group_by(Bid.vendor_id))) == 1, "one active bid a vendor"


@pytest.mark.slow
def test_closes_racing_withdrawals_award_only_members_still_in(session, database_url, now):
    pool = factories.open_pool(session, now=now, min_quantity=1)
    members = [factories.commitment(session, pool=pool, now=now, quantity=2, max_unit_price="50").member
               for _ in range(12)]  # fmt: skip
    factories.bid(session, pool=pool, now=now, curve=((1, "10"),))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=contention.withdraw_each, args=(database_url, pool.id,
                                                                       [m.id for m in members], results))]  # fmt: skip
    processes += [
        context.Process(target=contention.close_at_once, args=(database_url, pool.id, pool.organiser.id, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    closers = [outcome for kind, outcome in collected if kind == "closer"]
    (left,) = [ids for kind, ids in collected if kind == "withdrawer"]
    assert len(set(closers)) == 1 and closers[0] in ("awarded", "failed"), closers  # one outcome, no errors
    served = set(session.scalars(select(AwardLine.member_id).join(Award).where(Award.pool_id == pool.id)))
    assert not served & set(left), "a member told they had left the pool was awarded"
    assert session.scalar(select(func.count(Award.id)).where(Award.pool_id == pool.id)) <= 1


def _run_workers(url, pool_id, vendors, members):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=contention.vendor_bids, args=(url, pool_id, v.id, ROUNDS, n, results))
        for n, v in enumerate(vendors)
    ]
    for n in range(MEMBER_WORKERS):
        ids = [m.id for m in members[n * MEMBERS_EACH : (n + 1) * MEMBERS_EACH]]
        processes.append(context.Process(target=contention.member_joins, args=(url, pool_id, ids, n, results)))
    for process in processes:
        process.start()
    collected = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return collected


def _replay(stored, pool, closes_at):
    """Apply the auction rules to the bids in commit order; check each stored decision."""
    current, used = {}, 0
    for bid in stored:
        before = leader(list(current.values()), bid.demand_at_bid)
        previous = current.get(bid.vendor_id)
        if previous is not None:
            assert rules.improves_on(previous.tiers, bid.tier_list, bid.demand_at_bid), bid.id
        current[bid.vendor_id] = offer_of(bid)
        after = leader(list(current.values()), bid.demand_at_bid)
        took = after is not None and after.bid_id == bid.id and (before is None or before.vendor_id != bid.vendor_id)
        assert took == bid.took_lead, f"bid {bid.id}: stored took_lead={bid.took_lead}, replay says {took}"
        if took and before is not None:
            assert after.unit_price <= rules.required_to_lead(before.unit_price, pool.min_decrement_pct)
        extended = False
        if took:
            closes_at, new_used = rules.soft_close(
                closes_at, bid.created_at, pool.soft_close_minutes, used, pool.max_extensions
            )
            extended, used = new_used != used, new_used
        assert extended == bid.extended_close, f"bid {bid.id}: extension mismatch"
    return closes_at, used
