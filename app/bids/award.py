"""Closing a pool: clear its demand against its active bids and write the award, or fail it. No Flask here.

This is the auction's end, so it lives with the bids; the pool's side of it (locking the row, the
status transition and its audit event) comes from `app.pools`. The clearing rule itself is pure
(`app.bids.split.clear_split` for split pools, `app.bids.rules.clear` for single ones;
docs/domain.md "The reverse auction and clearing").

Under `price_and_reputation` bids are compared by price times a factor from each vendor's trust.
Trust belongs to the reputation package, above this one, so callers pass the lookup in:
`price_factors(session, vendor_ids)` returns each vendor's factor (the web floor, the scheduler and
the CLI pass `app.reputation.scores.price_factors`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids import rules as bid_rules
from app.bids.models import Award, AwardLine, Bid, BidStatus
from app.bids.outlook import Outlook, outlook
from app.bids.rules import Demand, Offer
from app.bids.service import offer_of
from app.bids.split import SplitOutcome, clear_single, clear_split
from app.db.bulk import insert_rows
from app.errors import InvalidTransition
from app.money import line_amount_minor
from app.pools.fanout import notify_members_of_pools
from app.pools.lifecycle import CLOSED, transition
from app.pools.models import AuctionKind, AwardMode, AwardRule, Commitment, CommitmentStatus, Pool, PoolStatus
from app.pools.service import get_organised_pool_for_update, get_pool_for_update

PriceFactors = Callable[[Session, Collection[int]], Mapping[int, Decimal]]


def close_pool(
    session: Session, *, pool_id: int, actor: User | None, now: datetime, price_factors: PriceFactors
) -> Pool:
    """Close and clear the pool: award it to the winning bid, or mark it failed. Idempotent.

    `actor` None is the scheduler or an operator's CLI, which only close pools that are due; the
    organiser (or an operator account) may close an open pool early.
    """
    pool = (
        get_pool_for_update(session, pool_id)
        if actor is None
        else get_organised_pool_for_update(session, pool_id, actor)
    )
    if pool.status in CLOSED:
        return pool
    if pool.status != PoolStatus.OPEN:
        raise InvalidTransition(f"A {pool.status} pool cannot be closed.")
    if actor is None and now < pool.closes_at:
        raise InvalidTransition("This pool is not due to close yet.")
    _clear(session, [pool], actor, now, price_factors)
    return pool


@dataclass(frozen=True)
class ClosePreview:
    """What closing an open pool now would do, for the organiser to confirm first."""

    members_charged: int  # served members, each charged their line
    total_minor: int  # what they would be charged together
    unit_price: Decimal | None
    shortfall: int  # units still missing to tip (the pool fails when > 0)
    note: str | None  # why it would fail


def preview_close(session: Session, pool: Pool, price_factors: PriceFactors) -> ClosePreview:
    """Clear the pool as closing it now would, writing nothing."""
    demands = _demands(session, [pool.id])
    offers = _offers(session, [pool], _active_bids(session, [pool.id]), price_factors)
    outcome = clear_market(pool, demands[pool.id], offers[pool.id])
    if outcome is None:
        shortfall = max(0, pool.min_quantity - pool.committed_quantity)
        note = None if shortfall else "no bid can serve the members at a price they accepted"
        return ClosePreview(0, 0, None, shortfall, note)
    total = sum(line_amount_minor(line.quantity, outcome.unit_price, pool.currency) for line in outcome.served)
    return ClosePreview(len(outcome.served), total, outcome.unit_price, 0, None)


def market_outlook(session: Session, pool: Pool, price_factors: PriceFactors) -> Outlook | None:
    """What the open auction would clear at now (app.bids.outlook); None for a sealed auction or a pool not open."""
    if pool.status != PoolStatus.OPEN or pool.auction_kind == AuctionKind.SEALED:
        return None
    demands = _demands(session, [pool.id])[pool.id]
    offers = _offers(session, [pool], _active_bids(session, [pool.id]), price_factors)[pool.id]
    return outlook(demands, offers, min_quantity=pool.min_quantity, split=pool.award_mode == AwardMode.SPLIT)


def clear_market(pool: Pool, demands: Sequence[Demand], offers: Sequence[Offer]) -> SplitOutcome | None:
    """Clear the pool by its award mode; a single-rule award is one with one winner."""
    if pool.award_mode == AwardMode.SPLIT:
        return clear_split(demands, offers, min_quantity=pool.min_quantity)
    return clear_single(demands, offers, min_quantity=pool.min_quantity)


def close_due(session: Session, *, pool_ids: Sequence[int], now: datetime, price_factors: PriceFactors) -> int:
    """close_pool for many due pools at once (the scheduler's and CLI's path); return how many closed.

    The pools are locked in id order and cleared together, so a batch costs a few statements, not
    a few per pool. Pools already closed, or not open and due, are left as they are (idempotent).
    """
    query = select(Pool).where(Pool.id.in_(pool_ids)).order_by(Pool.id).with_for_update()
    locked = session.scalars(query.execution_options(populate_existing=True)).all()
    due = [pool for pool in locked if pool.status == PoolStatus.OPEN and pool.closes_at <= now]
    _clear(session, due, None, now, price_factors)
    return len(due)


def _clear(
    session: Session, pools: Sequence[Pool], actor: User | None, now: datetime, price_factors: PriceFactors
) -> None:
    """Clear locked open pools: award each to its winning bid or mark it failed, in batched writes."""
    if not pools:
        return
    ids = [pool.id for pool in pools]
    demands = _demands(session, ids)
    active = _active_bids(session, ids)
    offers = _offers(session, pools, active, price_factors)
    awards: list[tuple[Pool, SplitOutcome, str]] = []
    for pool in pools:
        outcome = clear_market(pool, demands[pool.id], offers[pool.id])
        if outcome is None:
            pool.outcome_note = (
                f"Only {pool.committed_quantity} of the {pool.min_quantity} {pool.unit} needed were committed."
                if not pool.has_tipped
                else "No bid could serve the members at a price they accepted."
            )
        else:
            fingerprint = bid_rules.fingerprint(demands[pool.id], offers[pool.id], pool.min_quantity, pool.award_mode)
            awards.append((pool, outcome, fingerprint))
    award_ids = _write_awards(session, awards, now)
    _settle_commitments(session, ids, award_ids, now)
    won = {winner.bid_id for _, outcome, _ in awards for winner in outcome.winners}
    for bid in (bid for bids_of_pool in active.values() for bid in bids_of_pool):
        bid.status = BidStatus.WON if bid.id in won else BidStatus.LOST
    notify_members_of_pools(
        session,
        [
            (
                pool,
                f"“{pool.title}” was awarded at {outcome.unit_price.normalize():f} "
                f"{pool.currency} per {pool.unit}{_by_vendors(outcome)}. Served members will be charged their share.",
            )
            for pool, outcome, _ in awards
        ],
        "awarded",
        now,
        statuses=[CommitmentStatus.SERVED, CommitmentStatus.UNSERVED],
    )
    awarded = {pool.id: outcome for pool, outcome, _ in awards}
    failed = []
    for pool in pools:
        pool.closed_at = now
        outcome = awarded.get(pool.id)
        if outcome is None:
            transition(
                session, pool, PoolStatus.FAILED, actor_id=actor.id if actor else None, now=now, action="pool.close"
            )
            failed.append((pool, f"“{pool.title}” did not go ahead: {pool.outcome_note or 'it failed.'} "
                           "You were not charged, and nothing will be taken."))  # fmt: skip
            continue
        pool.outcome_note = None
        transition(
            session,
            pool,
            PoolStatus.AWARDED,
            actor_id=actor.id if actor else None,
            now=now,
            action="pool.close",
            extra={
                "bid_id": outcome.winners[0].bid_id,
                "winners": [winner.bid_id for winner in outcome.winners],
                "unit_price": str(outcome.unit_price),
                "served_quantity": outcome.served_quantity,
            },
        )
    notify_members_of_pools(
        session, failed, "not_charged", now, statuses=[CommitmentStatus.ACTIVE, CommitmentStatus.UNSERVED]
    )


def _demands(session: Session, pool_ids: list[int]) -> dict[int, list[Demand]]:
    """Each pool's active commitments as clearing demands, read as plain rows (a pool may have thousands)."""
    query = select(
        Commitment.pool_id,
        Commitment.id,
        Commitment.member_id,
        Commitment.quantity,
        Commitment.max_unit_price,
        Commitment.joined_at,
        Commitment.smaller_points,
    ).where(Commitment.pool_id.in_(pool_ids), Commitment.status == CommitmentStatus.ACTIVE)
    query = query.order_by(Commitment.pool_id, Commitment.joined_at, Commitment.id)
    demands: dict[int, list[Demand]] = {pool_id: [] for pool_id in pool_ids}
    for pool_id, id_, member, quantity, price, joined, smaller in session.execute(query):
        demands[pool_id].append(Demand(id_, member, quantity, price, (joined, id_), smaller))
    return demands


