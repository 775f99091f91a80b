"""Settlement sweepers: charge awarded pools, release escrow, pay vendors out, refund disputes.

These own the transactions: each step commits before a gateway call (the attempt is recorded)
and after it (the outcome is recorded), never holding a pool lock during the call. Every
function takes a session, the gateway and `now`, and returns how many things it handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.payments import service
from app.payments.gateway import ChargeResult, GatewayError, GatewayUnavailable, PaymentGateway
from app.payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from app.pools import settlement
from app.pools.models import Commitment, Pool, PoolStatus

log = logging.getLogger(__name__)


def _pool_ids(session: Session, *conditions: object, limit: int) -> list[int]:
    query = select(Pool.id).where(*conditions).order_by(Pool.id).limit(limit)  # type: ignore[arg-type]
    ids = list(session.scalars(query))
    session.rollback()  # read-only: do not hold a snapshot open across gateway calls
    return ids


def settle_awarded_pools(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Charge the served members of every awarded pool and settle the pools whose payments are final."""
    handled = 0
    for pool_id in _pool_ids(session, Pool.status == PoolStatus.AWARDED, limit=limit):
        handled += _guarded(
            session, f"settling pool {pool_id}", partial(settle_pool, session, gateway, pool_id=pool_id, now=now)
        )
    return handled


