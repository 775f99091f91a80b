"""Bid use cases: place or revise a bid, withdraw it, and what each viewer may see. No Flask here.

The bid path's SQL lives in `app.bids.store`; this module holds the rules that decide what it writes.

Every bid on a pool takes the pool's row lock first, so bids (and joins, which take the same
lock) are serialised in commit order: the leader, the demand a bid saw and any soft-close
extension are decided on a consistent state and can be replayed from the bid rows.

Placing a bid is the hottest path of an auction, and its locked section is kept short: the curve is
validated before the lock, the store reads the locked pool and its offers in one round trip, the
lead and the soft close are computed here in plain code, and the store writes the bid in one more.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.accounts.service import require_verified
from app.bids import rules, store
from app.bids.charts import Chart, build_chart
from app.bids.models import Award, AwardLine, Bid, BidStatus, tiers_to_json
from app.bids.outlook import Outlook
from app.bids.rules import Offer, Tier
from app.errors import Conflict, Forbidden, NotFound, PoolNotOpen, ValidationFailed
from app.notifications.models import Notification
from app.pools.fanout import notify_pool_members
from app.pools.models import AuctionKind, CommitmentStatus, Pool, PoolStatus, Visibility
from app.pools.service import ensure_visible, get_pool_for_update, grant_access


class BidDoesNotImprove(Conflict):
    code = "bid_does_not_improve"


class InsufficientDecrement(Conflict):
    code = "insufficient_decrement"


class TooManyWithdrawals(Conflict):
    code = "too_many_withdrawals"


@dataclass(frozen=True)
class Leader:
    bid_id: int
    vendor_id: int
    unit_price: Decimal


def offer_of(bid: Bid, price_factor: Decimal = Decimal(1)) -> Offer:
    """The clearing's view of a bid."""
    return Offer(
        bid_id=bid.id,
        vendor_id=bid.vendor_id,
        tiers=bid.tier_list,
        capacity=bid.capacity,
        bid_order=(bid.created_at, bid.id),
        price_factor=price_factor,
    )


def active_bids(session: Session, pool_id: int) -> list[Bid]:
    """The pool's active bids, oldest first."""
    query = select(Bid).where(Bid.pool_id == pool_id, Bid.status == BidStatus.ACTIVE).order_by(Bid.id)
    return list(session.scalars(query))


def active_bids_version(session: Session, pool_id: int) -> tuple[int, int | None]:
    """How many active bids the pool has and the newest one's id: it changes with every bid placed,
    revised (a revision is a new row) or withdrawn."""
    query = select(func.count(Bid.id), func.max(Bid.id)).where(Bid.pool_id == pool_id, Bid.status == BidStatus.ACTIVE)
    count, newest = session.execute(query).one()
    return count, newest


def has_active_bid(session: Session, pool_id: int, vendor_id: int) -> bool:
    """Whether the user bids on the pool (a vendor may not be served by its own bid)."""
    query = select(Bid.id).where(Bid.pool_id == pool_id, Bid.vendor_id == vendor_id, Bid.status == BidStatus.ACTIVE)
    return session.scalar(query.limit(1)) is not None


def current_bid(session: Session, pool_id: int, vendor_id: int) -> Bid | None:
    """The vendor's active bid on the pool, if any."""
    return session.scalar(
        select(Bid).where(Bid.pool_id == pool_id, Bid.vendor_id == vendor_id, Bid.status == BidStatus.ACTIVE)
    )


def price_at_demand(offer: Offer, demand: int) -> Decimal | None:
    """What the bid charges per unit if it served `demand` units (None: it cannot)."""
    return rules.price_at(offer.tiers, demand) if offer.capacity >= demand else None


def leader(offers: Sequence[Offer], demand: int) -> Leader | None:
    """The bid with the lowest price at the current demand; the earliest wins a tie."""
    priced = [
        (price, offer.bid_order, offer) for offer in offers if (price := price_at_demand(offer, demand)) is not None
    ]
    if not priced:
        return None
    price, _, best = min(priced, key=lambda item: (item[0], item[1]))
    return Leader(best.bid_id, best.vendor_id, price)


