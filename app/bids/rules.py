"""Auction rules for bids, and what an award records (pure: no Flask, no database, no clock).

The clearing itself lives in app.bids.clearing; its public names are re-exported here so that
services can import everything bid-related from one place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from app.bids.clearing import (
    EXACT,
    Demand,
    Offer,
    Outcome,
    ServedLine,
    Tier,
    clear,
    evaluate_offer,
    price_at,
    rank_offers,
)
from app.money import PRICE_PLACES, PRICE_STEP, ROUNDING

__all__ = [
    "MAX_TIERS",
    "MAX_WITHDRAWALS",
    "PRICE_PLACES",
    "Demand",
    "InvalidBid",
    "Offer",
    "Outcome",
    "ServedLine",
    "Tier",
    "best_price_curve",
    "clear",
    "evaluate_offer",
    "fingerprint",
    "improves_on",
    "next_price_drop",
    "price_at",
    "rank_offers",
    "required_to_lead",
    "soft_close",
    "validate_tiers",
]

MAX_TIERS = 20
MAX_WITHDRAWALS = 3  # withdrawals a vendor may make on one pool (withdraw-and-rebid probes the leader)


class InvalidBid(Exception):
    """A bid whose curve or capacity breaks the rules; errors maps field to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


def validate_tiers(tiers: Sequence[Tier], capacity: int) -> None:
    """Raise InvalidBid naming every problem of a price curve and capacity."""
    problems: list[str] = []
    if not tiers:
        problems.append("a bid needs at least one tier")
    if len(tiers) > MAX_TIERS:
        problems.append(f"a bid may have at most {MAX_TIERS} tiers (this one has {len(tiers)})")
    for number, tier in enumerate(tiers, start=1):
        previous = tiers[number - 2] if number > 1 else None
        problems += _quantity_problems(number, tier.min_quantity, previous)
        problems += _price_problems(number, tier.unit_price, previous)
    errors = {"tiers": problems, "capacity": _capacity_problems(capacity, tiers)}
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise InvalidBid(errors)


def _quantity_problems(number: int, quantity: object, previous: Tier | None) -> list[str]:
    """Return what is wrong with one tier's minimum quantity."""
    if not _is_whole(quantity):
        return [f"tier {number}: minimum quantity must be a whole number"]
    assert isinstance(quantity, int)
    if quantity < 1:
        return [f"tier {number}: minimum quantity must be at least 1 (it is {quantity})"]
    if previous is not None and _is_whole(previous.min_quantity) and quantity <= previous.min_quantity:
        return [
            f"tier {number}: minimum quantity {quantity} is not above tier {number - 1}'s "
            f"{previous.min_quantity}; each tier must start at a larger quantity"
        ]
    return []


def _price_problems(number: int, price: object, previous: Tier | None) -> list[str]:
    """Return what is wrong with one tier's unit price."""
    if not isinstance(price, Decimal) or not price.is_finite():
        return [f"tier {number}: price must be a decimal number"]
    if price <= 0:
        return [f"tier {number}: price {price} must be above zero"]
    if _decimal_places(price) > PRICE_PLACES:
        return [f"tier {number}: price {price} has more than {PRICE_PLACES} decimal places"]
    before = previous.unit_price if previous is not None else None
    if isinstance(before, Decimal) and before.is_finite() and price > before:
        return [
            f"tier {number}: price {price} is above tier {number - 1}'s {before}; prices may not rise with quantity"
        ]
    return []


def _capacity_problems(capacity: object, tiers: Sequence[Tier]) -> list[str]:
    """Return what is wrong with a bid's capacity."""
    if not _is_whole(capacity):
        return ["capacity must be a whole number of units"]
    assert isinstance(capacity, int)
    if capacity < 1:
        return [f"capacity must be at least 1 (it is {capacity})"]
    first = tiers[0].min_quantity if tiers else None
    if isinstance(first, int) and capacity < first:
        return [f"capacity {capacity} is below tier 1's minimum quantity {first}; the bid could never be served"]
    return []


