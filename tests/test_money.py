"""Money formatting and exact line amounts."""

import re
from decimal import Decimal

import pytest

from app.money import format_minor, format_price, line_amount_minor, parse_major


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123450, "GBP", "£1,234.50"),
        (-1580, "EUR", "−€15.80"),
        (5, "JPY", "¥5"),
        (0, "SEK", "SEK 0.00"),
    ],
)
def test_amounts_read_the_way_people_write_them(amount, currency, text):
    assert format_minor(amount, currency) == text


def test_prices_keep_the_digits_that_matter():
    assert format_price(Decimal("3.1000"), "GBP") == "£3.10"
    assert format_price(Decimal("3.1250"), "GBP") == "£3.125"
    assert format_price(Decimal("30.0000"), "JPY") == "¥30"
    assert format_price(Decimal("30.5000"), "JPY") == "¥30.5"
    assert format_price(Decimal("1200"), "CHF") == "CHF 1,200.00"


def test_line_amounts_round_half_even_to_the_minor_unit():
    assert line_amount_minor(3, Decimal("8.505"), "GBP") == 2552  # 25.515 → 25.52
    assert line_amount_minor(1, Decimal("0.125"), "GBP") == 12  # 0.125 → 0.12 (half to even)
    assert line_amount_minor(7, Decimal("99.9999"), "JPY") == 700


# ISO 4217's minor-unit exponents, written out here on purpose: a wrong one in app.money would make
# every charge in that currency 10× or 100× wrong.
ISO_4217_EXPONENTS = {
    "AUD": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HUF": 2,
    "JPY": 0, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "USD": 2,
}  # fmt: skip


def test_every_supported_currency_has_its_iso_4217_exponent():
    from app.money import CURRENCIES, exponent

    assert CURRENCIES == ISO_4217_EXPONENTS
    assert all(exponent(code) == digits for code, digits in ISO_4217_EXPONENTS.items())


@pytest.mark.parametrize("currency", sorted(ISO_4217_EXPONENTS))
def test_one_unit_at_one_major_unit_is_one_major_unit_in_minor_units(currency):
    assert line_amount_minor(1, Decimal("1"), currency) == 10 ** ISO_4217_EXPONENTS[currency]
    assert line_amount_minor(3, Decimal("2"), currency) == 6 * 10 ** ISO_4217_EXPONENTS[currency]


def test_a_line_is_multiplied_exactly_and_rounded_once():
    from app.money import minor_amount

    # 3 × 0.1665 = 0.4995 → 49.95 minor → 50 (half-even: 49.95 rounds to 50, 49.94 would not)
    assert minor_amount(3, Decimal("0.1665"), 2) == 50
    assert minor_amount(10_000_000, Decimal("9999999999.9999"), 2) == 9_999_999_999_999_900_000  # exact, if huge
    assert minor_amount(2, Decimal("0.0025"), 2) == 0  # 0.5 minor → 0 (to even)
    assert minor_amount(6, Decimal("0.0025"), 2) == 2  # 1.5 minor → 2 (to even)
    with pytest.raises(ValueError, match=r"^a currency's minor-unit exponent is 0 or more$"):
        minor_amount(1, Decimal("1"), -1)


def test_a_line_beyond_28_digits_is_still_exact():
    from app.money import minor_amount

    # Python's default decimal context keeps 28 digits and would drop the last unit here.
    assert minor_amount(10**29 + 1, Decimal(1), 2) == (10**29 + 1) * 100


FORMATTED = [(100, "USD", "$1.00"), (100, "CHF", "CHF 1.00"), (1234567, "JPY", "¥1,234,567"), (-1, "GBP", "−£0.01")]


@pytest.mark.parametrize(("amount", "currency", "text"), FORMATTED)
def test_every_currency_is_formatted_with_its_own_exponent(amount, currency, text):
    assert format_minor(amount, currency) == text


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("250", "GBP", 25000), ("250.5", "GBP", 25050), ("1,250.00", "EUR", 125000), (" 0.01 ", "USD", 1),
     ("1200", "JPY", 1200), ("0", "GBP", 0)],
)  # fmt: skip
def test_typed_amounts_become_exact_minor_units(typed, currency, minor):
    assert parse_major(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency"),
    [("4oo", "GBP"), ("-5", "GBP"), ("1.005", "GBP"), ("1.5", "JPY"), ("", "GBP"), ("١٢", "GBP"), ("1e3", "GBP"),
     ("9" * 16, "GBP")],
)  # fmt: skip
def test_amounts_that_are_not_plain_money_are_refused(typed, currency):
    with pytest.raises(ValueError):
        parse_major(typed, currency)


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [("4oo", "GBP", "Enter an amount such as 25.00."), ("1.٣", "GBP", "Enter an amount such as 25.00."),
     ("1.005", "GBP", "Enter at most 2 decimal places."), ("1.5", "JPY", "Enter at most 0 decimal places."),
     ("9" * 16, "GBP", "Too large."), ("9" * 16 + ".99", "GBP", "Too large.")],
)  # fmt: skip
def test_a_refused_amount_says_what_to_type(typed, currency, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_major(typed, currency)


def test_the_largest_amount_typed_is_fifteen_digits():
    assert parse_major("9" * 15 + ".99", "GBP") == int("9" * 15 + "99")
