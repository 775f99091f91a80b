"""The double-entry ledger: balanced postings per pool, idempotent by posting key. No Flask here.

Accounts (debits positive): `member_payments` (credited when members pay), `escrow` (held funds),
`vendor_payable` and `platform_fee` (when escrow is released), `vendor_payouts` (transferred),
`refunds` (money returned to members). Every posting's legs sum to zero, so every pool's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.payments.models import LedgerEntry

MEMBER_PAYMENTS, ESCROW, VENDOR_PAYABLE = "member_payments", "escrow", "vendor_payable"
PLATFORM_FEE, VENDOR_PAYOUTS, REFUNDS = "platform_fee", "vendor_payouts", "refunds"


class UnbalancedPosting(ValueError):
    """A posting whose legs do not sum to zero: a bug, never a user error."""


def post(
    session: Session,
    *,
    pool_id: int,
    key: str,
    currency: str,
    memo: str,
    now: datetime,
    legs: Sequence[tuple[str, int]],
) -> bool:
    """Record a balanced posting once; return False when `key` was already posted."""
    if sum(amount for _, amount in legs) != 0:
        raise UnbalancedPosting(f"posting {key} does not balance: {legs}")
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.posting_key == key).limit(1)) is not None:
        return False
    session.add_all(
        LedgerEntry(
            pool_id=pool_id,
            posting_key=key,
            account=account,
            amount_minor=amount,
            currency=currency,
            memo=memo,
            created_at=now,
        )
        for account, amount in legs
        if amount
    )
    session.flush()
    return True


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


def balance(session: Session, pool_id: int, account: str) -> int:
    """One account's balance for one pool."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.pool_id == pool_id, LedgerEntry.account == account
    )
    return int(session.scalar(query) or 0)