def _active_bids(session: Session, pool_ids: list[int]) -> dict[int, list[Bid]]:
    """Each pool's active bids, oldest first."""
    query = select(Bid).where(Bid.pool_id.in_(pool_ids), Bid.status == BidStatus.ACTIVE).order_by(Bid.id)
    active: dict[int, list[Bid]] = {pool_id: [] for pool_id in pool_ids}
    for bid in session.scalars(query):
        active[bid.pool_id].append(bid)
    return active


def _offers(
    session: Session, pools: Sequence[Pool], active: dict[int, list[Bid]], price_factors: PriceFactors
) -> dict[int, list[Offer]]:
    """The active bids as clearing offers; under price_and_reputation each carries its vendor's factor."""
    reputation = [pool.id for pool in pools if pool.award_rule == AwardRule.PRICE_AND_REPUTATION]
    vendors = {bid.vendor_id for pool_id in reputation for bid in active[pool_id]}
    factors = price_factors(session, vendors) if vendors else {}
    return {
        pool_id: [offer_of(bid, factors[bid.vendor_id]) if pool_id in reputation else offer_of(bid) for bid in of_pool]
        for pool_id, of_pool in active.items()
    }


def _by_vendors(outcome: SplitOutcome) -> str:
    """The words naming a split award's vendors (", shared by 3 vendors"), or nothing for one winner."""
    return f", shared by {len(outcome.winners)} vendors" if len(outcome.winners) > 1 else ""


