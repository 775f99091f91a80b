"""The double-entry ledger: balanced postings per pool, idempotent by posting key. No Flask here.

Accounts (debits positive): `member_payments` (credited when members pay), `escrow` (held funds),
`vendor_payable` and `platform_fee` (when a line's escrow is released), `vendor_payouts`
(transferred), `refunds` (money returned to members, wholly or in part). Every posting's legs sum
to zero, so every pool's do; postings about one line carry its id, so each line's escrow balance
can be read (and is never negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.bulk import in_values, insert_rows
from app.payments.models import LedgerEntry

MEMBER_PAYMENTS, ESCROW, VENDOR_PAYABLE = "member_payments", "escrow", "vendor_payable"
PLATFORM_FEE, VENDOR_PAYOUTS, REFUNDS = "platform_fee", "vendor_payouts", "refunds"


class UnbalancedPosting(ValueError):
    """A posting whose legs do not sum to zero: a bug, never a user error."""


@dataclass(frozen=True)
class Posting:
    """One balanced posting: legs (account, amount) that sum to zero, recorded once under `key`."""

    pool_id: int
    key: str
    currency: str
    memo: str
    legs: Sequence[tuple[str, int]]
    payment_id: int | None = None  # the line it is about: each line's escrow balance is never negative


KEYS_PER_QUERY = 1000  # bound parameters per lookup stay far below every database's limit


def post(
    session: Session,
    *,
    pool_id: int,
    key: str,
    currency: str,
    memo: str,
    now: datetime,
    legs: Sequence[tuple[str, int]],
    payment_id: int | None = None,
) -> bool:
    """Record a balanced posting once; return False when `key` was already posted."""
    return post_many(session, [Posting(pool_id, key, currency, memo, legs, payment_id)], now=now) == 1


def post_many(session: Session, postings: Sequence[Posting], *, now: datetime, keys_are_new: bool = False) -> int:
    """Record balanced postings, skipping keys already posted; return how many were new.

    One lookup of the keys and one batched insert, however many postings: settling a pool posts
    one per member, and a statement per posting would cost more than the postings themselves.
    `keys_are_new` skips the lookup when the keys name rows the caller has just inserted (a
    repeat would still be refused by the unique (posting_key, account) constraint).
    """
    for posting in postings:
        if sum(amount for _, amount in posting.legs) != 0:
            raise UnbalancedPosting(f"posting {posting.key} does not balance: {posting.legs}")
    keys = [] if keys_are_new else [posting.key for posting in postings]
    posted = set[str]()
    for i in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[i : i + KEYS_PER_QUERY]
        posted.update(
            session.scalars(select(LedgerEntry.posting_key).where(in_values(session, LedgerEntry.posting_key, chunk)))
        )
    fresh = [posting for posting in postings if posting.key not in posted]
    fresh = list({posting.key: posting for posting in fresh}.values())  # a key twice in one call posts once
    rows = [
        {
            "pool_id": posting.pool_id,
            "payment_id": posting.payment_id,
            "posting_key": posting.key,
            "account": account,
            "amount_minor": amount,
            "currency": posting.currency,
            "memo": posting.memo,
            "created_at": now,
        }
        for posting in fresh
        for account, amount in posting.legs
        if amount
    ]
    if rows:
        insert_rows(session, LedgerEntry, rows)
    return len(fresh)


@dataclass(frozen=True)
class Statement:
    entries: list[LedgerEntry]
    balances: dict[str, int]  # account -> sum, debits positive

    @property
    def total(self) -> int:
        return sum(self.balances.values())


def statement(session: Session, pool_id: int) -> Statement:
    """The pool's entries in order and the balance of each account."""
    entries = list(session.scalars(select(LedgerEntry).where(LedgerEntry.pool_id == pool_id).order_by(LedgerEntry.id)))
    balances: dict[str, int] = {}
    for entry in entries:
        balances[entry.account] = balances.get(entry.account, 0) + entry.amount_minor
    return Statement(entries, balances)


def line_balance(session: Session, payment_id: int, account: str) -> int:
    """One account's balance for one line (what its postings say)."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.payment_id == payment_id, LedgerEntry.account == account
    )
    return int(session.scalar(query) or 0)


def balance(session: Session, pool_id: int, account: str) -> int:
    """One account's balance for one pool."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.pool_id == pool_id, LedgerEntry.account == account
    )
    return int(session.scalar(query) or 0)