def _check_bidder(
    session: Session, pool: store.PoolTerms, vendor: User, now: datetime, trust_of: Callable[[Session, int], float]
) -> None:
    if vendor.vendor_profile is None:
        raise Forbidden("Only vendors can bid; create a vendor profile first.")
    if pool.status == PoolStatus.DRAFT:
        raise NotFound("No such pool.")  # a draft is its organiser's alone, as on every other path
    if pool.visibility != Visibility.PUBLIC:  # the one visibility check, as for reading the pool
        ensure_visible(session, session.get_one(Pool, pool.id), vendor)
        grant_access(session, pool.id, vendor.id, now)  # a bidder keeps sight of the pool (it left the club)
    if not (pool.status == PoolStatus.OPEN and now < pool.closes_at):
        raise PoolNotOpen("This pool is closed; bids are no longer accepted.")
    if pool.organiser_id == vendor.id:
        raise Forbidden("You organise this pool, so you cannot bid on it.")
    require_verified(vendor)  # a bid can win money
    if not pool.allow_unverified_vendors and not vendor.vendor_profile.is_verified:
        raise Forbidden(
            "This pool takes bids only from verified vendors. Give your payout details on your vendor "
            "page; once they are verified you can bid here."
        )
    if pool.membership == CommitmentStatus.ACTIVE:
        raise Forbidden("You are a member of this pool, so you cannot bid on it.")
    if pool.min_vendor_trust is not None and (trust := trust_of(session, vendor.id)) < pool.min_vendor_trust:
        raise Forbidden(
            f"This pool accepts bids from vendors with a trust score of at least {pool.min_vendor_trust}; "
            f"yours is {trust:.3f}. Trust grows with good feedback from settled pools."
        )


def _validated(tiers: list[Tier], capacity: int) -> tuple[Tier, ...]:
    try:
        rules.validate_tiers(tiers, capacity)
    except rules.InvalidBid as exc:
        raise ValidationFailed("The bid's tiers or capacity are invalid.", exc.errors) from exc
    return tuple(tiers)


@dataclass(frozen=True)
class Placed:
    """A bid just placed, and whether its lead may be news to the pool's members (see after_placing)."""

    bid: store.BidRow
    announce: bool  # it took the lead in an open auction
    sealed: bool  # placed in a sealed auction: the answer must not depend on other bids

    def view(self) -> BidView:
        """The bid as its vendor sees it in the answer to placing it."""
        return BidView(self.bid, None, None, self.sealed)


def place(
    session: Session,
    *,
    pool_id: int,
    vendor: User,
    tiers: list[Tier],
    capacity: int,
    now: datetime,
    trust_of: Callable[[Session, int], float],
    delivery_window: str = "",
    notes: str = "",
) -> Placed:
    """Place or revise a vendor's bid and say whether members should hear of it (announce_new_leader).

    `trust_of(session, vendor_id)` is the vendor's trust, asked only when the pool sets a minimum
    (trust is the reputation package's, above this one: the caller passes
    `app.reputation.scores.trust_of`).

    The pool's row lock is held from the first statement to the commit, so everything that needs
    no database runs before it: the curve's validation here, the request's parsing in the views.
    """
    curve = _validated(tiers, capacity)
    session.flush()  # the Core statements below skip autoflush: write pending changes before the lock
    pool, active = store.lock_pool_and_read_offers(session, pool_id, vendor.id)
    _check_bidder(session, pool, vendor, now, trust_of)
    previous = next((offer for offer in active if offer.vendor_id == vendor.id), None)
    demand = pool.committed_quantity
    if previous is not None and not rules.improves_on(previous.tiers, curve, demand):
        raise BidDoesNotImprove(_improve_message(pool, previous, demand))
    others = [offer for offer in active if offer.vendor_id != vendor.id]
    before = leader([*others, *([previous] if previous else [])], demand)
    _check_decrement(pool, before, vendor.id, curve, capacity, demand)
    # The new bid is the newest: its id is not known before the insert, but it sorts after every other.
    provisional = Offer(0, vendor.id, curve, capacity, (now, sys.maxsize))
    after = leader([*others, provisional], demand)
    took_lead = after is not None and after.bid_id == 0 and (before is None or before.vendor_id != vendor.id)
    closes_at, extensions_used = pool.closes_at, pool.extensions_used
    # Anti-sniping: a lead taken in the last minutes moves the close out (soft close). Open auctions
    # only: in a sealed one a moved close would tell everyone that the ranking changed.
    if took_lead and pool.auction_kind == AuctionKind.OPEN:
        closes_at, extensions_used = rules.soft_close(
            pool.closes_at, now, pool.soft_close_minutes, pool.extensions_used, pool.max_extensions
        )
    bid = store.write_bid(
        session,
        pool_id=pool.id,
        vendor_id=vendor.id,
        tiers=tiers_to_json(curve),
        capacity=capacity,
        demand_at_bid=demand,
        delivery_window=delivery_window,
        notes=notes,
        replaces_id=previous.bid_id if previous else None,
        took_lead=took_lead,
        extended_close=extensions_used != pool.extensions_used,
        created_at=now,
    )
    if bid.extended_close:
        store.extend_close(session, pool.id, closes_at, extensions_used)
    is_open = pool.auction_kind == AuctionKind.OPEN
    return Placed(bid, took_lead and is_open, sealed=not is_open)


