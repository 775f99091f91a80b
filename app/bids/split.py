"""Split clearing: the members' demand against several vendors' curves, at one uniform price. Pure.

The rule (docs/domain.md, "Split awards"), for each candidate price P, every distinct tier price
among the bids:
1. the willing members are the commitments whose demand curve takes a quantity at P, in join
   order, each for that quantity;
2. a bid is eligible when it has a tier priced at or below P that its capacity reaches; its floor
   at P is the `min_quantity` of its first tier priced at or below P. Because a curve's price
   never rises with quantity, that is exactly "its price at capacity is at or below P";
3. eligible bids stand in merit order: price at capacity (times the reputation factor under
   `price_and_reputation`), then the earliest bid, then the lowest id;
4. each willing member, whole, goes to the first bid in merit order with room for it; a member
   that fits nowhere is not served;
5. the first bid in merit order filled above zero but below its floor is dropped and the fill is
   done again without it, until none is dropped;
6. the outcome at P is feasible when the served quantity reaches the pool's tipping point; its
   uniform price is the highest of the winners' own curve prices at their filled quantities, so
   it is never above P (nor any served member's maximum) and never below a winner's curve.
Across candidates the award goes to the most served quantity, then the lowest uniform price, then
the fewest winners, then the earliest winning bids (then the lower candidate price). The single
rule's award (`clearing.clear`, one winner) is a candidate too: dropping a bid below its floor
can leave a candidate serving less than one bid alone would (a Hypothesis search found such
pools), and a split award must never serve fewer members than the single rule would.

Why it is fast: the demands are indexed once (clearing.DemandBook, shared with the single rule).
A fill is one pass over the bids in merit order (see _fill_at): until a bid is kept, each fills
from every willing member, which the book answers block by block and remembers; only after the
first winner are the members still waiting listed one by one, and a bid that cannot reach its
floor with all that is left costs nothing. Candidates are examined best bound first. A bound is
first the smaller of the willing demand and the eligible capacity, then, when it reaches the top,
a bound that follows the bids in merit order (_merit_bound: a bid that must take its whole
capacity leaves the bids after it short of their floors). The search stops once no candidate left
can beat the best found.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from heapq import heapify, heappop, heappush
from itertools import accumulate
from operator import attrgetter
from typing import Any

from app.bids.clearing import Demand, DemandBook, Offer, ServedLine, Tier, clear_book, price_at, valid_curve
from app.money import EXACT


@dataclass(frozen=True)
class Winner:
    """One winning bid of a split award and the members it serves."""

    bid_id: int
    vendor_id: int
    quantity: int  # units it supplies
    curve_price: Decimal  # its own curve's price at that quantity (at or below the uniform price)
    served: tuple[ServedLine, ...]  # in join order
    bid_order: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # for the tie-break


@dataclass(frozen=True)
class SplitOutcome:
    """The award: one uniform price for every served member, and the winners in merit order."""

    unit_price: Decimal
    served_quantity: int
    winners: tuple[Winner, ...]
    candidate: Decimal  # the candidate price P it cleared at (the uniform price is at or below it)
    examined: int = 0  # candidate prices filled to reach it (for the benchmark)

    @property
    def served(self) -> tuple[ServedLine, ...]:
        """Every served line, winner by winner."""
        return tuple(line for winner in self.winners for line in winner.served)


@dataclass(frozen=True)
class _Bid:
    offer: Offer
    tiers: tuple[Tier, ...]  # by quantity
    threshold: Decimal  # its price at capacity: eligible from this price up

    def floor(self, price: Decimal) -> int:
        """The min_quantity of the first tier priced at or below `price`."""
        return next(tier.min_quantity for tier in self.tiers if tier.unit_price <= price)


def clear_split(demands: Iterable[Demand], offers: Iterable[Offer], *, min_quantity: int) -> SplitOutcome | None:
    """Return the split award, or None when no candidate price serves the tipping point."""
    members = _Members(demands)
    offers = list(offers)
    bids = _in_merit_order(offers)
    if not members.order or not bids:
        return None
    need = max(min_quantity, 1)
    book = members.book  # what members want at a price, and the largest one takes, by price rank
    thresholds = sorted(bid.threshold for bid in bids)
    supply = [0, *accumulate(bid.offer.capacity for bid in sorted(bids, key=attrgetter("threshold")))]

    def willing(price: Decimal) -> int:
        return book.eligible_total(book.rank(price))

    def loose(price: Decimal) -> int:
        return min(willing(price), supply[bisect_right(thresholds, price)])

    # Every bid's tier prices, eligible or not: each is a cut-off for who is willing. Examined
    # best bound first; a bound is first the loose one, then tightened once it reaches the top.
    heap = [(-loose(price), price, False) for price in {tier.unit_price for offer in offers for tier in offer.tiers}]
    heapify(heap)
    best = _single(bids, min_quantity, members)
    examined = 0
    while heap:
        negative, price, tight = heappop(heap)
        upper = -negative
        if upper < need or (best is not None and upper < best.served):
            break  # by bound: nothing further on can serve as much
        if not tight:
            largest_at = book.largest_quantity(book.rank(price))
            tighter = _merit_bound(bids, price, willing(price), largest_at)
            heappush(heap, (-min(upper, tighter), price, True))
            continue
        examined += 1
        fill = _fill_at(members, bids, price)
        if fill is not None and fill.served >= need and (best is None or fill.beats(best, members)):
            best = fill
    return None if best is None else best.outcome(members, examined)


class _Members:
    """The commitments in join order, indexed once (clearing.DemandBook) for every fill and the single rule."""

    def __init__(self, demands: Iterable[Demand]) -> None:
        self.book = DemandBook(demands)  # sorts into join order; refuses duplicates and empty quantities
        self.order = self.book.order
        self.position = {d.commitment_id: n for n, d in enumerate(self.order)}


_Winning = tuple[_Bid, int, Decimal, list[int] | None]  # bid, quantity, its curve price, positions (see _listed)


@dataclass
class _Fill:
    """One candidate's outcome while searching: winners as positions, made into lines only at the end."""

    price: Decimal  # the candidate
    unit_price: Decimal
    served: int
    winners: list[_Winning]
    taking: Sequence[int] | None = None  # what each member takes, by position (None: read at `price`)
    rank: int = 0  # the candidate's rank in the book, for listing a first winner's members

    def listed(self, book: _Members) -> list[tuple[_Bid, int, Decimal, list[int]]]:
        """The winners with every one's members listed."""
        listed = [
            (bid, quantity, price, _listed(book.book, self.rank, w))
            for w in self.winners
            for bid, quantity, price, _ in [w]
        ]
        self.winners = list(listed)
        return listed

    def key(self) -> tuple[Any, ...]:
        """Most served, lowest uniform price, fewest winners, the earliest winning bids, the lower candidate."""
        earliest = sorted((bid.offer.bid_order, bid.offer.bid_id) for bid, _, _, _ in self.winners)
        return (-self.served, self.unit_price, len(self.winners), earliest, self.price)

    def beats(self, other: _Fill, book: _Members) -> bool:
        """Whether this outcome wins over `other`; an exact tie goes to the members served (by id)."""
        mine, theirs = self.key(), other.key()
        if mine != theirs:
            return mine < theirs
        return self._served_ids(book) < other._served_ids(book)

    def _served_ids(self, book: _Members) -> list[int]:
        return sorted(book.order[n].commitment_id for _, _, _, positions in self.listed(book) for n in positions)

    def outcome(self, book: _Members, examined: int) -> SplitOutcome:
        taking = self.taking if self.taking is not None else book.book.taking(book.book.rank(self.price))
        winners = tuple(
            Winner(
                bid.offer.bid_id,
                bid.offer.vendor_id,
                quantity,
                curve_price,
                tuple(ServedLine(book.order[n].commitment_id, book.order[n].member_id, taking[n]) for n in positions),
                bid.offer.bid_order,
            )
            for bid, quantity, curve_price, positions in self.listed(book)
        )
        return SplitOutcome(self.unit_price, self.served, winners, self.price, examined)


