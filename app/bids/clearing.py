"""Clearing: meet the members' demand with each bid's price curve. Pure: no clock, no database.

Semantics (docs/domain.md, "The reverse auction and clearing"). For one bid and each tier
(min_quantity_k, price_k): the eligible commitments are those whose demand curve takes a quantity
at price_k (app.pools.curves.quantity_at), each for that quantity; the bid's capacity is filled in
join order with whole commitments, first fit (one that does not fit is skipped, later smaller ones
may still fit); the tier is reachable when the filled quantity is at
least min_quantity_k, the pool's min_quantity and 1. The bid's outcome is its reachable tier with
the lowest price; everyone served pays price_at(the bid's tiers, served quantity). Across bids the
most served quantity wins, then the lowest unit_price * price_factor, then the earliest bid_order,
then the lowest bid_id.

Why it is fast: max prices are replaced by their rank among the distinct prices, so "eligible" is
"rank >= r" and, sorted by rank, the eligible set is a suffix whose total is one bisect away. A
curve of several points counts as its steps: its first point at its maximum, then each larger
quantity's increase at that point's maximum, so every suffix still sums to the demand at a price. When
that total fits the capacity the fill is everyone eligible. When capacity binds, the filled quantity
lies in (capacity - largest eligible quantity, capacity], which usually settles reachability and the
award without filling; the fills that remain skip through blocks of the join order (see DemandBook), and
only the winner's served list is built.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate, pairwise
from math import isqrt
from operator import attrgetter, itemgetter
from typing import Any

from app.money import EXACT
from app.pools.curves import Curve, Point

# Arithmetic on prices that must never round silently: a rounding raises instead.


@dataclass(frozen=True)
class Tier:
    """One step of a vendor's price curve: unit_price applies from min_quantity units up."""

    min_quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Demand:
    """One active commitment: its demand curve is `smaller` then (quantity, max_unit_price)."""

    commitment_id: int
    member_id: int
    quantity: int  # the most it takes (whole units of the pool's unit, >= 1): the curve's last point
    max_unit_price: Decimal  # the most it pays per unit for that quantity: the curve's lowest maximum
    join_order: tuple[Any, ...]  # sortable, e.g. (joined_at, id); lower joined earlier
    smaller: Curve = ()  # the curve's earlier points: smaller quantities at higher maxima

    @property
    def points(self) -> Curve:
        """The whole demand curve, by quantity."""
        return (*self.smaller, Point(self.quantity, self.max_unit_price))


@dataclass(frozen=True)
class Offer:
    """One active bid."""

    bid_id: int
    vendor_id: int
    tiers: tuple[Tier, ...]
    capacity: int  # most units the vendor can supply
    bid_order: tuple[Any, ...]  # sortable, e.g. (created_at, id); lower is earlier
    price_factor: Decimal = Decimal(1)  # reputation adjustment, only for comparing bids


@dataclass(frozen=True)
class ServedLine:
    """One commitment served by the award."""

    commitment_id: int
    member_id: int
    quantity: int


@dataclass(frozen=True)
class Outcome:
    """One bid's best feasible outcome."""

    bid_id: int
    vendor_id: int
    unit_price: Decimal
    served_quantity: int
    served: tuple[ServedLine, ...]  # in join order


def price_at(tiers: Iterable[Tier], quantity: int) -> Decimal | None:
    """Return the curve's unit price at quantity, or None below its first tier."""
    best: Tier | None = None
    for tier in tiers:
        if tier.min_quantity <= quantity and (best is None or tier.min_quantity > best.min_quantity):
            best = tier
    return None if best is None else best.unit_price