def _is_whole(value: object) -> bool:
    """Tell whether value is an int (bool, although an int subclass, is not a quantity)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _decimal_places(value: Decimal) -> int:
    """Return the decimal places value needs: 3.1000 needs 1 (trailing zeros do not count)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # value is finite
    while digits and digits[-1] == 0 and exponent < 0:
        digits, exponent = digits[:-1], exponent + 1
    return max(0, -exponent)


def improves_on(previous_tiers: Sequence[Tier], new_tiers: Sequence[Tier], demand: int) -> bool:
    """Tell whether a revised curve is strictly cheaper than the previous one at demand.

    When the previous curve has no price at demand (demand is below its first tier), the
    comparison is made at the previous curve's first tier quantity, the smallest quantity it
    committed to. A new curve with no price at the compared quantity does not improve.
    A vendor without a previous curve always improves.
    """
    if not previous_tiers:
        return True
    at = demand
    if price_at(previous_tiers, demand) is None:
        at = min(tier.min_quantity for tier in previous_tiers)
    old, new = price_at(previous_tiers, at), price_at(new_tiers, at)
    return old is not None and new is not None and new < old


def required_to_lead(leader_price: Decimal, min_decrement_pct: Decimal) -> Decimal:
    """Return the highest 4-place price that beats the leader by min_decrement_pct percent.

    Rounded down, so any price at or below it is enough. With a 0 % decrement a tie does not
    lead, so the answer is one step (0.0001) below the leader. An answer of 0 or less means
    no valid price can take the lead.
    """
    if not 0 <= min_decrement_pct < 100:
        raise ValueError("min_decrement_pct must be at least 0 and below 100")
    remaining = EXACT.subtract(Decimal(100), Decimal(min_decrement_pct))
    allowed = EXACT.multiply(leader_price, remaining).scaleb(-2, EXACT)
    price = allowed.quantize(PRICE_STEP, rounding=ROUND_FLOOR, context=ROUNDING)
    if price >= leader_price:
        step_below = EXACT.subtract(leader_price, PRICE_STEP)
        price = step_below.quantize(PRICE_STEP, rounding=ROUND_FLOOR, context=ROUNDING)
    return price


def soft_close(
    closes_at: datetime,
    now: datetime,
    soft_close_minutes: int,
    extensions_used: int,
    max_extensions: int,
) -> tuple[datetime, int]:
    """Return (closes_at, extensions_used) after a bid takes the lead at now.

    A lead taken in the last soft_close_minutes before the close (closes_at - window <= now <
    closes_at) moves the close out by the window, at most max_extensions times in all.
    Otherwise nothing changes.
    """
    window = timedelta(minutes=soft_close_minutes)
    in_window = closes_at - window <= now < closes_at
    if soft_close_minutes <= 0 or extensions_used >= max_extensions or not in_window:
        return closes_at, extensions_used
    return closes_at + window, extensions_used + 1


def best_price_curve(offers: Iterable[Offer], quantities: Iterable[int]) -> list[tuple[int, Decimal | None]]:
    """Return the lowest unit price any bid offers at each quantity (None when no bid does)."""
    offers = list(offers)
    return [(quantity, _best_price(offers, quantity)) for quantity in quantities]


def next_price_drop(offers: Iterable[Offer], demand: int) -> tuple[int, Decimal] | None:
    """Return (units needed, price) for the nearest quantity above demand where the best price falls.

    When no bid offers a price at demand, the first quantity where any bid does counts as the
    drop. None when more demand would never lower the best price. Curves are assumed valid
    (validate_tiers): a bid's price never rises with quantity.
    """
    offers = list(offers)
    current = _best_price(offers, demand)
    candidates = [_first_cheaper(offer, current, demand) for offer in offers]
    reachable = [quantity for quantity in candidates if quantity is not None]
    if not reachable:
        return None
    at = min(reachable)
    price = _best_price(offers, at)
    assert price is not None
    return at - demand, price


