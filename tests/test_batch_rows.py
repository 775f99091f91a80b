"""app.db.bulk.insert_rows / update_rows: many rows in one statement on PostgreSQL, exactly as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import CompileError, StatementError

from app.audit import AuditEvent
from app.db.bulk import in_values, insert_rows, update_rows
from app.payments.models import LedgerEntry
from tests import factories


def test_rows_round_trip_exactly_with_their_types(session, now):
    pool = factories.open_pool(session, now=now)
    written = now.replace(microsecond=123456)
    rows = [
        {
            "pool_id": pool.id,
            "posting_key": f"k-{i}",
            "account": "escrow",
            "amount_minor": (-1) ** i * 10**12 + i,  # beyond 32 bits, negative and positive
            "currency": "GBP",
            "memo": 'quotes " \\ and “unicode”, newline\n',
            "created_at": written + timedelta(seconds=i),
        }
        for i in range(1200)  # more than one page of anything
    ]
    insert_rows(session, LedgerEntry, rows)
    session.commit()
    stored = session.execute(
        select(LedgerEntry.posting_key, LedgerEntry.amount_minor, LedgerEntry.memo, LedgerEntry.created_at).order_by(
            LedgerEntry.id
        )
    ).all()
    assert [tuple(row) for row in stored] == [
        (row["posting_key"], row["amount_minor"], row["memo"], row["created_at"]) for row in rows
    ]


def test_update_rows_changes_each_row_to_its_own_values_and_nothing_else(session, now):
    pool = factories.open_pool(session, now=now)
    base = {"pool_id": pool.id, "account": "escrow", "currency": "GBP", "memo": "m", "created_at": now}
    insert_rows(session, LedgerEntry, [{**base, "posting_key": f"k-{i}", "amount_minor": i} for i in range(5)])
    ids = list(session.scalars(select(LedgerEntry.id).order_by(LedgerEntry.id)))
    update_rows(
        session,
        LedgerEntry,
        [{"id": ids[1], "amount_minor": 100, "memo": "one"}, {"id": ids[3], "amount_minor": -3, "memo": "three"}],
    )
    session.commit()
    stored = session.execute(select(LedgerEntry.amount_minor, LedgerEntry.memo).order_by(LedgerEntry.id)).all()
    assert [tuple(row) for row in stored] == [(0, "m"), (100, "one"), (2, "m"), (-3, "three"), (4, "m")]


def test_a_naive_datetime_or_an_unknown_column_is_refused(session, now):
    pool = factories.open_pool(session, now=now)
    row = {
        "pool_id": pool.id,
        "posting_key": "k",
        "account": "escrow",
        "amount_minor": 1,
        "currency": "GBP",
        "memo": "",
    }
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        insert_rows(session, LedgerEntry, [{**row, "created_at": datetime(2026, 1, 1)}])
    session.rollback()
    with pytest.raises((ValueError, CompileError), match="colour"):
        insert_rows(session, LedgerEntry, [{**row, "created_at": datetime(2026, 1, 1, tzinfo=UTC), "colour": "red"}])
    session.rollback()
    assert session.scalars(select(LedgerEntry)).all() == []


@pytest.mark.parametrize("wanted", [[], [2], [0, 2, 4], list(range(5))])
def test_in_values_selects_exactly_the_given_values(session, now, wanted):
    pool = factories.open_pool(session, now=now)
    base = {"pool_id": pool.id, "account": "escrow", "currency": "GBP", "memo": "m", "created_at": now}
    insert_rows(session, LedgerEntry, [{**base, "posting_key": f"k-{i}", "amount_minor": i} for i in range(5)])
    keys = [f"k-{i}" for i in wanted]
    found = session.scalars(select(LedgerEntry.amount_minor).where(in_values(session, LedgerEntry.posting_key, keys)))
    assert sorted(found) == wanted


def test_json_columns_and_nulls_round_trip(session, now):
    pool = factories.open_pool(session, now=now)
    after = {"status": "settled", "paid": 3, "note": "“quoted” \\ text", "nested": [1, {"a": None}]}
    rows = [
        {
            "pool_id": pool.id,
            "actor_id": None,
            "action": "pool.settle",
            "subject_type": "pool",
            "subject_id": pool.id,
            "before": None,
            "after": {**after, "i": i},
            "created_at": now,
        }
        for i in range(3)
    ]
    insert_rows(session, AuditEvent, rows)
    session.commit()
    stored = session.execute(
        select(AuditEvent.actor_id, AuditEvent.before, AuditEvent.after)
        .where(AuditEvent.action == "pool.settle")
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(row) for row in stored] == [(None, None, {**after, "i": i}) for i in range(3)]


def test_new_ids_come_back_in_row_order_and_match_what_was_stored(session, now):
    pool = factories.open_pool(session, now=now)
    base = {"pool_id": pool.id, "account": "escrow", "currency": "GBP", "memo": "m", "created_at": now}
    insert_rows(session, LedgerEntry, [{**base, "posting_key": "before", "amount_minor": 0}])
    rows = [{**base, "posting_key": f"k-{i}", "amount_minor": i} for i in range(700)]
    returned = insert_rows(session, LedgerEntry, rows, returning=("posting_key", "id"))
    session.commit()
    stored = dict(session.execute(select(LedgerEntry.posting_key, LedgerEntry.id)).all())
    assert [key for key, _ in returned] == [row["posting_key"] for row in rows]
    assert all(stored[key] == new_id for key, new_id in returned)
    ids = [new_id for _, new_id in returned]
    assert ids == sorted(ids) and len(set(ids)) == 700 and ids[0] > stored["before"]
    with pytest.raises(ValueError, match="own columns"):
        insert_rows(session, LedgerEntry, rows[:1], returning=("id", "colour"))