class DemandBook:
    """The demands indexed for fills: price ranks, suffix totals and join-order blocks.

    The join order is cut into blocks of about sqrt(4n) commitments, balancing the per-block
    bisect against the per-commitment walk. Each block keeps its curves' steps sorted by rank with
    suffix sums of quantity and suffix minima of first quantities, so a fill takes a block whole
    when all its eligible commitments fit, skips it when none can, and walks it only otherwise.
    """

    def __init__(self, demands: Iterable[Demand]) -> None:
        # Two stable sorts (by id, then by join order alone) compare far fewer tuples than
        # one sort on (join_order, id); input already in join order costs O(n).
        by_id = sorted(demands, key=attrgetter("commitment_id"))
        self.order = sorted(by_id, key=attrgetter("join_order"))
        _check_unique([d.commitment_id for d in self.order], "commitment_id")
        if any(d.quantity < 1 for d in self.order):
            raise ValueError("every commitment must be for at least 1 unit")
        maxima = {d.max_unit_price for d in self.order}
        maxima.update(point.max_unit_price for d in self.order if d.smaller for point in d.smaller)
        self.prices = sorted(maxima)
        rank_of = {price: rank for rank, price in enumerate(self.prices)}
        # Per position: the rank from which it takes anything (its highest maximum), the quantity
        # it takes there, and for a curve of several points each (rank, quantity), largest first.
        self.ranks: list[int] = []
        self.quantities: list[int] = []
        self.curves: list[tuple[tuple[int, int], ...] | None] = []
        steps: list[list[tuple[int, int, int]]] = []  # per position: (rank, increase, first quantity or _NOBODY)
        for d in self.order:
            if not d.smaller:
                rank = rank_of[d.max_unit_price]
                self.ranks.append(rank)
                self.quantities.append(d.quantity)
                self.curves.append(None)
                steps.append([(rank, d.quantity, d.quantity)])
                continue
            first = d.smaller[0]
            rank = rank_of[first.max_unit_price]
            self.ranks.append(rank)
            self.quantities.append(first.quantity)
            curve, mine, before = [(rank, first.quantity)], [(rank, first.quantity, first.quantity)], first.quantity
            for point in (*d.smaller[1:], Point(d.quantity, d.max_unit_price)):
                rank = rank_of[point.max_unit_price]
                curve.append((rank, point.quantity))
                mine.append((rank, point.quantity - before, _NOBODY))
                before = point.quantity
            curve.reverse()
            self.curves.append(tuple(curve))
            steps.append(mine)
        self.totals, self.largest = _by_rank(steps, len(self.prices))
        self.size = max(4, isqrt(4 * len(self.order)))
        starts = range(0, len(self.order), self.size)
        self.blocks = [_block([step for at in steps[s : s + self.size] for step in at]) for s in starts]
        # Smallest quantity from each block on, whatever its price: below it nothing fits.
        firsts = [smallest[0] for _, _, smallest in self.blocks]
        self.tail_min = [*accumulate(reversed(firsts), min)][::-1]
        self.cache: dict[tuple[int, int], int] = {}
        self.any_curve = any(curve is not None for curve in self.curves)

    def rank(self, price: Decimal) -> int:
        """Return r such that the commitments eligible at price are those of rank >= r."""
        return bisect_left(self.prices, price)

    def quantity_at(self, position: int, rank: int) -> int:
        """Return the quantity the commitment at `position` takes at the price of rank `rank` (0: none)."""
        if self.ranks[position] < rank:
            return 0
        curve = self.curves[position]
        if curve is None:
            return self.quantities[position]
        for at, quantity in curve:  # largest quantity first: the first whose maximum reaches the price
            if at >= rank:
                return quantity
        raise AssertionError("the first point's rank reaches `rank`")

    def taking(self, rank: int) -> list[int]:
        """What each commitment takes at the price of rank `rank`, by position (0: nothing)."""
        if not self.any_curve:
            return [quantity if at >= rank else 0 for quantity, at in zip(self.quantities, self.ranks, strict=True)]
        return [self.quantity_at(position, rank) for position in range(len(self.order))]

    def eligible_total(self, rank: int) -> int:
        """Return the total quantity the commitments take at the price of rank `rank`."""
        return self.totals[rank]

    def largest_quantity(self, rank: int) -> int:
        """Return the largest quantity one commitment takes at the price of rank `rank`."""
        return self.largest[rank]

    def filled(self, rank: int, capacity: int) -> int:
        """Return the quantity a first-fit fill of capacity takes from rank >= rank (cached)."""
        key = (rank, capacity)
        if key not in self.cache:
            self.cache[key] = self.fill(rank, capacity)
        return self.cache[key]

    def fill(self, rank: int, capacity: int, taken: list[int] | None = None) -> int:
        """Fill capacity first fit in join order from rank >= rank; append positions to taken."""
        left = capacity
        for number, (keys, totals, smallest) in enumerate(self.blocks):
            if left < self.tail_min[number]:
                break  # nothing from this block on is small enough, whatever its price
            i = bisect_left(keys, rank)
            if totals[i] <= left:  # every eligible commitment of the block fits
                left -= totals[i]
                if taken is not None:
                    self._walk(number, rank, totals[i], taken)
            elif smallest[i] <= left:  # some fit, some not: first fit decides which
                left = self._walk(number, rank, left, taken)
        return capacity - left

    def _walk(self, number: int, rank: int, left: int, taken: list[int] | None) -> int:
        """Fill left first fit within one block; return what is left, appending positions taken."""
        start = number * self.size
        stop = min(start + self.size, len(self.order))
        ranks, quantities, curves = self.ranks, self.quantities, self.curves
        for position in range(start, stop):
            if ranks[position] < rank:
                continue
            quantity = quantities[position] if curves[position] is None else self.quantity_at(position, rank)
            if quantity <= left:
                left -= quantity
                if taken is not None:
                    taken.append(position)
        return left


