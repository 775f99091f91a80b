"""The double-entry ledger: balanced postings, recorded once per key, however they are batched."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.payments import ledger
from app.payments.models import LedgerEntry
from tests import factories


@pytest.fixture
def pool_id(session, now):
    return factories.open_pool(session, now=now).id


def _payment(pool_id, key, amount):
    return ledger.Posting(pool_id, key, "GBP", "", [(ledger.ESCROW, amount), (ledger.MEMBER_PAYMENTS, -amount)])


def _entries(session):
    return session.scalar(select(func.count(LedgerEntry.id)))


def test_a_posting_is_recorded_once_and_says_whether_it_was_new(session, pool_id, now):
    legs = [(ledger.ESCROW, 500), (ledger.MEMBER_PAYMENTS, -500)]
    assert ledger.post(session, pool_id=pool_id, key="k1", currency="GBP", memo="m", now=now, legs=legs) is True
    assert ledger.post(session, pool_id=pool_id, key="k1", currency="GBP", memo="m", now=now, legs=legs) is False
    assert _entries(session) == 2
    assert ledger.balance(session, pool_id, ledger.ESCROW) == 500


def test_an_unbalanced_posting_raises_and_writes_nothing(session, pool_id, now):
    good = ledger.Posting(pool_id, "good", "GBP", "", [(ledger.ESCROW, 1), (ledger.REFUNDS, -1)])
    bad = ledger.Posting(pool_id, "bad", "GBP", "", [(ledger.ESCROW, 2), (ledger.REFUNDS, -1)])
    with pytest.raises(ledger.UnbalancedPosting, match=r"^posting bad does not balance: \[\('escrow', 2\)"):
        ledger.post_many(session, [good, bad], now=now)
    assert _entries(session) == 0


def test_replays_across_the_lookup_batch_boundary_post_only_new_keys(session, pool_id, now):
    n = ledger.KEYS_PER_QUERY + 1
    postings = [_payment(pool_id, f"key-{i}", i + 1) for i in range(n + 1)]
    assert ledger.post_many(session, postings[:n], now=now) == n
    assert ledger.post_many(session, postings, now=now) == 1  # only the one past the first batch is new
    assert _entries(session) == 2 * (n + 1)
    assert ledger.statement(session, pool_id).total == 0


def test_a_key_twice_in_one_call_posts_once(session, pool_id, now):
    posting = ledger.Posting(pool_id, "twice", "GBP", "", [(ledger.ESCROW, 7), (ledger.REFUNDS, -7)])
    assert ledger.post_many(session, [posting, posting], now=now) == 1
    assert _entries(session) == 2


def test_zero_legs_are_not_written(session, pool_id, now):
    legs = [(ledger.ESCROW, 0), (ledger.VENDOR_PAYABLE, 9), (ledger.PLATFORM_FEE, -9)]
    ledger.post(session, pool_id=pool_id, key="z", currency="GBP", memo="", now=now, legs=legs)
    assert _entries(session) == 2


def test_an_account_with_no_entries_has_a_zero_balance(session, pool_id):
    assert ledger.balance(session, pool_id, ledger.ESCROW) == 0
    statement = ledger.statement(session, pool_id)
    assert (statement.entries, statement.balances, statement.total) == ([], {}, 0)


def test_balances_sum_each_account_and_the_pool_to_zero(session, pool_id, now):
    ledger.post(session, pool_id=pool_id, key="pay", currency="GBP", memo="", now=now,
                legs=[(ledger.ESCROW, 1000), (ledger.MEMBER_PAYMENTS, -1000)])  # fmt: skip
    ledger.post(session, pool_id=pool_id, key="release", currency="GBP", memo="", now=now,
                legs=[(ledger.ESCROW, -1000), (ledger.VENDOR_PAYABLE, 950), (ledger.PLATFORM_FEE, 50)])  # fmt: skip
    balances = ledger.statement(session, pool_id).balances
    assert balances == {ledger.ESCROW: 0, ledger.MEMBER_PAYMENTS: -1000, ledger.VENDOR_PAYABLE: 950,
                        ledger.PLATFORM_FEE: 50}  # fmt: skip
    assert ledger.balance(session, pool_id, ledger.VENDOR_PAYABLE) == 950


def test_keys_said_to_be_new_are_not_looked_up_but_still_posted(session, pool_id, now, count_queries):
    posting = ledger.Posting(pool_id, "fresh", "GBP", "", [(ledger.ESCROW, 3), (ledger.REFUNDS, -3)])
    assert ledger.post_many(session, [posting], now=now, keys_are_new=True) == 1
    lookups = [s for s in count_queries.statements if s.lstrip().upper().startswith("SELECT") and "ledger_entries" in s]
    assert lookups == [] and _entries(session) == 2


def test_balances_are_per_pool(session, pool_id, now):
    other = factories.open_pool(session, now=now).id
    ledger.post_many(session, [_payment(pool_id, "a", 10), _payment(other, "b", 99)], now=now)
    assert ledger.balance(session, pool_id, ledger.ESCROW) == 10
    assert ledger.statement(session, other).balances == {ledger.ESCROW: 99, ledger.MEMBER_PAYMENTS: -99}


def test_a_statement_lists_entries_in_the_order_they_were_posted(session, pool_id, now):
    for key, amount in (("first", 3), ("second", 1), ("third", 2)):
        ledger.post_many(session, [_payment(pool_id, key, amount)], now=now)
    keys = [entry.posting_key for entry in ledger.statement(session, pool_id).entries]
    assert keys == ["first", "first", "second", "second", "third", "third"]


def test_a_lines_postings_carry_its_id_and_its_balance_is_its_own(session, pool_id, now):
    """Postings about a line (a payment) name it: its escrow balance is read from its postings alone."""
    captured = [(ledger.ESCROW, 900), (ledger.MEMBER_PAYMENTS, -900)]
    released = [(ledger.ESCROW, -600), (ledger.VENDOR_PAYABLE, 570), (ledger.PLATFORM_FEE, 30)]
    other = [(ledger.ESCROW, 400), (ledger.MEMBER_PAYMENTS, -400)]
    assert ledger.post(session, pool_id=pool_id, payment_id=7, key="p7-c", currency="GBP", memo="", now=now,
                       legs=captured)  # fmt: skip
    assert ledger.post(session, pool_id=pool_id, payment_id=7, key="p7-r", currency="GBP", memo="", now=now,
                       legs=released)  # fmt: skip
    ledger.post_many(session, [ledger.Posting(pool_id, "p8-c", "GBP", "", other, payment_id=8)], now=now)
    assert ledger.line_balance(session, 7, ledger.ESCROW) == 300
    assert ledger.line_balance(session, 8, ledger.ESCROW) == 400
    assert ledger.line_balance(session, 7, ledger.PLATFORM_FEE) == 30
    assert ledger.line_balance(session, 9, ledger.ESCROW) == 0  # a line with no postings holds nothing
    assert ledger.balance(session, pool_id, ledger.ESCROW) == 700
    ids = set(session.scalars(select(LedgerEntry.payment_id).where(LedgerEntry.posting_key == "p7-r")))
    assert ids == {7}
    unnamed = _payment(pool_id, "no-line", 5)
    ledger.post_many(session, [unnamed], now=now)
    assert set(session.scalars(select(LedgerEntry.payment_id).where(LedgerEntry.posting_key == "no-line"))) == {None}
