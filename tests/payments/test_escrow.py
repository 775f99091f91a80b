"""Escrow per line on the database: one member's word moves only their own line; disputes per line
with partial refunds, the vendor's answer, escalation and an operator's decision; every money
event told; the per-line ledger balanced, and never a negative escrow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.bids import award
from app.errors import Conflict, NotFound, ValidationFailed
from app.notifications.models import Notification
from app.payments import escrow, jobs, ledger
from app.payments.models import Dispute, DisputeStage, LedgerEntry, Payment, Payout
from app.payments.offline import OfflineGateway
from app.payments.rules import EscrowTerms
from app.pools.models import Pool, PoolStatus
from app.reputation.scores import price_factors
from tests import factories

TERMS = EscrowTerms()
OFFLINE = OfflineGateway()


def settled(session, now, *, members=4, quantity=8, price="100", **pool_fields):
    """A settled pool of `members` lines of quantity × price each (offline): (pool, vendor, members, lines)."""
    pool, vendor, buyers = factories.settled_pool(session, now=now, members=members, quantity=quantity, price=price)
    for name, value in pool_fields.items():
        setattr(pool, name, value)
    session.commit()
    return pool, vendor, buyers, {line.member_id: line for line in escrow.lines_of(session, pool.id)}


def fresh(session, line):
    return session.get(Payment, line.id, populate_existing=True)


def states(session, pool):
    disputes = escrow.disputes_of(session, pool.id)
    return {
        line.member_id: escrow.line_state(line, disputes.get(line.id)).kind
        for line in escrow.lines_of(session, pool.id)
    }


def told(session, user_id):
    return {
        kind.partition(":")[0]
        for kind in session.scalars(select(Notification.kind).where(Notification.user_id == user_id))
    }


def check_ledger(session, pool_id):
    """Every pool's entries sum to zero and no line's escrow is ever negative."""
    assert ledger.statement(session, pool_id).total == 0
    for line in escrow.lines_of(session, pool_id):
        held = ledger.line_balance(session, line.id, ledger.ESCROW)
        assert held == line.held_minor >= 0
        assert line.released_minor + line.refund_due_minor <= line.amount_minor
        assert line.refunded_minor <= line.refund_due_minor or line.refund_due_minor == 0


def test_a_members_confirmation_releases_only_their_own_line(session, now):
    pool, _vendor, buyers, lines = settled(session, now)
    escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[0], terms=TERMS, now=now)
    session.commit()
    assert states(session, pool) == {buyers[0].id: "released", **{b.id: "held" for b in buyers[1:]}}
    mine = fresh(session, lines[buyers[0].id])
    assert (mine.released_minor, mine.fee_minor) == (80000, 4000)  # £800 line, 5 % fee
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 3 * 80000
    for honest in buyers[1:]:  # every other member can still dispute
        escrow.open_dispute(session, pool_id=pool.id, actor=honest, reason="not_delivered", message="Nothing came.",
                            terms=TERMS, now=now)  # fmt: skip
    session.commit()
    assert session.get(Pool, pool.id).status == PoolStatus.DISPUTED
    check_ledger(session, pool.id)
    with pytest.raises(Conflict, match="already settled"):  # confirming twice moves nothing twice
        escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[0], terms=TERMS, now=now)


def test_the_organiser_confirms_for_members_only_where_delivery_goes_to_the_organiser(session, now):
    pool, _vendor, buyers, _lines = settled(session, now)
    with pytest.raises(NotFound):
        escrow.confirm_delivery(session, pool_id=pool.id, actor=pool.organiser, terms=TERMS, now=now, everyone=True)
    session.rollback()
    pool = session.get(Pool, pool.id)
    pool.delivery_to_organiser = True
    escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="partial", message="Two bags short.",
                        terms=TERMS, now=now)  # fmt: skip
    escrow.confirm_delivery(
        session, pool_id=pool.id, actor=pool.organiser, terms=TERMS, now=now, member_id=buyers[1].id
    )
    assert states(session, pool)[buyers[1].id] == "released"
    with pytest.raises(Conflict, match="in dispute"):  # a disputed line is the dispute's to decide
        escrow.confirm_delivery(session, pool_id=pool.id, actor=pool.organiser, terms=TERMS, now=now,
                                member_id=buyers[0].id)  # fmt: skip
    released = escrow.confirm_delivery(session, pool_id=pool.id, actor=pool.organiser, terms=TERMS, now=now,
                                       everyone=True)  # fmt: skip
    assert {line.member_id for line in released} == {b.id for b in buyers[2:]}
    assert states(session, pool)[buyers[0].id] == "in_dispute"
    check_ledger(session, pool.id)


def test_the_window_releases_undisputed_lines_and_keeps_disputed_ones(session, now):
    pool, vendor, buyers, _lines = settled(session, now)
    escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered", message="Never came.",
                        terms=TERMS, now=now)  # fmt: skip
    session.commit()
    assert jobs.release_due_escrow(session, OFFLINE, now=now + TERMS.window - timedelta(seconds=1), terms=TERMS) == 0
    assert jobs.release_due_escrow(session, OFFLINE, now=now + TERMS.window, terms=TERMS) == 3
    assert jobs.release_due_escrow(session, OFFLINE, now=now + TERMS.window, terms=TERMS) == 0  # once
    kinds = states(session, pool)
    assert kinds[buyers[0].id] == "in_dispute" and {kinds[b.id] for b in buyers[1:]} == {"released"}
    payouts = session.scalars(select(Payout)).all()
    assert len(payouts) == 1 and payouts[0].line_count == 3 and payouts[0].status == "paid"
    assert payouts[0].amount_minor == 3 * (80000 - 4000)
    assert "payout_sent" in told(session, vendor.id)
    for b in buyers[1:]:
        assert "released" in told(session, b.id)
    check_ledger(session, pool.id)


def test_a_partial_refund_offered_by_the_vendor_and_accepted_refunds_that_and_pays_the_rest(session, now):
    pool, vendor, buyers, lines = settled(session, now)
    member = buyers[0]
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=member, reason="partial",
                                  message="Half the order came.", terms=TERMS, now=now)  # fmt: skip
    assert {"dispute_opened"} <= told(session, vendor.id) & told(session, pool.organiser_id)
    escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="partial", refund_minor=40000,
                          message="We refund the missing half.", terms=TERMS, now=now)  # fmt: skip
    assert dispute.stage == DisputeStage.OFFERED and "dispute_answered" in told(session, member.id)
    escrow.post_message(session, dispute_id=dispute.id, actor=pool.organiser, body="That seems fair to me.", now=now)
    escrow.accept_offer(session, dispute_id=dispute.id, actor=member, terms=TERMS, now=now)
    session.commit()
    line = fresh(session, lines[member.id])
    assert (line.refund_due_minor, line.released_minor, line.fee_minor) == (40000, 40000, 2000)
    assert escrow.line_state(line, dispute).kind == "refund_pending"
    assert jobs.refund_due(session, OFFLINE, now=now) == 1
    assert jobs.refund_due(session, OFFLINE, now=now) == 0  # once
    line = fresh(session, line)
    assert line.refunded_minor == 40000 and escrow.line_state(line, dispute).kind == "partly_refunded"
    assert {"refunded", "dispute_resolved"} <= told(session, member.id)
    assert "dispute_resolved" in told(session, vendor.id)
    assert [m.role for m in session.get(Dispute, dispute.id).messages] == ["member", "vendor", "organiser"]
    check_ledger(session, pool.id)


def test_an_unanswered_dispute_goes_to_an_operator_who_alone_decides(session, now):
    pool, vendor, buyers, lines = settled(session, now)
    operator = factories.user(session, now=now, is_dispute_operator=True)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_as_described",
                                  message="Wrong colour.", terms=TERMS, now=now)  # fmt: skip
    session.commit()
    with pytest.raises(NotFound):  # an operator sees a dispute once it is escalated
        escrow.dispute_for(session, dispute.id, operator)
    with pytest.raises(NotFound):
        escrow.decide(session, dispute_id=dispute.id, actor=operator, outcome="refund", note="", terms=TERMS, now=now)
    assert escrow.escalate_due(session, now=now + TERMS.answer - timedelta(seconds=1)) == 0
    assert escrow.escalate_due(session, now=now + TERMS.answer) == 1
    session.commit()
    assert session.get(Dispute, dispute.id).stage == DisputeStage.ESCALATED
    assert "dispute_escalated" in told(session, buyers[0].id) & told(session, vendor.id)
    with pytest.raises(NotFound):  # the organiser mediates, but does not decide
        escrow.decide(session, dispute_id=dispute.id, actor=pool.organiser, outcome="release", note="", terms=TERMS,
                      now=now)  # fmt: skip
    with pytest.raises(ValidationFailed):
        escrow.decide(session, dispute_id=dispute.id, actor=operator, outcome="partial", refund_minor=80001,
                      note="", terms=TERMS, now=now)  # fmt: skip
    session.rollback()
    escrow.decide(session, dispute_id=dispute.id, actor=operator, outcome="refund", note="Photos show it.",
                  terms=TERMS, now=now)  # fmt: skip
    session.commit()
    with pytest.raises(Conflict):  # decided once
        escrow.decide(session, dispute_id=dispute.id, actor=operator, outcome="release", note="", terms=TERMS, now=now)
    session.rollback()
    jobs.refund_due(session, OFFLINE, now=now)
    assert fresh(session, lines[buyers[0].id]).refunded_minor == 80000
    check_ledger(session, pool.id)


def test_a_dispute_escalates_at_once_when_the_organiser_is_a_party_to_the_line(session, now):
    pool, _vendor, buyers, _lines = settled(session, now)
    pool.organiser_id = buyers[0].id  # the organiser bought in their own pool: they cannot mediate their own line
    session.commit()
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered",
                                  message="Never came.", terms=TERMS, now=now)  # fmt: skip
    assert dispute.stage == DisputeStage.ESCALATED and "party" in dispute.escalation_note


def test_a_contested_dispute_escalates_after_seven_days_unresolved(session, now):
    pool, vendor, buyers, _lines = settled(session, now)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered",
                                  message="Never came.", terms=TERMS, now=now)  # fmt: skip
    escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="contest",
                          message="Tracking says delivered.", terms=TERMS, now=now)  # fmt: skip
    session.commit()
    assert escrow.escalate_due(session, now=now + timedelta(days=6)) == 0
    assert escrow.escalate_due(session, now=now + TERMS.escalate) == 1
    assert session.get(Dispute, dispute.id).escalation_note == "it was not resolved in time"


def test_refused_actions_change_nothing_and_say_why(session, now):
    pool, vendor, buyers, _lines = settled(session, now)
    other_vendor = factories.vendor(session, now=now)
    stranger = factories.user(session, now=now)
    with pytest.raises(NotFound):
        escrow.confirm_delivery(session, pool_id=pool.id, actor=stranger, terms=TERMS, now=now)
    with pytest.raises(NotFound):
        escrow.open_dispute(session, pool_id=pool.id, actor=stranger, reason="partial", message="Not mine.",
                            terms=TERMS, now=now)  # fmt: skip
    with pytest.raises(Conflict, match="closed on"):
        escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="partial", message="Too late now.",
                            terms=TERMS, now=now + TERMS.window)  # fmt: skip
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="partial", message="Half came.",
                                  terms=TERMS, now=now)  # fmt: skip
    session.commit()
    with pytest.raises(NotFound):
        escrow.answer_dispute(session, dispute_id=dispute.id, actor=other_vendor, answer="refund", message="x",
                              terms=TERMS, now=now)  # fmt: skip
    for bad in (0, -5, 80001):
        with pytest.raises(ValidationFailed):
            escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="partial", refund_minor=bad,
                                  message="An offer.", terms=TERMS, now=now)  # fmt: skip
        session.rollback()
    with pytest.raises(Conflict, match="answer first"):
        escrow.escalate(session, dispute_id=dispute.id, actor=buyers[0], note="", now=now)
    session.rollback()
    assert session.get(Dispute, dispute.id).stage == DisputeStage.AWAITING_VENDOR
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.memo.like("%released%"))) == 0
    escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[1], terms=TERMS, now=now)
    with pytest.raises(Conflict, match="already settled"):
        escrow.open_dispute(session, pool_id=pool.id, actor=buyers[1], reason="partial", message="Changed my mind.",
                            terms=TERMS, now=now)  # fmt: skip


def test_a_member_who_confirms_during_their_dispute_ends_it_in_the_vendors_favour(session, now):
    pool, _vendor, buyers, _lines = settled(session, now)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyers[0], reason="not_delivered",
                                  message="Not here yet.", terms=TERMS, now=now)  # fmt: skip
    escrow.confirm_delivery(session, pool_id=pool.id, actor=buyers[0], terms=TERMS, now=now)
    assert (dispute.stage, dispute.outcome) == (DisputeStage.RESOLVED, "release")
    assert states(session, pool)[buyers[0].id] == "released"


def test_a_pool_whose_every_line_was_refunded_is_refunded_not_completed(session, now):
    pool, vendor, buyers, _lines = settled(session, now, members=2)
    for buyer in buyers:
        dispute = escrow.open_dispute(session, pool_id=pool.id, actor=buyer, reason="not_delivered",
                                      message="Never came.", terms=TERMS, now=now)  # fmt: skip
        escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="refund", message="Sorry.",
                              terms=TERMS, now=now)  # fmt: skip
    session.commit()
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED  # refunds decided, not yet made
    jobs.refund_due(session, OFFLINE, now=now)
    assert session.get(Pool, pool.id, populate_existing=True).status == PoolStatus.REFUNDED
    check_ledger(session, pool.id)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["confirm", "dispute", "refund", "offer", "accept", "contest", "escalate", "decide", "sweep"]),
        st.integers(min_value=0, max_value=2),  # which member's line
        st.integers(min_value=-10, max_value=90000),  # an amount, valid or not
    ),
    max_size=14,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_whatever_the_parties_do_the_ledger_balances_and_no_line_pays_out_twice(session, now, actions):
    """Any sequence of the parties' actions, valid or refused, keeps every money invariant (each example
    has a pool of its own, so they share the database without seeing each other)."""
    pool, vendor, buyers, lines = settled(session, now, members=3)
    operator = factories.user(session, now=now, is_dispute_operator=True)
    clock = now
    for action, who, amount in actions:
        member = buyers[who]
        line = lines[member.id]
        found = escrow.dispute_of(session, line.id)
        try:
            if action == "confirm":
                escrow.confirm_delivery(session, pool_id=pool.id, actor=member, terms=TERMS, now=clock)
            elif action == "dispute":
                escrow.open_dispute(session, pool_id=pool.id, actor=member, reason="partial", message="Short.",
                                    terms=TERMS, now=clock)  # fmt: skip
            elif found is not None and action in ("refund", "offer", "contest"):
                answer = {"refund": "refund", "offer": "partial", "contest": "contest"}[action]
                escrow.answer_dispute(session, dispute_id=found.id, actor=vendor, answer=answer, refund_minor=amount,
                                      message="An answer.", terms=TERMS, now=clock)  # fmt: skip
            elif found is not None and action == "accept":
                escrow.accept_offer(session, dispute_id=found.id, actor=member, terms=TERMS, now=clock)
            elif found is not None and action == "escalate":
                escrow.escalate(session, dispute_id=found.id, actor=member, note="", now=clock)
            elif found is not None and action == "decide":
                outcome = ("release", "refund", "partial")[amount % 3]
                escrow.decide(session, dispute_id=found.id, actor=operator, outcome=outcome, refund_minor=amount,
                              note="", terms=TERMS, now=clock)  # fmt: skip
            elif action == "sweep":
                clock += timedelta(days=amount % 9)
                session.commit()
                jobs.release_due_escrow(session, OFFLINE, now=clock, terms=TERMS)
                jobs.refund_due(session, OFFLINE, now=clock)
            session.commit()
        except (Conflict, NotFound, ValidationFailed):
            session.rollback()
        check_ledger(session, pool.id)
    jobs.refund_due(session, OFFLINE, now=clock)
    jobs.pay_out_pending(session, OFFLINE, now=clock)
    check_ledger(session, pool.id)
    posted = list(session.scalars(select(LedgerEntry.payment_id).where(
        LedgerEntry.pool_id == pool.id, LedgerEntry.posting_key.like("%-paid-out"),
        LedgerEntry.account == ledger.VENDOR_PAYOUTS)))  # fmt: skip
    assert len(posted) == len(set(posted))  # each line paid out at most once
    released = [line for line in escrow.lines_of(session, pool.id) if line.released_minor > 0]
    assert sorted(posted) == sorted(line.id for line in released)  # and every released line was
    assert all(line.paid_out_at is not None for line in released)


def test_members_of_a_failed_or_cancelled_pool_are_told_they_were_not_charged(session, now):
    from app.pools import lifecycle

    failing = factories.open_pool(session, now=now, min_quantity=50)
    member = factories.user(session, now=now)
    factories.commitment(session, pool=failing, now=now, member=member, quantity=2)
    award.close_pool(session, pool_id=failing.id, actor=failing.organiser, now=now, price_factors=price_factors)
    cancelled = factories.open_pool(session, now=now)
    factories.commitment(session, pool=cancelled, now=now, member=member, quantity=2)
    lifecycle.cancel_pool(session, pool_id=cancelled.id, actor=cancelled.organiser, now=now)
    session.commit()
    notes = session.scalars(select(Notification).where(Notification.user_id == member.id,
                                                       Notification.kind == "not_charged")).all()  # fmt: skip
    assert {n.pool_id for n in notes} == {failing.id, cancelled.id}
    assert all("You were not charged" in n.message and n.email_due for n in notes)
    assert session.get(Pool, failing.id).status == PoolStatus.FAILED