_NOBODY = 1 << 62  # above any capacity: a block with nobody eligible is always skipped


def _by_rank(steps: list[list[tuple[int, int, int]]], count: int) -> tuple[list[int], list[int]]:
    """Return the total and the largest quantity taken at the price of rank r, for r in 0..count."""
    sums, tops = [0] * (count + 1), [0] * (count + 1)
    for curve in steps:
        quantity = 0
        for rank, increase, _ in curve:
            quantity += increase
            sums[rank] += increase
            tops[rank] = max(tops[rank], quantity)
    return [*accumulate(reversed(sums))][::-1], [*accumulate(reversed(tops), max)][::-1]


def _block(steps: list[tuple[int, int, int]]) -> tuple[list[int], ...]:
    """Return a block's step ranks in order, with the suffix sum of increases and minimum of first quantities.

    At rank r the suffix from the first step of rank >= r sums to what the block's commitments take
    at that price; its minimum first quantity is at most the smallest any of them takes.
    """
    steps = sorted(steps, key=itemgetter(0))
    # Index i describes steps[i:]; the entry past the end stands for "nobody eligible".
    totals = [*reversed([*accumulate(increase for _, increase, _ in reversed(steps))]), 0]
    smallest = [*reversed([*accumulate((first for _, _, first in reversed(steps)), min)]), _NOBODY]
    return [rank for rank, _, _ in steps], totals, smallest


def _check_unique(ids: list[int], name: str) -> None:
    """Raise ValueError when an id repeats: duplicated inputs would make the result ambiguous."""
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate {name} in the clearing inputs")


@dataclass(frozen=True)
class _Reach:
    """A bid's cheapest reachable tier: its eligibility rank and bounds on the filled quantity."""

    offer: Offer
    rank: int
    low: int  # the filled quantity is in [low, high]; equal when known exactly
    high: int


def clear(demands: Iterable[Demand], offers: Iterable[Offer], *, min_quantity: int) -> Outcome | None:
    """Return the winning outcome, or None when no bid is feasible (the pool fails)."""
    return clear_book(DemandBook(demands), offers, min_quantity=min_quantity)


def clear_book(book: DemandBook, offers: Iterable[Offer], *, min_quantity: int) -> Outcome | None:
    """clear() on demands already indexed (the split rule shares its book with this rule)."""
    reaches = _reaches(book, offers, min_quantity)
    if not reaches:
        return None
    # Only bids that might serve as much as the surest one can win; settle the rest exactly.
    floor = max(reach.low for reach in reaches)
    contenders = sorted((r for r in reaches if r.high >= floor), key=lambda r: -r.high)
    best: tuple[tuple[Any, ...], _Reach, int] | None = None
    for reach in contenders:
        if best is not None and reach.high < best[2]:
            break  # sorted by high: nobody further on can serve as much
        served = _served_quantity(book, reach)
        key = _award_key(reach.offer, served)
        if best is None or key < best[0]:
            best = (key, reach, served)
    assert best is not None
    return _outcome(book, best[1], best[2])


