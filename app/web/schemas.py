"""Schema building blocks shared by every domain: money, bounded text, pagination, errors."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.money import CURRENCIES, PRICE_PLACES, PRICE_STEP
from app.text import control_characters

MAX_UNIT_PRICE = Decimal("9999999999.9999")  # below 10^10, as the unit-price columns hold
MAX_ID = 2**31 - 1  # the largest id an integer column holds on PostgreSQL


_DIGITS = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


class WholeNumber(fields.Integer):
    """A whole number: a JSON integer, or a string of ASCII digits with an optional minus (what a form sends).

    Nothing is rounded or reinterpreted: 2.5, "2.5", "1_000", full-width or Arabic-Indic digits and
    true are refused, where int() would accept or truncate them.
    """

    default_error_messages = {"invalid": "Enter a whole number (digits only)."}

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return int(value.strip())
        raise self.make_error("invalid")


class DecimalText(fields.Field):
    """An exact decimal given as a string of ASCII digits with an optional point ("3.10"), within bounds.

    Dumped as a string with `places` decimals. Numbers in JSON are refused: a float is not exact,
    and a string says what was meant. The bounds are checked here, not with a Range validator, so the
    OpenAPI document describes the field as the string it is.
    """

    default_error_messages = {
        "invalid": 'Enter a decimal number as text, like "3.10" (digits, optionally a point and decimals).',
        "places": "At most {places} decimal places.",
        "range": "Must be between {minimum} and {maximum}.",
    }

    def __init__(self, *, places: int, minimum: Decimal, maximum: Decimal, **kwargs: Any) -> None:
        metadata = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "example": f"{minimum:.{places}f}"}
        super().__init__(metadata=metadata | kwargs.pop("metadata", {}), **kwargs)
        self.places, self.minimum, self.maximum = places, minimum, maximum

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{Decimal(value):.{self.places}f}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
            raise self.make_error("invalid")
        number = Decimal(value.strip())
        if number.as_tuple().exponent < -self.places:  # type: ignore[operator]
            raise self.make_error("places", places=self.places)
        self.check_range(number)
        return number.quantize(Decimal(1).scaleb(-self.places))

    def check_range(self, number: Decimal) -> None:
        """Refuse a number outside [minimum, maximum]."""
        if not self.minimum <= number <= self.maximum:
            raise self.make_error("range", minimum=self.minimum, maximum=self.maximum)


class UnitPriceField(DecimalText):
    """A positive unit price with at most PRICE_PLACES (4) decimal places, given as a decimal string ("3.10").

    Dumped as a decimal string ("3.1000"); numbers are refused on input because a float is not exact.
    """

    default_error_messages = {
        "invalid": f"Enter a price like 3.10 (digits, optionally a point and up to {PRICE_PLACES} decimals).",
        "positive": "Price must be greater than zero.",
        "places": f"Price may have at most {PRICE_PLACES} decimal places.",
        "too_large": "Price must be below 10,000,000,000.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(places=PRICE_PLACES, minimum=PRICE_STEP, maximum=MAX_UNIT_PRICE, **kwargs)

    def check_range(self, number: Decimal) -> None:
        if number <= 0:
            raise self.make_error("positive")
        if number > self.maximum:
            raise self.make_error("too_large")


def text(
    max_length: int, *, required: bool = True, min_length: int = 1, multiline: bool = False, **kwargs: Any
) -> fields.String:
    """A trimmed string field with a length limit: one line unless `multiline` (descriptions, notes)."""
    return TrimmedString(
        required=required,
        multiline=multiline,
        validate=validate.Length(min=min_length, max=max_length),
        **kwargs,
    )


class SafeString(fields.String):
    """A string with no control characters (a single line unless `multiline`)."""

    default_error_messages = {
        "control": "Remove the line breaks and control characters; this field is a single line.",
        "control_multiline": "Remove the control characters (such as NUL); line breaks and tabs are fine.",
    }

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        loaded = str(super()._deserialize(value, attr, data, **kwargs))
        if control_characters(loaded, multiline=self.multiline):
            raise self.make_error("control_multiline" if self.multiline else "control")
        return loaded


class TrimmedString(SafeString):
    """A string with surrounding whitespace removed before validation."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


def currency_field(**kwargs: Any) -> fields.String:
    """An ISO 4217 code among the currencies Buyswarm supports."""
    choices = sorted(CURRENCIES)
    return fields.String(
        validate=validate.OneOf(choices, error="Unknown currency; use one of " + ", ".join(choices) + "."),
        **kwargs,
    )


def positive_int(*, required: bool = True, maximum: int = 10_000_000, **kwargs: Any) -> fields.Integer:
    """A whole number from 1 to `maximum`."""
    return WholeNumber(
        required=required,
        validate=validate.Range(min=1, max=maximum, error=f"Must be a whole number from 1 to {maximum:,}."),
        **kwargs,
    )


class PageQuery(Schema):
    page = WholeNumber(load_default=1, validate=validate.Range(min=1, max=10_000))


class ErrorOut(Schema):
    """The body of every API error."""

    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


LOCATIONS = ("json", "query", "form", "files", "headers", "cookies")


def flatten_errors(messages: Any) -> dict[str, list[str]]:
    """Flatten marshmallow/webargs messages to {"field" or "tiers.0.unit_price": [messages]}."""
    if isinstance(messages, dict) and messages and all(key in LOCATIONS for key in messages):
        # webargs nests errors under the request location; callers only care about fields.
        merged: dict[str, Any] = {}
        for inner in messages.values():
            merged.update(inner if isinstance(inner, dict) else {"_schema": inner})
        messages = merged
    flat: dict[str, list[str]] = {}
    _flatten_into(flat, "", messages)
    return flat


def _flatten_into(flat: dict[str, list[str]], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten_into(flat, f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        flat.setdefault(prefix or "_schema", []).extend(value)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _flatten_into(flat, f"{prefix}.{index}", inner)
    else:
        flat.setdefault(prefix or "_schema", []).append(str(value))


__all__ = ["ValidationError", "flatten_errors"]
