"""Currencies and exact money arithmetic: integer minor units, Decimal unit prices."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow

# ISO 4217 codes we accept, with their minor-unit exponent (JPY has no minor unit).
CURRENCIES: dict[str, int] = {
    "AUD": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HUF": 2,
    "JPY": 0, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "USD": 2,
}  # fmt: skip

# The two decimal contexts, one home. EXACT raises instead of rounding (exact arithmetic on money);
# ROUNDING is for the deliberate roundings, whatever the thread's context says.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
ROUNDING = Context(prec=100)
PRICE_PLACES = 4  # a unit price carries at most this many decimal places (and the columns exactly this many)
PRICE_STEP = Decimal(1).scaleb(-PRICE_PLACES)  # 0.0001: the smallest unit price, and a price's quantum
SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥"}


def exponent(currency: str) -> int:
    """Return the number of minor-unit digits of a supported currency."""
    return CURRENCIES[currency]


def minor_amount(quantity: int, unit_price: Decimal, digits: int) -> int:
    """Return quantity × unit_price in minor units (10**digits per major unit), rounded half-even.

    The multiplication runs in a context that raises instead of rounding, so only the final,
    deliberate half-even rounding ever happens.
    """
    if digits < 0:
        raise ValueError("a currency's minor-unit exponent is 0 or more")
    major = EXACT.multiply(Decimal(quantity), unit_price)
    return int(major.scaleb(digits, EXACT).to_integral_value(rounding=ROUND_HALF_EVEN, context=EXACT))


def line_amount_minor(quantity: int, unit_price: Decimal, currency: str) -> int:
    """Return what `quantity` units at `unit_price` cost in the currency's minor units, rounded half-even."""
    return minor_amount(quantity, unit_price, exponent(currency))


def parse_major(text: str, currency: str) -> int:
    """An amount people typed ("250", "250.5", "1,250.00") in the currency's minor units; ValueError if
    it is not a plain positive-or-zero amount with at most the currency's decimal places."""
    cleaned = text.strip().replace(",", "")
    places = exponent(currency)
    whole, _, fraction = cleaned.partition(".")
    if (
        not whole.isascii()
        or not whole.isdigit()
        or not (fraction == "" or (fraction.isascii() and fraction.isdigit()))
    ):
        raise ValueError("Enter an amount such as 25.00.")
    if len(fraction) > places or len(whole) > 15:
        raise ValueError(f"Enter at most {places} decimal places." if len(fraction) > places else "Too large.")
    return int(whole) * 10**places + (int(fraction.ljust(places, "0")) if places else 0)


def format_minor(amount_minor: int, currency: str) -> str:
    """Format an amount in minor units for people: '£1,234.50'."""
    exp = exponent(currency)
    major = Decimal(abs(amount_minor)).scaleb(-exp)
    sign = "−" if amount_minor < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{major:,.{exp}f}"


def format_price(unit_price: Decimal, currency: str) -> str:
    """Format a unit price with the currency's digits, keeping extra ones that matter."""
    exp = exponent(currency)
    trimmed = unit_price.normalize()
    digits = max(exp, -trimmed.as_tuple().exponent if trimmed.as_tuple().exponent < 0 else 0)  # type: ignore[operator]
    return f"{SYMBOLS.get(currency, currency + ' ')}{unit_price:,.{digits}f}"
