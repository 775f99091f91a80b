"""Batched writes and reads for the hot paths: rows inserted (COPY on PostgreSQL) and updated in one
statement, several SELECTs in one round trip, and IN lists that stay one cached statement."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar, cast

from psycopg import sql as pgsql
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Select,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    text,
    update,
)
from sqlalchemy import cast as cast_as
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.selectable import TableValuedAlias

from app.db.base import Base
from app.db.types import UtcDateTimeType

T = TypeVar("T")


def insert_rows(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], returning: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    """Insert many plain rows (every row with the same keys): one statement on PostgreSQL.

    On PostgreSQL the rows are a `COPY … FROM STDIN` into the table, in the session's transaction:
    psycopg writes them in C and the server skips the planner. COPY returns nothing, so when new
    ids are to be returned they are first taken from the table's sequence (one more short query).
    The obvious ways cost far more at a pool's size (an award line, a payment, two ledger legs
    and a notification or two per member): psycopg's executemany sends a statement per row,
    SQLAlchemy's multi-row VALUES spends its time building and parsing a statement with thousands
    of parameters, and ORM objects cost the most. SQLite runs in-process: an executemany is
    already cheap there.
    `returning` names columns to return (the rows' own, and `id`), one tuple per row, in order.
    """
    if not rows:
        return []
    table = _table_of(model, rows)
    if not set(returning) <= {*rows[0], "id"}:
        raise ValueError(f"insert_rows returns the rows' own columns and their new ids, not {sorted(returning)}")
    if session.get_bind().dialect.name != "postgresql":
        statement = insert(table)
        if not returning:
            session.execute(statement, list(rows))
            return []
        returned = session.execute(statement.returning(*(table.c[name] for name in returning)), list(rows))
        return [tuple(row) for row in returned]
    if "id" in returning and "id" not in rows[0]:
        # COPY returns nothing: the new ids are taken from the table's sequence first.
        ids = session.scalars(_NEW_IDS, {"table": table.name, "count": len(rows)}).all()
        rows = [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)]
    _copy_rows(session, table, rows)
    return [tuple(row[name] for name in returning) for row in rows] if returning else []


_NEW_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count) ORDER BY 1")


def _copy_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """COPY the rows into the table on the session's own connection and transaction."""
    keys = list(rows[0])
    columns = [table.c[key] for key in keys]
    converters = [_copy_converter(column.type) for column in columns]
    target = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(table.name), pgsql.SQL(", ").join(pgsql.Identifier(column.name) for column in columns)
    )
    session.flush()  # objects the rows refer to are in the database first
    connection = session.connection().connection.driver_connection
    assert connection is not None
    with connection.cursor() as cursor, cursor.copy(target) as copy:
        if not any(converters):
            for row in rows:
                copy.write_row([row[key] for key in keys])
            return
        pairs = list(zip(keys, converters, strict=True))
        for row in rows:
            copy.write_row([row[key] if convert is None else convert(row[key]) for key, convert in pairs])


def _copy_converter(column_type: Any) -> Callable[[Any], Any] | None:
    """What a column's values go through on their way into COPY (None: written as they are)."""
    if isinstance(column_type, UtcDateTimeType | DateTime):
        return _aware
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    return None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given where an aware UTC datetime is required")
    return value