def _improve_message(pool: store.PoolTerms, previous: Offer, demand: int) -> str:
    """Explain a refused revision; the vendor's own price is never a secret."""
    own = price_at_demand(previous, demand) or previous.tiers[0].unit_price
    return f"A revised bid must be lower than your current bid ({own:.4f} per {pool.unit} at the current demand)."


def _check_decrement(
    pool: store.PoolTerms, before: Leader | None, vendor_id: int, curve: tuple[Tier, ...], capacity: int, demand: int
) -> None:
    """In open auctions a bid that takes the lead must beat the leader by min_decrement_pct.

    Sealed auctions skip this rule: refusing a bid there would tell the vendor where the leader is.
    """
    if pool.auction_kind != AuctionKind.OPEN or before is None or before.vendor_id == vendor_id:
        return
    price = price_at_demand(Offer(0, vendor_id, curve, capacity, ()), demand)
    if price is None or price >= before.unit_price:
        return  # not taking the lead: any price is allowed
    needed = rules.required_to_lead(before.unit_price, pool.min_decrement_pct)
    if price > needed:
        raise InsufficientDecrement(
            f"To take the lead your price at the current demand must be {needed:.4f} or lower "
            f"({pool.min_decrement_pct} % below the leading {before.unit_price:.4f})."
        )


def withdraw_bid(session: Session, *, pool_id: int, bid_id: int, vendor: User, now: datetime) -> Bid:
    """Withdraw the vendor's active bid while the pool is open, at most MAX_WITHDRAWALS times a pool.

    Withdrawing and bidding again is how a vendor would probe for a leader's price, so it is
    limited, and each withdrawal's audit event counts the vendor's withdrawals so far.
    """
    pool = get_pool_for_update(session, pool_id)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.pool_id != pool.id or bid.vendor_id != vendor.id:
        raise NotFound("No such bid.")
    if not pool.is_open_at(now):
        raise PoolNotOpen("This pool is closed; bids can no longer be withdrawn.")
    if bid.status == BidStatus.WITHDRAWN:
        return bid
    if not bid.is_active:
        raise Conflict("Only your current bid can be withdrawn.")
    withdrawals = _withdrawals(session, pool.id, vendor.id)
    if withdrawals >= rules.MAX_WITHDRAWALS:
        raise TooManyWithdrawals(
            f"You have withdrawn a bid on this pool {withdrawals} times, the most allowed; "
            "you can still revise your bid to a lower price."
        )
    bid.status, bid.withdrawn_at = BidStatus.WITHDRAWN, now
    audit.record(
        session,
        action="bid.withdraw",
        subject=bid,
        actor_id=vendor.id,
        now=now,
        pool_id=pool.id,
        before={"status": BidStatus.ACTIVE},
        after={"status": BidStatus.WITHDRAWN, "withdrawals": withdrawals + 1},
    )
    return bid