def evaluate_offer(demands: Iterable[Demand], offer: Offer, *, min_quantity: int) -> Outcome | None:
    """Return one bid's best feasible outcome on its own, or None when it is infeasible."""
    book = DemandBook(demands)
    reach = _reach(book, offer, min_quantity)
    return None if reach is None else _outcome(book, reach, _served_quantity(book, reach))


def rank_offers(demands: Iterable[Demand], offers: Iterable[Offer], *, min_quantity: int) -> list[int]:
    """Return the feasible bids' ids in award order: the first is the one clear() awards."""
    book = DemandBook(demands)
    keyed = []
    for reach in _reaches(book, offers, min_quantity):
        keyed.append((_award_key(reach.offer, _served_quantity(book, reach)), reach.offer.bid_id))
    return [bid_id for _, bid_id in sorted(keyed)]


def _reaches(book: DemandBook, offers: Iterable[Offer], min_quantity: int) -> list[_Reach]:
    """Return the cheapest reachable tier of every feasible bid."""
    offers = list(offers)
    _check_unique([offer.bid_id for offer in offers], "bid_id")
    found = (_reach(book, offer, min_quantity) for offer in offers)
    return [reach for reach in found if reach is not None]


def _reach(book: DemandBook, offer: Offer, min_quantity: int) -> _Reach | None:
    """Return the bid's cheapest reachable tier, or None when none is reachable."""
    capacity = offer.capacity
    # Cheapest first, so the first reachable tier is the outcome; equal prices fill alike.
    for tier in sorted(valid_curve(offer), key=lambda t: t.unit_price):
        need = max(tier.min_quantity, min_quantity, 1)
        rank = book.rank(tier.unit_price)
        total = book.eligible_total(rank)
        if capacity < need or total < need:
            continue
        if total <= capacity:
            return _Reach(offer, rank, total, total)
        # Capacity binds: some eligible commitment was skipped, so less than it is left over.
        low = capacity - book.largest_quantity(rank) + 1
        if low >= need:
            return _Reach(offer, rank, low, capacity)
        filled = book.filled(rank, capacity)
        if filled >= need:
            return _Reach(offer, rank, filled, filled)
    return None


def valid_curve(offer: Offer) -> tuple[Tier, ...]:
    """Return the bid's tiers by quantity; raise ValueError when they are not a valid curve."""
    tiers = tuple(sorted(offer.tiers, key=lambda t: t.min_quantity))
    for lower, upper in pairwise(tiers):
        # A rising price could charge a served member more than their maximum.
        if upper.min_quantity == lower.min_quantity or upper.unit_price > lower.unit_price:
            raise ValueError(f"bid {offer.bid_id}: tiers are not a valid curve (see validate_tiers)")
    return tiers


def _served_quantity(book: DemandBook, reach: _Reach) -> int:
    """Return the exact filled quantity of a bid's cheapest reachable tier."""
    return reach.low if reach.low == reach.high else book.filled(reach.rank, reach.offer.capacity)


def _award_key(offer: Offer, served: int) -> tuple[Any, ...]:
    """Return the sort key of the award order: most served, cheapest adjusted, earliest, lowest id."""
    unit_price = price_at(offer.tiers, served)
    assert unit_price is not None  # served >= the reached tier's min_quantity
    return (-served, EXACT.multiply(unit_price, offer.price_factor), offer.bid_order, offer.bid_id)


def _outcome(book: DemandBook, reach: _Reach, served_quantity: int) -> Outcome:
    """Build the outcome of a bid, listing the commitments it serves in join order."""
    offer = reach.offer
    positions: list[int] = []
    book.fill(reach.rank, offer.capacity, positions)
    curves, quantities = book.curves, book.quantities
    lines = tuple(
        ServedLine(
            book.order[p].commitment_id,
            book.order[p].member_id,
            quantities[p] if curves[p] is None else book.quantity_at(p, reach.rank),
        )
        for p in positions
    )
    assert sum(line.quantity for line in lines) == served_quantity
    unit_price = price_at(offer.tiers, served_quantity)
    assert unit_price is not None
    return Outcome(offer.bid_id, offer.vendor_id, unit_price, served_quantity, lines)
