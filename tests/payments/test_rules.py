"""The pure rules of escrow per line: each state, the pool's status from its lines, the fee."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from app.payments.models import DisputeStage
from app.payments.rules import (
    EscrowTerms,
    fee_minor,
    fee_percent,
    line_state,
    pool_status_from_lines,
    releasable_minor,
)
from app.pools.models import PoolStatus

WHEN = datetime(2026, 12, 4, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Line:
    status: str = "succeeded"
    amount_minor: int = 10_000
    currency: str = "GBP"
    refunded_minor: int = 0
    refund_due_minor: int = 0
    released_minor: int = 0
    fee_minor: int = 0
    released_at: datetime | None = None
    paid_out_at: datetime | None = None
    dispute_until: datetime | None = None


@dataclass(frozen=True)
class Dispute:
    stage: str


HELD = Line()
RELEASED = replace(HELD, released_minor=10_000, fee_minor=500, released_at=WHEN)
PAID = replace(RELEASED, paid_out_at=WHEN)


@pytest.mark.parametrize(
    ("line", "dispute", "kind", "final", "label"),
    [
        (replace(HELD, status="pending"), None, "pending", False, "Payment of £100.00 is being taken."),
        (replace(HELD, status="requires_action"), None, "pending", False, "Payment of £100.00 is being taken."),
        (replace(HELD, status="declined"), None, "declined", False, "The card was declined; £100.00 is still to pay."),
        (replace(HELD, status="failed"), None, "failed", True, "The payment did not go through: nothing was taken."),
        (HELD, None, "held", False, "£100.00 is held until delivery is confirmed."),
        (HELD, Dispute(DisputeStage.RESOLVED), "held", False, "£100.00 is held until delivery is confirmed."),
        (HELD, Dispute(DisputeStage.OFFERED), "in_dispute", False,
         "£100.00 is held while the dispute is open (the vendor offered a partial refund)."),
        (replace(HELD, refunded_minor=2_500), None, "held", False,
         "£75.00 is held until delivery is confirmed (£25.00 refunded)."),
        (replace(HELD, refund_due_minor=10_000), None, "refund_pending", False,
         "A refund of £100.00 is on its way to the member."),
        (replace(HELD, refund_due_minor=10_000, refunded_minor=10_000, status="refunded"), None, "refunded", True,
         "Refunded in full: £100.00."),
        (RELEASED, None, "released", False, "£100.00 released to the vendor on 04 Dec 2026."),
        (PAID, None, "released", True, "£100.00 released to the vendor on 04 Dec 2026."),
        (replace(PAID, released_minor=6_000, refunded_minor=4_000, refund_due_minor=4_000), None, "partly_refunded",
         True, "£40.00 refunded; £60.00 released to the vendor on 04 Dec 2026."),
        (replace(RELEASED, released_minor=6_000, refunded_minor=4_000, refund_due_minor=4_000), None,
         "partly_refunded", False, "£40.00 refunded; £60.00 released to the vendor on 04 Dec 2026."),
        (replace(HELD, released_at=WHEN, refund_due_minor=10_000, refunded_minor=10_000), None, "refunded", True,
         "Refunded in full: £100.00."),
    ],
)  # fmt: skip
def test_each_state_of_a_line_in_words(line, dispute, kind, final, label):
    state = line_state(line, dispute)
    assert (state.kind, state.final, state.label) == (kind, final, label)


def test_a_line_released_with_nothing_left_to_pay_is_final_without_a_payout():
    nothing = replace(HELD, released_at=WHEN, refund_due_minor=3_000, refunded_minor=3_000, released_minor=0)
    assert line_state(nothing).final is True


def test_what_a_release_pays_is_what_is_held_less_decided_refunds():
    assert releasable_minor(HELD) == 10_000
    assert releasable_minor(replace(HELD, refund_due_minor=2_500)) == 7_500
    assert releasable_minor(replace(HELD, refund_due_minor=2_500, refunded_minor=2_500)) == 7_500
    assert releasable_minor(RELEASED) == 0


def _states(*lines):
    return [line_state(line, dispute) for line, dispute in lines]


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([(HELD, None), (PAID, None)], PoolStatus.SETTLED),
        ([(HELD, Dispute(DisputeStage.ESCALATED)), (PAID, None)], PoolStatus.DISPUTED),
        ([(PAID, None), (replace(HELD, status="failed"), None)], PoolStatus.COMPLETED),
        ([(RELEASED, None)], PoolStatus.SETTLED),  # released, not yet paid out
        ([(replace(HELD, status="refunded", refund_due_minor=10_000, refunded_minor=10_000), None)] * 2,
         PoolStatus.REFUNDED),
        ([(replace(HELD, status="refunded", refund_due_minor=10_000, refunded_minor=10_000), None), (PAID, None)],
         PoolStatus.COMPLETED),
        ([(replace(HELD, status="failed"), None)], PoolStatus.SETTLED),  # no charged line: nothing to complete
        ([], PoolStatus.SETTLED),
    ],
)  # fmt: skip
def test_the_pools_status_is_derived_from_its_lines(lines, status):
    assert pool_status_from_lines(_states(*lines)) == status


@pytest.mark.parametrize(
    ("gross", "bps", "fee"),
    [(10_000, 500, 500), (4002, 500, 200), (3002, 500, 150), (30, 500, 2), (10, 500, 0), (19, 500, 1), (50, 1000, 5),
     (25, 1000, 2), (35, 1000, 4), (15, 1000, 2), (0, 500, 0), (12_345, 0, 0), (999, 10_000, 999)],
)  # fmt: skip
def test_the_fee_is_rounded_half_even_to_the_minor_unit(gross, bps, fee):
    assert fee_minor(gross, bps) == fee


@pytest.mark.parametrize(("bps", "shown"), [(500, "5%"), (250, "2.5%"), (125, "1.25%"), (0, "0%"), (1000, "10%")])
def test_the_fee_as_people_read_it(bps, shown):
    assert fee_percent(bps) == shown


def test_the_terms_come_from_configuration():
    terms = EscrowTerms.from_config({"PLATFORM_FEE_BPS": "250", "DISPUTE_WINDOW_DAYS": "10", "DISPUTE_ANSWER_DAYS": 2,
                                     "DISPUTE_ESCALATE_DAYS": 5, "DECLINE_GRACE_HOURS": 48})  # fmt: skip
    assert terms == EscrowTerms(250, timedelta(days=10), timedelta(days=2), timedelta(days=5), timedelta(hours=48))
    assert EscrowTerms() == EscrowTerms(500, timedelta(days=14), timedelta(days=3), timedelta(days=7),
                                        timedelta(hours=72))  # fmt: skip