def _withdrawals(session: Session, pool_id: int, vendor_id: int) -> int:
    query = select(func.count(Bid.id)).where(
        Bid.pool_id == pool_id, Bid.vendor_id == vendor_id, Bid.status == BidStatus.WITHDRAWN
    )
    return session.scalar(query) or 0


def award_of(session: Session, pool_id: int) -> Award | None:
    """The pool's award, if it has been cleared with a winner."""
    return session.scalar(select(Award).where(Award.pool_id == pool_id))


def best_unit_prices(session: Session, pools: Sequence[Pool]) -> dict[int, Decimal | None]:
    """The price people may see for each pool, in two queries whatever the number of pools.

    Awarded and later: the award's price. Open auctions: the best price at the current demand.
    Sealed auctions, drafts, failed and cancelled pools: None.
    """
    prices: dict[int, Decimal | None] = {pool.id: None for pool in pools}
    closed = [p.id for p in pools if p.status not in (PoolStatus.OPEN, PoolStatus.DRAFT)]
    if closed:
        for pool_id, price in session.execute(select(Award.pool_id, Award.unit_price).where(Award.pool_id.in_(closed))):
            prices[pool_id] = price
    auctions = {p.id: p for p in pools if p.status == PoolStatus.OPEN and p.auction_kind == AuctionKind.OPEN}
    if auctions:
        query = select(Bid).where(Bid.pool_id.in_(auctions), Bid.status == BidStatus.ACTIVE)
        offers: dict[int, list[Offer]] = {}
        for bid in session.scalars(query):
            offers.setdefault(bid.pool_id, []).append(offer_of(bid))
        for pool_id, pool_offers in offers.items():
            best = leader(pool_offers, auctions[pool_id].committed_quantity)
            prices[pool_id] = best.unit_price if best else None
    return prices


def best_unit_price(session: Session, pool: Pool) -> Decimal | None:
    """The price people may see for one pool (see best_unit_prices)."""
    return best_unit_prices(session, [pool])[pool.id]


@dataclass(frozen=True)
class BidView:
    """A bid as one viewer may see it, with its rank when the rules let the viewer know it."""

    bid: Bid | store.BidRow
    rank: int | None
    price_now: Decimal | None  # the bid's price at the current demand
    sealed: bool = False  # the pool's bids are sealed: nothing that depends on other bids is shown

    @property
    def took_lead(self) -> bool | None:
        """Whether the bid took the lead when placed; not disclosed while bids are sealed."""
        return None if self.sealed else self.bid.took_lead


def ranks(pool: Pool, bids: Sequence[Bid]) -> dict[int, int]:
    """Rank active bids by their price at the current demand (bids that cannot serve it come last)."""
    demand = pool.committed_quantity
    keyed = sorted(
        bids,
        key=lambda b: (
            price_at_demand(offer_of(b), demand) is None,
            price_at_demand(offer_of(b), demand) or 0,
            b.created_at,
            b.id,
        ),
    )
    return {bid.id: position for position, bid in enumerate(keyed, start=1)}


def bids_visible_to(session: Session, pool: Pool, viewer: User) -> list[BidView]:
    """The bids the viewer may see: a vendor its own; the organiser all, once sealed bids are opened."""
    sees_all = (pool.is_organised_by(viewer) or viewer.is_admin) and (
        pool.auction_kind == AuctionKind.OPEN or pool.status != PoolStatus.OPEN
    )
    query = select(Bid).where(Bid.pool_id == pool.id).order_by(Bid.id.desc())
    if not sees_all:
        query = query.where(Bid.vendor_id == viewer.id)
    shown = list(session.scalars(query))
    # A vendor may know its rank in an open auction; in a sealed one that would reveal others' bids.
    rank_known = pool.status == PoolStatus.OPEN and (pool.auction_kind == AuctionKind.OPEN or sees_all)
    ranking = ranks(pool, active_bids(session, pool.id)) if rank_known else {}
    demand = pool.committed_quantity
    sealed = pool.bids_sealed
    return [BidView(bid, ranking.get(bid.id), price_at_demand(offer_of(bid), demand), sealed) for bid in shown]