def _write_awards(session: Session, awards: list[tuple[Pool, SplitOutcome, str]], now: datetime) -> list[int]:
    """Store each award and its lines (the lines as one batch of rows); return the award ids."""
    lines: list[dict[str, object]] = []
    written = []
    for pool, outcome, fingerprint in awards:
        amounts = [line_amount_minor(line.quantity, outcome.unit_price, pool.currency) for line in outcome.served]
        first = outcome.winners[0]
        award = Award(
            pool_id=pool.id,
            bid_id=first.bid_id,
            vendor_id=first.vendor_id,
            unit_price=outcome.unit_price,
            served_quantity=outcome.served_quantity,
            total_minor=sum(amounts),
            fingerprint=fingerprint,
            computed_at=now,
        )
        session.add(award)
        written.append((award, outcome, amounts))
    session.flush()
    for award, outcome, amounts in written:
        session.expire(award, ["lines"])  # written as rows below: loaded from the database when read
        served_by = [winner for winner in outcome.winners for _ in winner.served]  # as outcome.served runs
        lines.extend(
            {
                "award_id": award.id,
                "commitment_id": line.commitment_id,
                "member_id": line.member_id,
                "bid_id": winner.bid_id,
                "vendor_id": winner.vendor_id,
                "quantity": line.quantity,
                "amount_minor": amount,
            }
            for line, winner, amount in zip(outcome.served, served_by, amounts, strict=True)
        )
    insert_rows(session, AwardLine, lines)
    return [award.id for award, _, _ in written]


def _settle_commitments(session: Session, pool_ids: list[int], award_ids: list[int], now: datetime) -> None:
    """Mark the pools' active commitments served (those on the awards' lines) or unserved, set-wise."""
    active = (Commitment.pool_id.in_(pool_ids), Commitment.status == CommitmentStatus.ACTIVE)
    if award_ids:
        lines = select(AwardLine.commitment_id).where(AwardLine.award_id.in_(award_ids)).scalar_subquery()
        session.execute(
            update(Commitment)
            .where(*active, Commitment.id.in_(lines))
            .values(status=CommitmentStatus.SERVED, updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
    session.execute(
        update(Commitment)
        .where(*active)
        .values(status=CommitmentStatus.UNSERVED, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
