"""Pure pool rules: categories, limits and the checks that need no database."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def quantity_errors(quantity: int, *, committed_by_others: int, max_quantity: int | None) -> list[str]:
    """Return what is wrong with a member's quantity given what others already committed."""
    if max_quantity is None:
        return []
    room = max_quantity - committed_by_others
    if quantity > room:
        if room <= 0:
            return ["This pool is full."]
        return [f"Only {room} more can be committed to this pool (its maximum is {max_quantity})."]
    return []