@dataclass(frozen=True)
class WinnerShare:
    """One winning bid's part of an award: what it supplies and is paid (before the fee)."""

    bid_id: int
    vendor_id: int
    quantity: int
    total_minor: int


def winners_of(award: Award) -> list[WinnerShare]:
    """The award's winners in merit order (the order their lines were written)."""
    shares: dict[int, WinnerShare] = {}
    for line in award.lines:
        found = shares.get(line.bid_id, WinnerShare(line.bid_id, line.vendor_id, 0, 0))
        shares[line.bid_id] = WinnerShare(
            line.bid_id, line.vendor_id, found.quantity + line.quantity, found.total_minor + line.amount_minor
        )
    return list(shares.values())


@dataclass(frozen=True)
class AwardView:
    """An award with only the served lines the viewer may see, and every winner's share."""

    award: Award
    currency: str
    served: list[AwardLine]
    winners: list[WinnerShare]

    def __getattr__(self, name: str) -> object:
        return getattr(self.award, name)


def award_visible_to(session: Session, pool: Pool, viewer: User | None) -> AwardView:
    """The pool's award; the organiser and operators see every line, a winner the lines it serves, a
    member their own."""
    award = award_of(session, pool.id)
    if award is None:
        raise NotFound("This pool has no award.")
    sees_all = viewer is not None and (pool.is_organised_by(viewer) or viewer.is_admin)
    lines = [
        line
        for line in award.lines
        if sees_all or (viewer is not None and viewer.id in (line.member_id, line.vendor_id))
    ]
    return AwardView(award, pool.currency, lines, winners_of(award))


@dataclass(frozen=True)
class DashboardRow:
    pool: Pool
    bid: Bid | None  # the vendor's current (or final) bid on the pool
    rank: int | None
    best: Decimal | None  # the best price the vendor may see


@dataclass(frozen=True)
class Dashboard:
    matching: list[DashboardRow]  # open pools in the vendor's categories
    my_bids: list[DashboardRow]  # pools the vendor bid on, newest first


def vendor_dashboard(session: Session, vendor: User, *, now: datetime, limit: int = 50) -> Dashboard:
    """Open pools the vendor could bid on, and the vendor's bids with rank and status, in four queries."""
    categories = vendor.vendor_profile.categories if vendor.vendor_profile else []
    matching = list(
        session.scalars(
            select(Pool)
            .where(
                Pool.status == PoolStatus.OPEN,
                Pool.visibility == Visibility.PUBLIC,
                Pool.closes_at > now,
                Pool.category.in_(categories),
            )
            .order_by(Pool.closes_at)
            .limit(limit)
        )
    )
    mine = list(
        session.scalars(
            select(Bid)
            .where(Bid.vendor_id == vendor.id, Bid.status.in_([BidStatus.ACTIVE, BidStatus.WON, BidStatus.LOST]))
            .order_by(Bid.id.desc())
            .limit(limit)
        )
    )
    bid_pools = {p.id: p for p in session.scalars(select(Pool).where(Pool.id.in_({b.pool_id for b in mine})))}
    every = {p.id: p for p in [*matching, *bid_pools.values()]}
    ranking = _open_ranks(session, [p for p in every.values() if p.auction_kind == AuctionKind.OPEN])
    best = best_unit_prices(session, list(every.values()))
    by_pool = {b.pool_id: b for b in mine}

    def row(pool: Pool) -> DashboardRow:
        bid = by_pool.get(pool.id)
        return DashboardRow(pool, bid, ranking.get(bid.id) if bid else None, best[pool.id])

    return Dashboard([row(p) for p in matching], [row(bid_pools[b.pool_id]) for b in mine])