def _single(bids: Sequence[_Bid], min_quantity: int, book: _Members) -> _Fill | None:
    """The single rule's award (one winner) as a candidate outcome."""
    outcome = clear_book(book.book, [bid.offer for bid in bids], min_quantity=min_quantity)
    if outcome is None:
        return None
    (bid,) = (bid for bid in bids if bid.offer.bid_id == outcome.bid_id)
    positions = [book.position[line.commitment_id] for line in outcome.served]
    taking = [0] * len(book.order)
    for n, line in zip(positions, outcome.served, strict=True):
        taking[n] = line.quantity
    winner = (bid, outcome.served_quantity, outcome.unit_price, positions)
    return _Fill(outcome.unit_price, outcome.unit_price, outcome.served_quantity, [winner], taking)


def clear_single(demands: Iterable[Demand], offers: Iterable[Offer], *, min_quantity: int) -> SplitOutcome | None:
    """The single rule's award (`clearing.clear`: one winner) in the shape of a split award."""
    members = _Members(demands)
    fill = _single(_in_merit_order(offers), min_quantity, members)
    return None if fill is None else fill.outcome(members, 0)


def _in_merit_order(offers: Iterable[Offer]) -> list[_Bid]:
    """The bids whose capacity reaches a tier, by price at capacity (adjusted), then the earliest."""
    offers = list(offers)
    ids = [offer.bid_id for offer in offers]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate bid_id in the clearing inputs")
    bids = []
    for offer in offers:
        tiers = valid_curve(offer)
        at_capacity = price_at(tiers, offer.capacity)
        if at_capacity is not None:
            bids.append(_Bid(offer, tiers, at_capacity))
    return sorted(
        bids,
        key=lambda b: (EXACT.multiply(b.threshold, b.offer.price_factor), b.offer.bid_order, b.offer.bid_id),
    )