def _best_price(offers: Sequence[Offer], quantity: int) -> Decimal | None:
    """Return the lowest price offered at quantity by bids with the capacity to supply it."""
    prices = [price_at(o.tiers, quantity) for o in offers if o.capacity >= quantity]
    return min((p for p in prices if p is not None), default=None)


def _first_cheaper(offer: Offer, current: Decimal | None, demand: int) -> int | None:
    """Return the smallest quantity above demand where offer undercuts current, if any."""
    for tier in sorted(offer.tiers, key=lambda t: t.min_quantity):
        if current is None or tier.unit_price < current:
            # Prices never rise, so from here on the bid stays cheaper until its capacity.
            quantity = max(tier.min_quantity, demand + 1)
            return quantity if quantity <= offer.capacity else None
    return None


FINGERPRINT_VERSION = 1  # bump whenever the canonical encoding in fingerprint() changes


def fingerprint(demands: Iterable[Demand], offers: Iterable[Offer], min_quantity: int, mode: str = "single") -> str:
    """Return the sha256 hex digest of a canonical, order-independent encoding of the inputs.

    `mode` is the pool's award mode; the single rule's digests are those it always had.
    """
    text = _canonical
    items = [
        f"D{d.commitment_id},{d.member_id},{d.quantity},{text(d.max_unit_price)},{text(d.join_order)}"
        # A curve's earlier points, after the fields a one-point commitment always had (its digest stays).
        + "".join(f";{point.quantity},{text(point.max_unit_price)}" for point in d.smaller)
        for d in demands
    ]
    for o in offers:
        curve = sorted((t.min_quantity, t.unit_price) for t in o.tiers)
        fields = (o.bid_id, o.vendor_id, curve, o.capacity, o.bid_order, o.price_factor)
        items.append("O" + ",".join(map(text, fields)))
    # Sorting the encoded items (not the objects) makes the digest independent of input order.
    head = f"buyswarm-clearing,{FINGERPRINT_VERSION},{text(min_quantity)}" + ("" if mode == "single" else f",{mode}")
    return hashlib.sha256("\n".join([head, *sorted(items)]).encode()).hexdigest()


def _canonical(value: Any) -> str:
    """Encode a value unambiguously; equal Decimals and equal instants encode alike."""
    encoder = _ENCODERS.get(type(value))  # exact type first: this runs for every commitment
    if encoder is None:
        encoder = next((e for kind, e in _ENCODERS.items() if isinstance(value, kind)), None)
    if encoder is None:
        raise TypeError(f"cannot fingerprint a {type(value).__name__}")
    return encoder(value)


def _decimal_text(value: Decimal) -> str:
    """Encode a Decimal by value: 3.1 and 3.1000 are the same price."""
    digits = format(value, "f")
    digits = digits.rstrip("0").rstrip(".") if "." in digits else digits
    return "d" + ("0" if digits in ("-0", "") else digits)


def _datetime_text(value: datetime) -> str:
    """Encode a datetime as microseconds since the epoch: one instant encodes alike in any zone."""
    if value.tzinfo is None:
        return "n" + str((value - _EPOCH.replace(tzinfo=None)) // _MICROSECOND)
    return "t" + str((value - _EPOCH) // _MICROSECOND)  # integer arithmetic, cheaper than isoformat


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


_ENCODERS: dict[type, Callable[[Any], str]] = {
    bool: repr,  # before int: a bool is an int, but True is not 1 here
    int: str,
    Decimal: _decimal_text,
    tuple: lambda v: "(" + ",".join(map(_canonical, v)) + ")",
    list: lambda v: "[" + ",".join(map(_canonical, v)) + "]",
    datetime: _datetime_text,  # before date: a datetime is a date
    date: lambda v: "a" + v.isoformat(),
    str: json.dumps,  # quoted and escaped, so a string never looks like another value
    float: lambda v: "f" + repr(v),
    type(None): repr,
}