def settle_pool(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> int:
    """Open the pool's charges, attempt them, then settle the pool if every payment is final."""
    payment_ids = settlement.start_settlement(session, pool_id=pool_id, gateway=gateway.name, now=now)
    session.commit()
    charge_batch(session, gateway, payment_ids, now=now)
    follow_up_actions(session, gateway, pool_id=pool_id, now=now)
    settled = settlement.finish_settlement(session, pool_id=pool_id, now=now)
    session.commit()
    return int(settled)


def attempt_charge(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    """One charge attempt for one payment (see charge_batch)."""
    charge_batch(session, gateway, [payment_id], now=now)


def charge_batch(session: Session, gateway: PaymentGateway, payment_ids: list[int], *, now: datetime) -> None:
    """Charge payments: lease and count every attempt (one commit), call the gateway, record outcomes (one commit).

    The keys and leases are committed before any call, so a crash between the calls and the
    record leaves pending payments that the next sweep retries with the same keys.
    """
    if gateway.name != "offline":  # only a provider that stores cards needs one chosen
        for payment_id in payment_ids:
            _choose_card(session, gateway, payment_id)
    leased = []
    for payment_id in payment_ids:
        payment = service.begin_charge(session, payment_id=payment_id, now=now)
        if payment is not None:
            leased.append((payment_id, _charge_request(session, payment)))
    session.commit()
    outcomes = [(payment_id, _call_charge(gateway, payment_id, request)) for payment_id, request in leased]
    for payment_id, result in outcomes:
        if result is None:
            service.record_unavailable(session, payment_id=payment_id, now=now)
        else:
            service.record_charge(session, payment_id=payment_id, result=result, now=now)
    session.commit()


def _call_charge(gateway: PaymentGateway, payment_id: int, request: dict[str, Any]) -> ChargeResult | None:
    """The gateway's answer to one charge; None when it is not final (retry later with the same key)."""
    try:
        return gateway.charge(**request)
    except GatewayUnavailable:
        log.warning("gateway unavailable charging payment %s; retrying later with the same key", payment_id)
    except GatewayError as exc:
        if exc.code != "idempotency_error":
            return ChargeResult("failed", None, exc.code or "gateway_error", exc.message)
        # Our request changed between attempts: a bug, not a decline; keep it pending and loud.
        log.error("payment %s: the provider refused a reused key (%s); left pending", payment_id, exc.message)
    return None


def _choose_card(session: Session, gateway: PaymentGateway, payment_id: int) -> None:
    """Before the first attempt, pin the card: the customer's newest when the commitment has none yet.

    Every retry must send the same card under the same key; looking it up at each attempt would
    change the request if the member saved another card in between.
    """
    customer, needed = service.card_to_charge(session, payment_id)
    session.rollback()
    if customer is None and not needed:
        return
    card = gateway.default_payment_method(customer) if needed and customer else None  # no lock held
    service.fix_card(session, payment_id=payment_id, card_ref=card)
    session.commit()


def _charge_request(session: Session, payment: Payment) -> dict[str, Any]:
    member = session.get(User, payment.member_id)
    assert member is not None
    return {
        "customer_ref": member.payment_customer_ref or f"member-{member.id}",
        "payment_method_ref": payment.payment_method_ref,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "transfer_group": f"pool-{payment.pool_id}",
        "idempotency_key": payment.idempotency_key,
        "metadata": {"pool_id": str(payment.pool_id), "commitment_id": str(payment.commitment_id)},
    }


def follow_up_actions(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> None:
    """Re-check payments waiting for the member to authenticate; drop them when the grace window ends."""
    waiting = session.scalars(
        select(Payment.id, Payment.gateway_ref).where(
            Payment.pool_id == pool_id, Payment.status == PaymentStatus.REQUIRES_ACTION
        )
    ).all()
    session.rollback()
    for payment_id in list(waiting):
        payment = session.get(Payment, payment_id)
        if payment is not None and payment.gateway_ref:
            try:
                result = gateway.retrieve_payment(payment.gateway_ref)
            except GatewayError:
                result = None
            if result is not None and result.status in ("succeeded", "failed"):
                service.record_charge(session, payment_id=payment_id, result=result, now=now)
        service.expire_action(session, payment_id=payment_id, now=now)
        session.commit()


def release_due_escrow(
    session: Session, gateway: PaymentGateway, *, now: datetime, window: timedelta, fee_bps: int, limit: int = 200
) -> int:
    """Release escrow of settled pools whose dispute window passed, then pay the vendors."""
    due = _pool_ids(session, Pool.status == PoolStatus.SETTLED, Pool.settled_at <= now - window, limit=limit)
    released = sum(
        _guarded(session, f"releasing pool {pool_id}", partial(_release, session, pool_id, window, fee_bps, now))
        for pool_id in due
    )
    pay_out_pending(session, gateway, now=now)
    return released


def _release(session: Session, pool_id: int, window: timedelta, fee_bps: int, now: datetime) -> int:
    settlement.release_after_window(session, pool_id=pool_id, window=window, fee_bps=fee_bps, now=now)
    session.commit()
    return 1


def pay_out_pending(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Transfer every pending payout to its vendor, then complete the pool."""
    pending = list(session.scalars(select(Payout.pool_id).where(Payout.status == PayoutStatus.PENDING).limit(limit)))
    session.rollback()
    return sum(
        _guarded(session, f"paying out pool {pool_id}", partial(pay_out, session, gateway, pool_id=pool_id, now=now))
        for pool_id in pending
    )


def pay_out(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> int:
    """One payout attempt: lease (commit), transfer, record and complete the pool (commit).

    A vendor without a payout account is skipped until it finishes onboarding (offline needs none).
    """
    payout = service.begin_payout(session, pool_id=pool_id, now=now)
    if payout is None:
        session.rollback()
        return 0
    vendor = session.get(User, payout.vendor_id)
    assert vendor is not None and vendor.vendor_profile is not None
    destination = vendor.vendor_profile.payout_account_id
    if destination is None and gateway.name != "offline":
        session.rollback()
        log.info("pool %s: vendor %s has no payout account yet; the payout waits", pool_id, vendor.id)
        return 0
    destination = destination or f"vendor-{vendor.id}"
    request = {
        "destination_account": destination,
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "transfer_group": f"pool-{pool_id}",
        "idempotency_key": payout.idempotency_key,
    }
    session.commit()
    transfer = gateway.transfer(**request)  # type: ignore[arg-type]
    service.record_payout(session, pool_id=pool_id, transfer_ref=transfer.transfer_ref, now=now)
    settlement.complete_if_done(session, pool_id=pool_id, now=now)
    session.commit()
    return 1


def refund_disputed(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Refund every captured payment of pools whose dispute was resolved with a refund."""
    pools = _pool_ids(session, Pool.status == PoolStatus.DISPUTED, Pool.dispute_resolution == "refund", limit=limit)
    return sum(
        _guarded(session, f"refunding pool {pool_id}", partial(refund_pool, session, gateway, pool_id=pool_id, now=now))
        for pool_id in pools
    )


def refund_pool(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> int:
    """Refund each captured payment of one pool (same lease pattern), then complete it."""
    captured = [p.id for p in service.payments_of(session, pool_id) if p.status == PaymentStatus.SUCCEEDED]
    session.rollback()
    for payment_id in captured:
        payment = service.begin_refund(session, payment_id=payment_id, now=now)
        if payment is None:
            session.rollback()
            continue
        request = {
            "payment_ref": payment.gateway_ref or payment.idempotency_key,
            "amount_minor": payment.amount_minor,
            "idempotency_key": f"{payment.idempotency_key}-refund",
        }
        session.commit()
        refund = gateway.refund(**request)  # type: ignore[arg-type]
        service.record_refund(session, payment_id=payment_id, refund_ref=refund.refund_ref, now=now)
        session.commit()
    settlement.complete_if_done(session, pool_id=pool_id, now=now)
    session.commit()
    return 1


def _guarded(session: Session, what: str, step: Callable[[], int]) -> int:
    """Run one pool's step; a failure is logged and retried by the next sweep, not fatal to the rest."""
    try:
        return step()
    except GatewayUnavailable:
        session.rollback()
        log.warning("%s: gateway unavailable; the next sweep retries", what)
    except Exception:
        session.rollback()
        log.exception("%s failed; the next sweep retries", what)
    return 0


def prepare_card(session: Session, gateway: PaymentGateway, *, commitment_id: int) -> str | None:
    """Save the member's card for an off-session charge later (a SetupIntent); return its client secret.

    Called after the commitment is committed, outside any pool lock. The offline gateway needs no
    card: its setup succeeds at once.
    """
    commitment = session.get(Commitment, commitment_id)
    if commitment is None or commitment.payment_method_ref:
        return None
    member = session.get(User, commitment.member_id)
    assert member is not None
    if member.payment_customer_ref is None:
        member.payment_customer_ref = gateway.ensure_customer(
            user_id=member.id, email=member.email, idempotency_key=f"user-{member.id}-customer"
        )
        session.commit()
    setup = gateway.start_card_setup(
        customer_ref=member.payment_customer_ref, idempotency_key=f"commitment-{commitment.id}-card-setup"
    )
    commitment.payment_ref = setup.setup_ref
    if setup.status == "succeeded":
        commitment.payment_method_ref = commitment.payment_method_ref or setup.setup_ref
    session.commit()
    return setup.client_secret


def save_card(commitment_id: int) -> None:
    """From a request: prepare the member's card for the charge; a provider outage is retried at the charge."""
    from app.extensions import db
    from app.payments.gateways import current_gateway

    try:
        prepare_card(db.session(), current_gateway(), commitment_id=commitment_id)
    except GatewayError:
        db.session.rollback()
        log.warning("could not prepare a card for commitment %s; the member can add it later", commitment_id)


def try_pay_out(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> None:
    """From a request: pay out now if the provider answers; otherwise the scheduler retries."""
    _guarded(session, f"paying out pool {pool_id}", partial(pay_out, session, gateway, pool_id=pool_id, now=now))


def try_refund(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> None:
    """From a request: refund now if the provider answers; otherwise the scheduler retries."""
    _guarded(session, f"refunding pool {pool_id}", partial(refund_pool, session, gateway, pool_id=pool_id, now=now))


def confirm_delivery_and_pay(
    session: Session, gateway: PaymentGateway, *, pool_id: int, actor: User, fee_bps: int, now: datetime
) -> None:
    """Confirm delivery (committed first), then pay the vendor now if the provider answers."""
    settlement.confirm_delivery(session, pool_id=pool_id, actor=actor, fee_bps=fee_bps, now=now)
    session.commit()
    try_pay_out(session, gateway, pool_id=pool_id, now=now)


def resolve_dispute_and_move_money(
    session: Session,
    gateway: PaymentGateway,
    *,
    pool_id: int,
    actor: User,
    resolution: str,
    fee_bps: int,
    now: datetime,
) -> None:
    """Resolve a dispute (committed first), then refund the members or pay the vendor if the provider answers."""
    settlement.resolve_dispute(session, pool_id=pool_id, actor=actor, resolution=resolution, fee_bps=fee_bps, now=now)
    session.commit()
    move = try_refund if resolution == "refund" else try_pay_out
    move(session, gateway, pool_id=pool_id, now=now)
