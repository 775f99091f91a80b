"""Declarative base, naming convention and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import JSON, DateTime, MetaData, Numeric, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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
    """A unit price: Decimal with exactly 4 decimal places."""
    return ExactDecimal(14, 4)


Json = Annotated[Any, mapped_column(JSON())]
Str40 = Annotated[str, mapped_column(String(40))]
Str200 = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    """Base of every model; the metadata carries the constraint naming convention."""

    # Every `Mapped[datetime]` is aware UTC and every `Mapped[Decimal]` is a 4-place unit price,
    # unless a column says otherwise.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UtcDateTimeType(), Decimal: UnitPriceType()},
    )


def include_in_migrations(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: ignore tables that are not ours (APScheduler's job store makes its own)."""
    return not (type_ == "table" and name is not None and name.startswith("apscheduler_"))
