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

Why it is fast: a fill is one pass over the bids in merit order, each taking first fit from the
members still waiting (see _fill_at), so a bid that cannot reach its floor with all that is left
costs nothing, and once everyone is served the pass ends. Candidates are examined in order of an
upper bound on what they can serve (the smaller of the willing demand and the eligible capacity),
and the search stops once no remaining candidate can beat the best found.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from operator import attrgetter
from typing import Any

from app.bids.clearing import Demand, Offer, ServedLine, Tier, clear, price_at, valid_curve
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
    members = _in_join_order(demands)
    offers = list(offers)
    bids = _in_merit_order(offers)
    if not members or not bids:
        return None
    need = max(min_quantity, 1)
    # Each curve as its steps (its first quantity, then each increase) at their maxima, so the
    # demand at a price is the sum of the steps priced at or above it.
    steps = sorted(
        (point.max_unit_price, point.quantity - before)
        for d in members
        for point, before in zip(d.points, (0, *(p.quantity for p in d.points)), strict=False)
    )
    maxima = [price for price, _ in steps]
    wanted = [0, *accumulate(increase for _, increase in steps)]
    thresholds = sorted(bid.threshold for bid in bids)
    supply = [0, *accumulate(bid.offer.capacity for bid in sorted(bids, key=attrgetter("threshold")))]

    def bound(price: Decimal) -> int:
        willing = wanted[-1] - wanted[bisect_left(maxima, price)]
        return min(willing, supply[bisect_right(thresholds, price)])

    candidates = sorted(
        # Every bid's tier prices, eligible or not: each is a cut-off for who is willing.
        ((bound(price), price) for price in {tier.unit_price for offer in offers for tier in offer.tiers}),
        key=lambda item: (-item[0], item[1]),
    )
    book = _Members(members)
    best = _single(members, bids, min_quantity, book)
    examined = 0
    for upper, price in candidates:
        if upper < need or (best is not None and upper < best.served):
            break  # sorted by bound: nothing further on can serve as much
        examined += 1
        fill = _fill_at(book, bids, price)
        if fill is not None and fill.served >= need and (best is None or fill.beats(best, book)):
            best = fill
    return None if best is None else best.outcome(book, examined)


class _Members:
    """The commitments in join order, with their quantities and maxima as plain lists for the fills."""

    def __init__(self, order: list[Demand]) -> None:
        self.order = order
        self.quantities = [d.quantity for d in order]
        self.maxima = [d.max_unit_price for d in order]
        self.any_curve = any(d.smaller for d in order)
        self.position = {d.commitment_id: n for n, d in enumerate(order)}

    def at(self, price: Decimal) -> list[int]:
        """What each member takes at `price`, by position (0: nothing)."""
        if self.any_curve:
            return [d.quantity_at(price) for d in self.order]
        return [quantity if most >= price else 0 for quantity, most in zip(self.quantities, self.maxima, strict=True)]


@dataclass
class _Fill:
    """One candidate's outcome while searching: winners as positions, made into lines only at the end."""

    price: Decimal  # the candidate
    unit_price: Decimal
    served: int
    winners: list[tuple[_Bid, int, Decimal, list[int]]]  # bid, quantity, its curve price, positions
    taking: Sequence[int]  # what each member takes at this candidate, by position

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
        return sorted(book.order[n].commitment_id for _, _, _, positions in self.winners for n in positions)

    def outcome(self, book: _Members, examined: int) -> SplitOutcome:
        winners = tuple(
            Winner(
                bid.offer.bid_id,
                bid.offer.vendor_id,
                quantity,
                curve_price,
                tuple(
                    ServedLine(book.order[n].commitment_id, book.order[n].member_id, self.taking[n]) for n in positions
                ),
                bid.offer.bid_order,
            )
            for bid, quantity, curve_price, positions in self.winners
        )
        return SplitOutcome(self.unit_price, self.served, winners, self.price, examined)


def _single(members: Sequence[Demand], bids: Sequence[_Bid], min_quantity: int, book: _Members) -> _Fill | None:
    """The single rule's award (one winner) as a candidate outcome."""
    outcome = clear(members, [bid.offer for bid in bids], min_quantity=min_quantity)
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
    members = _in_join_order(demands)
    book = _Members(members)
    fill = _single(members, _in_merit_order(offers), min_quantity, book)
    return None if fill is None else fill.outcome(book, 0)


def _in_join_order(demands: Iterable[Demand]) -> list[Demand]:
    order = sorted(sorted(demands, key=attrgetter("commitment_id")), key=attrgetter("join_order"))
    ids = [d.commitment_id for d in order]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate commitment_id in the clearing inputs")
    if any(d.quantity < 1 for d in order):
        raise ValueError("every commitment must be for at least 1 unit")
    return order


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


def _fill_at(book: _Members, bids: Sequence[_Bid], price: Decimal) -> _Fill | None:
    """Fill the willing members into the eligible bids at `price`, dropping bids below their floor.

    Filling member by member into the first bid with room is filling bid by bid, in merit order,
    each first fit over the members the bids before it left: a member reaches a bid only when
    every bid before it had no room, and those bids' contents depend on nothing after them. So
    dropping the first short bid and filling again changes nothing before it, and the fill is one
    pass over the bids: a bid that comes out short is dropped on the spot, and the members it took
    go on to the next.
    """
    quantities = book.at(price)
    pending = [n for n, quantity in enumerate(quantities) if quantity]
    left = sum(quantities[n] for n in pending)
    winners: list[tuple[_Bid, int, Decimal, list[int]]] = []
    for bid in bids:
        if bid.threshold > price:
            continue  # not eligible at this price
        floor = bid.floor(price)
        if left < floor:
            continue  # short whatever it takes: dropped without filling
        taken: list[int] = []
        kept: list[int] = []
        room = capacity = bid.offer.capacity
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
    served = sum(quantity for _, quantity, _, _ in winners)
    return _Fill(price, max(curve_price for _, _, curve_price, _ in winners), served, winners, quantities)


def _curve_price(bid: _Bid, quantity: int) -> Decimal:
    unit_price = price_at(bid.tiers, quantity)
    assert unit_price is not None, "a winner is filled to at least its floor"
    return unit_price
