"""Calls to the payment provider made while serving a request, not by a sweep. No Flask here.

Each one commits around its call as the sweeps do (the attempt first, the outcome after, under one
idempotency key), so the route that calls one does not commit again. When the provider does not
answer, the work is left for the next sweep: a member's request never fails because of it.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from app import unit_of_work
from app.accounts.models import User
from app.errors import NotFound
from app.payments import escrow, service
from app.payments.gateway import GatewayError, PaymentGateway
from app.payments.jobs import TERMS, _guarded, charge_batch, refund_line
from app.payments.models import Payment
from app.payments.rules import EscrowTerms
from app.pools.models import Commitment


def retry_declined(
    session: Session,
    gateway: PaymentGateway,
    *,
    pool_id: int,
    member: User,
    now: datetime,
    terms: EscrowTerms = TERMS,
) -> Payment:
    """The member pays a declined payment with another card, now if the provider answers.

    A card setup is started for the member (offline it succeeds at once; with Stripe the member's
    newest saved card is charged), then the payment is charged again under a new key.
    """
    payment = escrow.line_of(session, pool_id, member.id)
    if payment is None:
        raise NotFound("You have no payment to make in this pool.")
    service.retry_with_another_card(session, payment_id=payment.id, member_id=member.id, now=now)
    unit_of_work.commit(session)
    try:
        prepare_card(session, gateway, commitment_id=payment.commitment_id, fresh=True)
    except GatewayError:
        session.rollback()
    again = partial(_charge_again, session, gateway, payment.id, now, terms)
    _guarded(session, f"charging payment {payment.id} again", again)
    session.refresh(payment)
    return payment


def _charge_again(session: Session, gateway: PaymentGateway, payment_id: int, now: datetime, terms: EscrowTerms) -> int:
    charge_batch(session, gateway, [payment_id], now=now, terms=terms)
    return 1


def prepare_card(session: Session, gateway: PaymentGateway, *, commitment_id: int, fresh: bool = False) -> str | None:
    """Save the member's card for an off-session charge later (a SetupIntent); return its client secret.

    Called after the commitment is committed, outside any pool lock. The offline gateway needs no
    card: its setup succeeds at once. `fresh` sets up another card after a decline.
    """
    commitment = session.get(Commitment, commitment_id)
    if commitment is None or (commitment.payment_method_ref and not fresh):
        return None
    if fresh:
        commitment.payment_method_ref = None
    member = session.get(User, commitment.member_id)
    assert member is not None
    if member.payment_customer_ref is None:
        member.payment_customer_ref = gateway.ensure_customer(
            user_id=member.id, email=member.email, idempotency_key=f"user-{member.id}-customer"
        )
        unit_of_work.commit(session)
    attempt = f"-{commitment.payment_ref}-again" if fresh and commitment.payment_ref else ""
    setup = gateway.start_card_setup(
        customer_ref=member.payment_customer_ref,
        idempotency_key=f"commitment-{commitment.id}-card-setup{attempt}"[:120],
    )
    commitment.payment_ref = setup.setup_ref
    if setup.status == "succeeded":
        commitment.payment_method_ref = commitment.payment_method_ref or setup.setup_ref
    unit_of_work.commit(session)
    return setup.client_secret


def try_refund(session: Session, gateway: PaymentGateway, *, line_id: int, now: datetime) -> None:
    """Make a decided refund now if the provider answers; otherwise the scheduler retries."""
    _guarded(session, f"refunding line {line_id}", partial(refund_line, session, gateway, line_id=line_id, now=now))