def _open_ranks(session: Session, pools: Sequence[Pool]) -> dict[int, int]:
    """Ranks of the active bids in these open-auction pools, by bid id."""
    open_pools = {p.id: p for p in pools if p.status == PoolStatus.OPEN}
    if not open_pools:
        return {}
    grouped: dict[int, list[Bid]] = {}
    for bid in session.scalars(select(Bid).where(Bid.pool_id.in_(open_pools), Bid.status == BidStatus.ACTIVE)):
        grouped.setdefault(bid.pool_id, []).append(bid)
    result: dict[int, int] = {}
    for pool_id, pool_bids in grouped.items():
        result.update(ranks(open_pools[pool_id], pool_bids))
    return result


@dataclass(frozen=True)
class Market:
    """What the pool page shows of the auction."""

    best: Decimal | None
    chart: Chart | None  # open auctions only
    next_drop: tuple[int, Decimal] | None  # (more units needed, the price then)
    bidders: int
    outlook: Outlook | None = None  # what it would clear at now (open auctions only)


def market_view(session: Session, pool: Pool, outlook: Outlook | None = None) -> Market:
    """The best price, the price chart and the next price drop, as far as the auction rules show them.

    `outlook` is the clearing as it stands (app.bids.award.market_outlook, which needs the vendors'
    reputation): with it, the chart draws the members' demand curve and the next drop is read from
    every curve together; without it, from the best single bid at today's demand.
    """
    bids = active_bids(session, pool.id) if pool.status == PoolStatus.OPEN else []
    if pool.auction_kind == AuctionKind.SEALED or pool.status != PoolStatus.OPEN:
        return Market(best_unit_price(session, pool), None, None, len(bids))
    offers = [offer_of(bid) for bid in bids]
    best = leader(offers, pool.committed_quantity)
    if outlook is None:
        drop = rules.next_price_drop(offers, pool.committed_quantity)
        chart = build_chart(offers, pool.committed_quantity)
    else:
        drop = outlook.next_drop
        clearing = (outlook.served_quantity, outlook.unit_price) if outlook.unit_price is not None else None
        chart = build_chart(offers, pool.committed_quantity, outlook.demand, clearing)
    return Market(best.unit_price if best else None, chart, drop, len(bids), outlook)


def after_placing(session: Session, placed: Placed, *, now: datetime) -> list[Callable[[], None]]:
    """What follows a placed bid once it is committed (see app.unit_of_work): telling the members of
    a new leader, when the bid took the lead of an open auction and they have not been told yet."""
    if not placed.announce:
        return []
    return [partial(announce_new_leader, session, pool_id=placed.bid.pool_id, now=now)]


def announce_new_leader(session: Session, *, pool_id: int, now: datetime) -> None:
    """Tell the pool's members once that vendors are undercutting each other (after the bid committed).

    Members are told once per pool: a lookup on the organiser's notice (the fan-out always includes
    the organiser; the unique index (user_id, pool_id, kind) answers it) ends most calls without a
    lock. Otherwise the pool is locked: two vendors taking the lead at once announce one after the
    other, and the second finds the members told.
    """
    if _members_told(session, pool_id):
        return
    query = select(Pool).where(Pool.id == pool_id).with_for_update()
    pool = session.scalar(query.execution_options(populate_existing=True))
    if pool is None or pool.auction_kind != AuctionKind.OPEN:
        return  # a sealed auction's lead is a secret
    if not _members_told(session, pool_id):  # again, under the lock
        notify_pool_members(
            session,
            pool,
            "new_best_price",
            f"Vendors are competing for “{pool.title}”: there is a new best price. See how low it goes.",
            now,
            statuses=[CommitmentStatus.ACTIVE],
        )


def _members_told(session: Session, pool_id: int) -> bool:
    """Whether the pool's members have heard of a new best price (the organiser's notice says so)."""
    told = select(Notification.id).join(Pool, Pool.organiser_id == Notification.user_id)
    told = told.where(Pool.id == pool_id, Notification.pool_id == pool_id, Notification.kind == "new_best_price")
    return session.scalar(told.limit(1)) is not None