def _merit_bound(bids: Sequence[_Bid], price: Decimal, willing: int, largest: int) -> int:
    """An upper bound on what the fill at `price` serves, following the bids in merit order.

    The fill leaves L units of willing members waiting; a bid with capacity c takes all L when
    L <= c, and otherwise between c - (largest - 1) and c (first fit stops short only by less than
    the smallest member it skipped, at most `largest`). It is kept when it takes its floor. The
    interval [low, high] holds every L the fill can reach; low only falls where some fill could
    make it fall, so `willing - low` bounds what is served. It is what makes a bid that must take
    its whole capacity leave the next bids short of their floors, which the loose bound ignores.
    """
    low = high = willing
    shortfall = max(0, largest - 1)
    for bid in bids:
        if bid.threshold > price:
            continue
        floor, capacity = bid.floor(price), bid.offer.capacity
        if high < floor:
            continue  # it can never take its floor: nothing changes
        may_drop = low < floor or (high > capacity and capacity - shortfall < floor)
        kept_low = max(0, max(low, floor) - capacity)  # it takes all it can from the least left
        kept_high = high - max(floor, high if high <= capacity else capacity - shortfall)  # the least from the most
        low = min(low, kept_low) if may_drop else kept_low
        high = high if may_drop else kept_high
    return willing - low


def _fill_at(members: _Members, bids: Sequence[_Bid], price: Decimal) -> _Fill | None:
    """Fill the willing members into the eligible bids at `price`, dropping bids below their floor.

    Filling member by member into the first bid with room is filling bid by bid, in merit order,
    each first fit over the members the bids before it left: a member reaches a bid only when
    every bid before it had no room, and those bids' contents depend on nothing after them. So
    dropping the first short bid and filling again changes nothing before it, and the fill is one
    pass over the bids: a bid that comes out short is dropped on the spot, and the members it took
    go on to the next.

    Until a bid is kept, every bid fills from all the willing members: that is the single rule's
    first-fit fill, which the book answers block by block and remembers (clearing.DemandBook).
    Only after the first winner are the members still waiting listed, one by one.
    """
    book = members.book
    rank = book.rank(price)
    left = book.eligible_total(rank)
    winners: list[_Winning] = []
    quantities: list[int] = []
    pending: list[int] = []
    for bid in bids:
        if bid.threshold > price:
            continue  # not eligible at this price
        floor = bid.floor(price)
        if left < floor:
            continue  # short whatever it takes: dropped without filling
        capacity = bid.offer.capacity
        if not winners:
            filled = book.filled(rank, capacity)
            if filled == 0 or filled < floor:
                continue  # empty, or short and dropped
            # Its members are listed only when needed (rarely: most candidates lose on their totals).
            winners.append((bid, filled, _curve_price(bid, filled), None))
            left -= filled
            if not left:
                break
            continue
        if not quantities:  # the first later bid to fill: list who is still waiting
            quantities = book.taking(rank)
            first = set(_listed(book, rank, winners[0]))
            pending = [n for n, quantity in enumerate(quantities) if quantity and n not in first]
        taken = []
        kept: list[int] = []
        room = capacity
        for at, n in enumerate(pending):
            quantity = quantities[n]
            if quantity <= room:
                room -= quantity
                taken.append(n)
                if not room:  # full: everyone after waits for the next bid
                    kept.extend(pending[at + 1 :])
                    break
            else:
                kept.append(n)
        filled = capacity - room
        if filled == 0 or filled < floor:
            continue  # empty, or short and dropped: the members stay for the next bid
        winners.append((bid, filled, _curve_price(bid, filled), taken))
        pending, left = kept, left - filled
        if not pending:
            break
    if not winners:
        return None
    winners[0] = (*winners[0][:3], _listed(book, rank, winners[0])) if len(winners) > 1 else winners[0]
    served = sum(quantity for _, quantity, _, _ in winners)
    unit_price = max(curve_price for _, _, curve_price, _ in winners)
    return _Fill(price, unit_price, served, winners, quantities or None, rank)


def _listed(book: DemandBook, rank: int, winner: _Winning) -> list[int]:
    """The positions a winner serves; None stands for a first winner's: the first-fit fill of its
    capacity over all the willing members, listed only when asked for."""
    bid, _, _, positions = winner
    if positions is not None:
        return positions
    taken: list[int] = []
    book.fill(rank, bid.offer.capacity, taken)
    return taken


def _curve_price(bid: _Bid, quantity: int) -> Decimal:
    unit_price = price_at(bid.tiers, quantity)
    assert unit_price is not None, "a winner is filled to at least its floor"
    return unit_price
