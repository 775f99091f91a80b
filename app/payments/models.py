"""Money records: per-member payments, vendor payouts, the double-entry ledger, webhook receipts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class PaymentStatus(StrEnum):
    PENDING = "pending"  # written before the gateway call; the outcome is not known yet
    REQUIRES_ACTION = "requires_action"  # the member must authenticate on-session, within a grace window
    SUCCEEDED = "succeeded"  # captured and held in escrow
    FAILED = "failed"  # declined or abandoned: nothing was taken
    REFUNDED = "refunded"


class Payment(Base):
    """One member's charge for one served commitment: at most one per commitment."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), unique=True)
    # Copies of the commitment's: its foreign keys already vouch for them (see migration 0013).
    pool_id: Mapped[int] = mapped_column(index=True)
    member_id: Mapped[int]  # found by pool or commitment: no index
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # exactly the award line's amount
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)  # pool-42-commitment-7-charge
    gateway: Mapped[str] = mapped_column(String(12))
    gateway_ref: Mapped[str | None] = mapped_column(String(120), index=True)
    # The card charged, fixed at the first attempt: a retry must repeat the very same request, or the
    # provider refuses the reused idempotency key (and a new key could charge twice).
    payment_method_ref: Mapped[str | None] = mapped_column(String(120))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    action_url: Mapped[str | None] = mapped_column(String(500))
    action_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]  # when a transient failure may be retried
    refund_ref: Mapped[str | None] = mapped_column(String(120))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # refunded so far, at most amount_minor
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"


class Payout(Base):
    """The winning vendor's one transfer for a pool: held funds minus the platform fee."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), unique=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    gross_minor: Mapped[int] = mapped_column(BigInteger)  # what members paid and is held
    fee_minor: Mapped[int] = mapped_column(BigInteger)  # PLATFORM_FEE_BPS of gross, half-even
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # gross - fee, transferred
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default=PayoutStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    gateway_ref: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LedgerEntry(Base):
    """One leg of a balanced posting; debits positive, credits negative, in minor units."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("posting_key", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    posting_key: Mapped[str] = mapped_column(String(120))  # one posting's legs share it; unique per account
    account: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class WebhookReceipt(Base):
    """A provider event we have handled, so duplicate deliveries change nothing twice."""

    __tablename__ = "webhook_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    event_type: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
