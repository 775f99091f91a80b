"""Money records: per-member payments, vendor payouts, the double-entry ledger, webhook receipts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base
from app.db.types import StrEnumType


class PaymentStatus(StrEnum):
    PENDING = "pending"  # written before the gateway call; the outcome is not known yet
    REQUIRES_ACTION = "requires_action"  # the member must authenticate on-session, within a grace window
    DECLINED = "declined"  # the card was declined: the member may pay with another card within a grace window
    SUCCEEDED = "succeeded"  # captured and held in escrow
    FAILED = "failed"  # declined or abandoned: nothing was taken
    REFUNDED = "refunded"


class ReleasedBy(StrEnum):
    MEMBER = "member"  # the member confirmed delivery
    ORGANISER = "organiser"  # the organiser confirmed delivery of a pool delivered to them
    WINDOW = "window"  # the dispute window passed with no dispute open
    DISPUTE = "dispute"  # a dispute's outcome


class Payment(Base):
    """One served line (member × winning vendor): the member's charge, and its escrow until it is
    released to the vendor or refunded. At most one per commitment.

    What escrow holds for the line is `amount_minor - released_minor - refunded_minor`; the ledger
    says the same with postings that carry the line's id (app.payments.ledger).
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), unique=True)
    # Copies of the commitment's: its foreign keys already vouch for them (see migration 0013).
    pool_id: Mapped[int] = mapped_column(index=True)
    member_id: Mapped[int]  # found by pool or commitment: no index
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # exactly the award line's amount
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(StrEnumType(PaymentStatus, 20), default=PaymentStatus.PENDING)
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
    # Escrow per line. The vendor is the award's (a copy, like pool_id: the award vouches for it).
    vendor_id: Mapped[int | None] = mapped_column(index=True)
    dispute_until: Mapped[datetime | None]  # the member may dispute until then; after it, the line is released
    refund_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # refunds decided; the sweep makes them
    released_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # released to the vendor, before the fee
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # the platform's fee on what was released
    released_at: Mapped[datetime | None]
    released_by: Mapped[ReleasedBy | None] = mapped_column(StrEnumType(ReleasedBy, 12))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)  # the batch that paid it
    paid_out_at: Mapped[datetime | None]  # that batch was transferred
    reminded_at: Mapped[datetime | None]  # the last "pay with another card" reminder (declined only)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def held_minor(self) -> int:
        """What escrow still holds for this line."""
        return self.amount_minor - self.released_minor - self.refunded_minor

    @property
    def net_minor(self) -> int:
        """What the vendor is paid for this line: what was released, less the fee."""
        return self.released_minor - self.fee_minor


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"


class Payout(Base):
    """One transfer to a vendor: the lines released to it since the last batch, less the fee.

    The release sweep makes one per vendor and currency (one Transfer with Stripe), and the lines it
    pays name it (Payment.payout_id). Payouts made before lines had escrow of their own name their
    pool (`pool_id`); a batch may span pools and names none.
    """

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    gross_minor: Mapped[int] = mapped_column(BigInteger)  # what the lines released
    fee_minor: Mapped[int] = mapped_column(BigInteger)  # the lines' fees (each PLATFORM_FEE_BPS, half-even)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # gross - fee, transferred
    line_count: Mapped[int] = mapped_column(default=1)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PayoutStatus] = mapped_column(StrEnumType(PayoutStatus, 12), default=PayoutStatus.PENDING)
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
    payment_id: Mapped[int | None] = mapped_column(index=True)  # the line the posting is about, if one
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


class DisputeRole(StrEnum):
    """How someone takes part in a dispute (and who wrote a message in its thread)."""

    MEMBER = "member"
    VENDOR = "vendor"
    ORGANISER = "organiser"
    OPERATOR = "operator"
    SYSTEM = "system"  # the platform itself (an escalation)


class DisputeReason(StrEnum):
    NOT_DELIVERED = "not_delivered"
    NOT_AS_DESCRIBED = "not_as_described"
    PARTIAL = "partial"  # part of the order arrived


class DisputeStage(StrEnum):
    AWAITING_VENDOR = "awaiting_vendor"  # the vendor has VENDOR_ANSWER_DAYS to answer
    OFFERED = "offered"  # the vendor offered a partial refund: the member accepts it, or not
    CONTESTED = "contested"  # the vendor contests: the organiser mediates, anyone may escalate
    ESCALATED = "escalated"  # in the dispute operators' queue (/admin/disputes)
    RESOLVED = "resolved"


class DisputeOutcome(StrEnum):
    RELEASE = "release"  # the vendor is paid the line
    REFUND = "refund"  # the member gets the whole line back
    PARTIAL = "partial"  # the member gets refund_minor back; the rest is released to the vendor


class Dispute(Base):
    """A member's dispute of one served line: at most one per line."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    # Copies of the line's (vouched for by its payment), so the parties find their disputes.
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    member_id: Mapped[int] = mapped_column(index=True)
    vendor_id: Mapped[int] = mapped_column(index=True)
    reason: Mapped[DisputeReason] = mapped_column(StrEnumType(DisputeReason, 20))
    stage: Mapped[DisputeStage] = mapped_column(
        StrEnumType(DisputeStage, 16), default=DisputeStage.AWAITING_VENDOR, index=True
    )
    offer_minor: Mapped[int | None] = mapped_column(BigInteger)  # the vendor's partial-refund offer
    vendor_due_at: Mapped[datetime]  # the vendor answers by then, or it escalates
    escalate_at: Mapped[datetime]  # unresolved by then, it escalates
    escalation_note: Mapped[str | None] = mapped_column(String(200))  # why it went to an operator
    outcome: Mapped[DisputeOutcome | None] = mapped_column(StrEnumType(DisputeOutcome, 10))
    refund_minor: Mapped[int | None] = mapped_column(BigInteger)  # what the outcome refunds
    resolved_by: Mapped[int | None]  # the user who decided (the member accepting an offer, the vendor, an operator)
    opened_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    messages: Mapped[list[DisputeMessage]] = relationship(order_by="DisputeMessage.id", back_populates="dispute")

    @property
    def is_open(self) -> bool:
        return self.stage != DisputeStage.RESOLVED


class DisputeMessage(Base):
    """One post in a dispute's thread, seen by the member, the vendor, the organiser and operators."""

    __tablename__ = "dispute_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    author_id: Mapped[int | None]  # None: the system (an escalation)
    role: Mapped[DisputeRole] = mapped_column(StrEnumType(DisputeRole, 10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    dispute: Mapped[Dispute] = relationship(back_populates="messages")
