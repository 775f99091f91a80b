"""The column types every model shares: aware UTC times, exact decimals, bounded strings, JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    Numeric,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import mapped_column

from app.money import PRICE_PLACES


class UtcDateTimeType(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact Decimal with a fixed number of places: NUMERIC on PostgreSQL, text on SQLite.

    SQLite has no decimal type and would store a REAL; zero-padded text keeps the value exact and
    makes string order equal numeric order for the non-negative values we store.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 14, scale: int = 4) -> None:
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale
        self.quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(self.quantum)
        if dialect.name == "sqlite":
            return f"{quantized:0{self.precision + 2}.{self.scale}f}"
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(self.quantum)


def UnitPriceType() -> ExactDecimal:  # noqa: N802 - reads like the type it names
    """A unit price: Decimal with exactly PRICE_PLACES (4) decimal places, below 10^10."""
    return ExactDecimal(10 + PRICE_PLACES, PRICE_PLACES)


Json = Annotated[Any, mapped_column(JSON())]
Str40 = Annotated[str, mapped_column(String(40))]
Str200 = Annotated[str, mapped_column(String(200))]


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E]):
    """A column holding one member of a StrEnum, stored as its string value (VARCHAR, no database enum).

    Values read come back as members, and a value written must be a member's value: a misspelt
    status fails at the write instead of being stored. Adding a member needs no migration.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
