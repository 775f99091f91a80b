"""Currencies and exact money arithmetic: integer minor units, Decimal unit prices."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# ISO 4217 codes we accept, with their minor-unit exponent (JPY has no minor unit).
CURRENCIES: dict[str, int] = {
    "AUD": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HUF": 2,
    "JPY": 0, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "USD": 2,
}  # fmt: skip

SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥"}


def exponent(currency: str) -> int:
    """Return the number of minor-unit digits of a supported currency."""
    return CURRENCIES[currency]


def line_amount_minor(quantity: int, unit_price: Decimal, currency: str) -> int:
    """Return quantity × unit_price in minor units, rounded half-even."""
    major = Decimal(quantity) * unit_price
    return int((major * (10 ** exponent(currency))).quantize(Decimal(1), ROUND_HALF_EVEN))


def format_minor(amount_minor: int, currency: str) -> str:
    """Format an amount in minor units for people: '£1,234.50'."""
    exp = exponent(currency)
    major = Decimal(amount_minor).scaleb(-exp)
    return f"{SYMBOLS.get(currency, currency + ' ')}{major:,.{exp}f}"


def format_price(unit_price: Decimal, currency: str) -> str:
    """Format a unit price with the currency's digits, keeping extra ones that matter."""
    exp = exponent(currency)
    trimmed = unit_price.normalize()
    digits = max(exp, -trimmed.as_tuple().exponent if trimmed.as_tuple().exponent < 0 else 0)  # type: ignore[operator]
    return f"{SYMBOLS.get(currency, currency + ' ')}{unit_price:,.{digits}f}"
