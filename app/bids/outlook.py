"""What an open auction would clear at now, and how much more demand would lower the price. Pure.

The pool page shows it live (open auctions only: a sealed auction reveals nothing before the close).
The clearing is the pool's own rule (`split` or `single`) on the commitments and bids as they stand.
The next drop is read from all the curves together (docs/domain.md, "What the market would clear at
now"): for each lower tier price P, the bids eligible at P could serve their capacities together
under the split rule, or one bid its own capacity under the single rule; to clear at P they must
serve at least what is served now, the tipping point and a floor (the smallest among them, or the
bid's own). The
demand members already have at P counts; the rest is what is missing. The nearest such P (fewest
units missing, then the lowest price) is the next drop. It is an estimate: first-fit packing and
the floors of the bids that end up filling can make the real outcome differ by a member's quantity.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.bids.clearing import Demand, Offer, price_at, valid_curve
from app.bids.split import SplitOutcome, clear_single, clear_split


@dataclass(frozen=True)
class Outlook:
    """The clearing as it stands, for the pool page."""

    unit_price: Decimal | None  # None: it would not clear (the pool would fail now)
    served_quantity: int
    vendors: int  # winners sharing the award
    next_drop: tuple[int, Decimal] | None  # (more units wanted, the price they would clear at)
    demand: tuple[tuple[Decimal, int], ...]  # the members' curves summed: (price, units wanted at it), dearest first


def outlook(demands: Sequence[Demand], offers: Sequence[Offer], *, min_quantity: int, split: bool) -> Outlook:
    """Clear as closing now would (by the pool's rule) and find the next price drop."""
    clear = clear_split if split else clear_single
    outcome: SplitOutcome | None = clear(demands, offers, min_quantity=min_quantity)
    wanted = demand_steps(demands)
    if outcome is None:
        drop = next_drop(wanted, offers, min_quantity=min_quantity, split=split, price=None, served=0)
        return Outlook(None, 0, 0, drop, wanted)
    drop = next_drop(
        wanted, offers, min_quantity=min_quantity, split=split, price=outcome.unit_price, served=outcome.served_quantity
    )
    return Outlook(outcome.unit_price, outcome.served_quantity, len(outcome.winners), drop, wanted)


def demand_steps(demands: Sequence[Demand]) -> tuple[tuple[Decimal, int], ...]:
    """The aggregate demand curve: at each member maximum (dearest first), the units wanted at that price."""
    increases: dict[Decimal, int] = {}
    for demand in demands:
        before = 0
        for point in demand.points:
            increases[point.max_unit_price] = increases.get(point.max_unit_price, 0) + point.quantity - before
            before = point.quantity
    steps, total = [], 0
    for price in sorted(increases, reverse=True):
        total += increases[price]
        steps.append((price, total))
    return tuple(steps)


def wanted_at(steps: Sequence[tuple[Decimal, int]], price: Decimal) -> int:
    """Units the members want at `price`, read from demand_steps."""
    return _Wanted(steps).at(price)


class _Wanted:
    """demand_steps indexed for many lookups: each one a bisect."""

    def __init__(self, steps: Sequence[tuple[Decimal, int]]) -> None:
        self.maxima = [maximum for maximum, _ in reversed(steps)]  # ascending
        self.totals = [total for _, total in steps]  # by maximum, dearest first

    def at(self, price: Decimal) -> int:
        reaching = len(self.maxima) - bisect_left(self.maxima, price)  # steps whose maximum is at least price
        return self.totals[reaching - 1] if reaching else 0


def next_drop(
    steps: Sequence[tuple[Decimal, int]],
    offers: Sequence[Offer],
    *,
    min_quantity: int,
    split: bool,
    price: Decimal | None,
    served: int,
) -> tuple[int, Decimal] | None:
    """(more units wanted, price) for the nearest lower price the bids could clear at; None if none.

    `price` and `served` are the clearing now (None and 0 when it would not clear: then any price counts).
    """
    curves = [(offer, valid_curve(offer)) for offer in offers]
    candidates = {tier.unit_price for _, tiers in curves for tier in tiers if price is None or tier.unit_price < price}
    # Each bid's price at capacity, once: it sells at a candidate from this price up.
    priced = [(offer.capacity, tiers, price_at(tiers, offer.capacity)) for offer, tiers in curves]
    selling = [(capacity, tiers, at) for capacity, tiers, at in priced if at is not None]
    wanted_by_price = _Wanted(steps)
    best: tuple[int, Decimal] | None = None
    for candidate in sorted(candidates):
        eligible = [  # (capacity, floor at the candidate) of each bid that can sell at or below it
            (capacity, next(tier.min_quantity for tier in tiers if tier.unit_price <= candidate))
            for capacity, tiers, at_capacity in selling
            if at_capacity <= candidate
        ]
        if split and eligible:  # together: their capacities add up, the smallest floor must be met
            eligible = [(sum(capacity for capacity, _ in eligible), min(floor for _, floor in eligible))]
        wanted = wanted_by_price.at(candidate)
        for room, floor in eligible:
            need = max(served, min_quantity, 1, floor)
            missing = need - wanted
            if need > room or missing <= 0:
                continue  # the bids cannot serve it, or the demand is there and packing decides: no figure
            if best is None or missing < best[0]:
                best = (missing, candidate)
    return best