def select_in_one_round_trip(
    session: Session, *queries: tuple[Select[Any], dict[str, Any]]
) -> list[list[tuple[Any, ...]]]:
    """Run SELECTs one after another on the session's connection; on PostgreSQL in one round trip.

    PostgreSQL runs them in order, each with its own snapshot as READ COMMITTED gives every
    statement: a query sent after a `FOR UPDATE` in the same batch sees what was committed before
    that lock was granted. psycopg's pipeline mode sends them together and reads the results back,
    which saves a round trip per query where it counts: inside a hot row lock. Parameters and
    columns go through their types' processors, as with SQLAlchemy; rows are plain tuples. The
    queries bypass SQLAlchemy's execution events and echo. Elsewhere (SQLite runs in-process) the
    queries run one by one through SQLAlchemy.
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return [[tuple(row) for row in connection.execute(query, params)] for query, params in queries]
    prepared = [(_driven(query, dialect), params) for query, params in queries]
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.pipeline():
            cursors = [driver.execute(driven.sql, driven.bind(params)) for driven, params in prepared]
        fetched = [cursor.fetchall() for cursor in cursors]
    except dialect.loaded_dbapi.Error as exc:
        if driver.closed:
            connection.invalidate(exc)
        statements = ";\n".join(driven.sql for driven, _ in prepared)
        error = DBAPIError.instance(statements, [params for _, params in prepared], exc, dialect.loaded_dbapi.Error)
        raise error from exc
    return [driven.rows(rows) for (driven, _), rows in zip(prepared, fetched, strict=True)]


@dataclass(frozen=True)
class _Driven:
    """A query compiled for the driver: its SQL, its constant parameters and its types' processors."""

    sql: str
    constants: dict[str, Any]
    binders: dict[str, Callable[[Any], Any]]
    columns: tuple[Callable[[Any], Any] | None, ...]

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        values = self.constants | params
        for name, process in self.binders.items():
            values[name] = process(values[name])
        return values

    def rows(self, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        if not any(self.columns):
            return [tuple(row) for row in rows]
        columns = self.columns
        return [tuple(v if do is None else do(v) for v, do in zip(row, columns, strict=True)) for row in rows]


@lru_cache(maxsize=64)
def _driven(query: Select[Any], dialect: Dialect) -> _Driven:
    """Compile a query for the driver once per process (the bid path's queries are module constants)."""
    compiled = query.compile(dialect=dialect)
    # By the name each parameter has in the SQL (an anonymous one's key is not its name).
    binders = {compiled.bind_names[bind]: bind.type.bind_processor(dialect) for bind in compiled.binds.values()}
    return _Driven(
        compiled.string,
        dict(compiled.params),
        {name: process for name, process in binders.items() if process is not None},
        tuple(column.type.result_processor(dialect, None) for column in query.selected_columns),
    )


def update_rows(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Update many rows by primary key `id`, each with its own values (every row with the same keys).

    One `UPDATE … FROM json_populate_recordset(…)` on PostgreSQL, an executemany on SQLite (see
    insert_rows). The caller has locked and read the rows it decided to change.
    """
    if not rows:
        return
    table = _table_of(model, rows)
    changed = [name for name in rows[0] if name != "id"]
    if session.get_bind().dialect.name != "postgresql":
        by_id = update(table).where(table.c.id == bindparam("row_id"))
        session.execute(by_id, [{"row_id": row["id"], **{name: row[name] for name in changed}} for row in rows])
        return
    records = _records(table, rows)
    session.execute(update(table).where(table.c.id == records.c.id).values({name: records.c[name] for name in changed}))


def in_values(session: Session, column: QueryableAttribute[T], values: Iterable[T]) -> ColumnElement[bool]:
    """`column IN values` that stays one short statement however many values.

    On PostgreSQL `column = ANY(:array)`, with the values as a single array parameter; SQLite gets
    an ordinary IN. Rendering and parsing a statement with a thousand placeholders, anew on every
    call because its text changes with the count, cost more than running it.
    """
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _table_of(model: type[Base], rows: Sequence[dict[str, Any]]) -> Table:
    """The model's table, once every key of the rows is known to be one of its columns."""
    table = cast(Table, model.__table__)
    unknown = sorted({name for row in rows for name in row} - set(table.c.keys()))
    if unknown:
        raise ValueError(f"{table.name} has no column {unknown}")
    return table


def _records(table: Table, rows: Sequence[dict[str, Any]]) -> TableValuedAlias:
    """The rows as a FROM source: PostgreSQL's json_populate_recordset(NULL::table, :rows)."""
    converted: dict[object, str] = {}  # a batch repeats its timestamps: convert each value once

    def convert(value: object) -> str:
        if value not in converted:
            converted[value] = _json_value(value)
        return converted[value]

    document = cast_as(literal(json.dumps(rows, default=convert)), JSON)
    records = func.json_populate_recordset(literal_column(f"NULL::{table.name}"), document)
    return records.table_valued(*(table.c[name] for name in rows[0]), name="records")


def _json_value(value: object) -> str:
    """Exact JSON text for the values json cannot write: aware datetimes and Decimals."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a batch of rows")
