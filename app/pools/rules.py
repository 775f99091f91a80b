"""Pure pool rules: categories, limits and the checks that need no database."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from app.text import control_characters

CATEGORIES: dict[str, str] = {
    "solar": "Solar & batteries",
    "heating": "Heating & fuel",
    "energy": "Energy tariffs",
    "coffee": "Coffee & tea",
    "groceries": "Groceries",
    "electronics": "Electronics",
    "home": "Home & garden",
    "bikes": "Bikes & mobility",
    "services": "Services",
    "other": "Other",
}

MAX_DURATION = timedelta(days=365)
MIN_LEAD_TIME = timedelta(minutes=5)  # a pool must stay open at least this long after publishing


def closes_at_errors(closes_at: datetime, now: datetime) -> list[str]:
    """Return what is wrong with a closing time chosen at `now` (empty when fine)."""
    if closes_at <= now + MIN_LEAD_TIME:
        return ["Closing time must be at least 5 minutes in the future."]
    if closes_at > now + MAX_DURATION:
        return ["Closing time must be within a year."]
    return []


MAX_POOL_QUANTITY = 1_000_000_000  # a pool's whole demand: what its counters (32-bit integers) hold with room
MAX_LINE_MAJOR = 10_000_000_000  # the most one member's line may come to, in major units (£10 billion)


def default_max_per_member(min_quantity: int) -> int:
    """What one member may commit unless the organiser says otherwise: half the tipping point, at least 1.

    So no single member tips a pool alone, or outweighs everyone else in it.
    """
    return max(1, (min_quantity + 1) // 2)


def quantity_errors(
    quantity: int,
    *,
    committed_by_others: int,
    max_quantity: int | None,
    max_per_member: int,
    most_payable: Decimal | int,
) -> list[str]:
    """Return what is wrong with a member's quantity given the pool's limits and what others committed.

    `quantity` is the most the member takes (its curve's last point); `most_payable` the largest
    quantity × maximum over its curve, in major units (app.pools.curves.most_payable).
    """
    limit = MAX_POOL_QUANTITY if max_quantity is None else min(max_quantity, MAX_POOL_QUANTITY)
    room = limit - committed_by_others
    if quantity > room:
        if room <= 0:
            return ["This pool is full."]
        return [f"Only {room:,} more can be committed to this pool (its maximum is {limit:,})."]
    if quantity > max_per_member:
        return [f"Each member may commit at most {max_per_member:,} to this pool."]
    if most_payable > MAX_LINE_MAJOR:
        return [f"Quantity × maximum price may come to at most {MAX_LINE_MAJOR:,} per member."]
    return []


ADDRESS_MAX_LENGTH = 500


def address_errors(address: str | None, *, needed: bool) -> list[str]:
    """What is wrong with a member's delivery address (empty when fine); `needed`: the pool asks for one."""
    if not address:
        return ["Give the address to deliver to: this pool delivers to each member."] if needed else []
    if len(address) > ADDRESS_MAX_LENGTH:
        return [f"Keep the address to {ADDRESS_MAX_LENGTH} characters; this one has {len(address):,}."]
    if control_characters(address, multiline=True):
        return ["Remove the control characters (such as NUL); line breaks are fine."]
    return []
