"""Money formatting and exact line amounts."""

from decimal import Decimal

import pytest

from app.money import format_minor, format_price, line_amount_minor


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


def test_line_amounts_round_half_even_to_the_minor_unit():
    assert line_amount_minor(3, Decimal("8.505"), "GBP") == 2552  # 25.515 → 25.52
    assert line_amount_minor(1, Decimal("0.125"), "GBP") == 12  # 0.125 → 0.12 (half to even)
    assert line_amount_minor(7, Decimal("99.9999"), "JPY") == 700
