"""The rules of escrow per line, as pure functions: no database, no Flask.

A line is one served member's payment to one winning vendor. Its escrow holds what the member
paid until the member confirms delivery, the dispute window passes with no dispute open, or a
dispute decides (release, full refund, or a partial refund with the rest released). The line's
state, and from the lines the pool's, is always derived here, so every page and answer says the
same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from app.money import format_minor
from app.payments.models import DisputeStage, PaymentStatus
from app.pools.models import PoolStatus


@dataclass(frozen=True)
class EscrowTerms:
    """How long each step may take and what the platform keeps (from config; see docs/escrow.md)."""

    fee_bps: int = 500  # PLATFORM_FEE_BPS: the platform's fee on what a line releases
    window: timedelta = timedelta(days=14)  # DISPUTE_WINDOW_DAYS after the charge
    answer: timedelta = timedelta(days=3)  # DISPUTE_ANSWER_DAYS for the vendor to answer a dispute
    escalate: timedelta = timedelta(days=7)  # DISPUTE_ESCALATE_DAYS unresolved, then an operator decides
    decline_grace: timedelta = timedelta(hours=72)  # DECLINE_GRACE_HOURS to pay with another card

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EscrowTerms:
        return cls(
            fee_bps=int(config["PLATFORM_FEE_BPS"]),
            window=timedelta(days=int(config["DISPUTE_WINDOW_DAYS"])),
            answer=timedelta(days=int(config["DISPUTE_ANSWER_DAYS"])),
            escalate=timedelta(days=int(config["DISPUTE_ESCALATE_DAYS"])),
            decline_grace=timedelta(hours=int(config["DECLINE_GRACE_HOURS"])),
        )


def fee_minor(gross_minor: int, fee_bps: int) -> int:
    """The platform's fee on `gross_minor`, rounded half-even to the minor unit."""
    quotient, remainder = divmod(gross_minor * fee_bps, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    return quotient


def fee_percent(fee_bps: int) -> str:
    """The fee as people read it: 500 → "5%", 250 → "2.5%"."""
    whole, rest = divmod(fee_bps, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


class LineLike(Protocol):
    """What the line rules read of a payment (read-only, so a model's enum-typed status fits)."""

    @property
    def status(self) -> str: ...

    @property
    def amount_minor(self) -> int: ...

    @property
    def currency(self) -> str: ...

    @property
    def refunded_minor(self) -> int: ...

    @property
    def refund_due_minor(self) -> int: ...

    @property
    def released_minor(self) -> int: ...

    @property
    def fee_minor(self) -> int: ...

    @property
    def released_at(self) -> datetime | None: ...

    @property
    def paid_out_at(self) -> datetime | None: ...

    @property
    def dispute_until(self) -> datetime | None: ...


class DisputeLike(Protocol):
    @property
    def stage(self) -> str: ...


@dataclass(frozen=True)
class DisputeAt:
    """A dispute known only by its stage (a batch that reads no dispute rows)."""

    stage: str


AN_OPEN_DISPUTE = DisputeAt(DisputeStage.AWAITING_VENDOR)  # stands for any open dispute in a line's state


class LineKind(StrEnum):
    """The states of a line's money (docs/escrow.md, "What every party sees")."""

    PENDING = "pending"
    DECLINED = "declined"
    FAILED = "failed"
    HELD = "held"
    IN_DISPUTE = "in_dispute"
    REFUND_PENDING = "refund_pending"
    RELEASED = "released"
    REFUNDED = "refunded"
    PARTLY_REFUNDED = "partly_refunded"


@dataclass(frozen=True)
class LineState:
    """What a line's money is doing, for the member, the vendor and the organiser alike."""

    kind: LineKind
    final: bool  # nothing about this line's money will change any more
    line: LineLike = field(repr=False, compare=False)
    stage: str | None = None  # the open dispute's stage, when in_dispute

    @property
    def label(self) -> str:
        """One sentence, with the amounts as money (made when shown: a sweep needs only the kind)."""
        line = self.line

        def money(minor: int) -> str:
            return format_minor(minor, line.currency)

        released_on = f" on {line.released_at:%d %b %Y}" if line.released_at else ""
        refunded = f" ({money(line.refunded_minor)} refunded)" if line.refunded_minor else ""
        labels = {
            LineKind.PENDING: lambda: f"Payment of {money(line.amount_minor)} is being taken.",
            LineKind.DECLINED: lambda: f"The card was declined; {money(line.amount_minor)} is still to pay.",
            LineKind.FAILED: lambda: "The payment did not go through: nothing was taken.",
            LineKind.IN_DISPUTE: lambda: (
                f"{money(line.amount_minor - line.refunded_minor)} is held while the dispute is "
                f"open ({DISPUTE_STAGE_LABELS.get(self.stage or '', self.stage)})."
            ),
            LineKind.REFUND_PENDING: lambda: f"A refund of {money(line.refund_due_minor)} is on its way to the member.",
            LineKind.HELD: lambda: (
                f"{money(line.amount_minor - line.refunded_minor)} is held until delivery is confirmed{refunded}."
            ),
            LineKind.REFUNDED: lambda: f"Refunded in full: {money(line.refunded_minor)}.",
            LineKind.PARTLY_REFUNDED: lambda: (
                f"{money(line.refunded_minor)} refunded; {money(line.released_minor)} "
                f"released to the vendor{released_on}."
            ),
            LineKind.RELEASED: lambda: f"{money(line.released_minor)} released to the vendor{released_on}.",
        }
        return labels[self.kind]()


def releasable_minor(line: LineLike) -> int:
    """What a release would pay the vendor now: what is held, less refunds already decided."""
    return line.amount_minor - line.released_minor - line.refund_due_minor


def line_state(line: LineLike, dispute: DisputeLike | None = None) -> LineState:
    """The line's state; `dispute` is its dispute, if it has one."""
    if line.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        return LineState(LineKind.PENDING, False, line)
    if line.status == PaymentStatus.DECLINED:
        return LineState(LineKind.DECLINED, False, line)
    if line.status == PaymentStatus.FAILED:
        return LineState(LineKind.FAILED, True, line)
    if dispute is not None and dispute.stage != DisputeStage.RESOLVED:
        return LineState(LineKind.IN_DISPUTE, False, line, dispute.stage)
    if line.refund_due_minor > line.refunded_minor:
        return LineState(LineKind.REFUND_PENDING, False, line)
    if line.refunded_minor == line.amount_minor:
        return LineState(LineKind.REFUNDED, True, line)
    if line.released_at is None:
        return LineState(LineKind.HELD, False, line)
    paid = line.released_minor == 0 or line.paid_out_at is not None
    kind = LineKind.PARTLY_REFUNDED if line.refunded_minor else LineKind.RELEASED
    return LineState(kind, paid, line)


DISPUTE_STAGE_LABELS: dict[str, str] = {  # StrEnum members are their values as keys
    DisputeStage.AWAITING_VENDOR: "waiting for the vendor's answer",
    DisputeStage.OFFERED: "the vendor offered a partial refund",
    DisputeStage.CONTESTED: "the vendor contests it; the organiser mediates",
    DisputeStage.ESCALATED: "with a Buyswarm operator",
    DisputeStage.RESOLVED: "resolved",
}


def pool_status_from_lines(states: Sequence[LineState]) -> PoolStatus:
    """A settled pool's status from its lines' states: disputed while any line is, refunded once
    every charged line was refunded in full, completed once every line's money has left escrow
    (and what was released is paid out), settled before."""
    if any(state.kind == LineKind.IN_DISPUTE for state in states):
        return PoolStatus.DISPUTED
    charged = [state for state in states if state.kind != LineKind.FAILED]
    if charged and all(state.final for state in charged):
        return (
            PoolStatus.REFUNDED if all(state.kind == LineKind.REFUNDED for state in charged) else PoolStatus.COMPLETED
        )
    return PoolStatus.SETTLED
