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


SETTLE_BATCH = 20  # awarded pools charged together: their payments are leased and recorded in one go


def settle_awarded_pools(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Charge the served members of every awarded pool and settle the pools whose payments are final.

    Pools go in batches; when a batch fails, its pools are retried one by one, so one bad pool
    is logged and left for the next sweep without holding back the rest.
    """
    ids = _pool_ids(session, Pool.status == PoolStatus.AWARDED, limit=limit)
    handled = 0
    for start in range(0, len(ids), SETTLE_BATCH):
        batch = ids[start : start + SETTLE_BATCH]
        try:
            handled += settle_pools(session, gateway, batch, now=now)
        except Exception:
            session.rollback()
            if len(batch) == 1:
                log.exception("settling pool %s failed; the next sweep retries", batch[0])
                continue
            log.warning("settling pools %s together failed; settling them one by one", batch, exc_info=True)
            for pool_id in batch:
                step = partial(settle_pool, session, gateway, pool_id=pool_id, now=now)
                handled += _guarded(session, f"settling pool {pool_id}", step)
    return handled


def settle_pool(session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime) -> int:
    """Settle one awarded pool (see settle_pools); 1 when this call ended its charging."""
    return settle_pools(session, gateway, [pool_id], now=now)


def settle_pools(session: Session, gateway: PaymentGateway, pool_ids: list[int], *, now: datetime) -> int:
    """Open the pools' charges and attempt them, retry earlier attempts that are due, then settle
    the pools whose payments are all final."""
    cards = _default_cards(session, gateway, pool_ids)
    # A gateway inside this database charges as the payments are written: no leases come back.
    charge_now = partial(_call_charge, gateway) if gateway.in_database else None
    leases = settlement.start_settlement(
        session, pool_ids=pool_ids, gateway=gateway.name, cards=cards, now=now, charge_now=charge_now
    )
    session.commit()
    _charge_leased(session, gateway, leases, now=now)
    charge_batch(session, gateway, service.pending_payment_ids(session, pool_ids), now=now)
    follow_up_actions(session, gateway, pool_ids=pool_ids, now=now)
    settled = settlement.finish_settlement(session, pool_ids=pool_ids, now=now)
    session.commit()
    return settled


def attempt_charge(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    """One charge attempt for one payment (see charge_batch)."""
    charge_batch(session, gateway, [payment_id], now=now)


def charge_batch(session: Session, gateway: PaymentGateway, payment_ids: list[int], *, now: datetime) -> None:
    """Retry pending payments: lease and count every attempt (one commit), then call and record (one commit).

    The keys and leases are committed before any call, so a crash between the calls and the
    record leaves pending payments that the next sweep retries with the same keys. Payments
    leased by someone else (or just now, by their first attempt) are skipped.
    """
    if not payment_ids:
        return
    if gateway.stores_cards:  # only a provider that stores cards needs one chosen
        for payment_id in payment_ids:
            _choose_card(session, gateway, payment_id)
    leases = service.begin_charges(session, payment_ids, now=now)
    session.commit()
    _charge_leased(session, gateway, leases, now=now)


def _charge_leased(
    session: Session, gateway: PaymentGateway, leases: list[service.ChargeLease], *, now: datetime
) -> None:
    """Call the gateway for each committed lease, then record every outcome (one commit)."""
    if not leases:
        return
    outcomes = [(lease.payment_id, _call_charge(gateway, lease)) for lease in leases]
    service.record_charges(session, outcomes, now=now)
    session.commit()


def _default_cards(session: Session, gateway: PaymentGateway, pool_ids: list[int]) -> dict[int, str]:
    """The card to charge for commitments that have none yet: their customer's default, asked once each.

    Asked before the payments are opened and outside any lock; the answer is pinned on the payment,
    because every retry must send the same card under the same key.
    """
    if not gateway.stores_cards:  # only a provider that stores cards needs one chosen
        return {}
    wanted = service.cards_to_choose(session, pool_ids)
    session.rollback()
    defaults: dict[str, str | None] = {}
    for _, customer in wanted:
        if customer not in defaults:
            defaults[customer] = gateway.default_payment_method(customer)
    return {commitment_id: card for commitment_id, customer in wanted if (card := defaults[customer])}


def _call_charge(gateway: PaymentGateway, lease: service.ChargeRequest) -> ChargeResult | None:
    """The gateway's answer to one charge; None when it is not final (retry later with the same key)."""
    try:
        return gateway.charge(
            customer_ref=lease.customer_ref,
            payment_method_ref=lease.payment_method_ref,
            amount_minor=lease.amount_minor,
            currency=lease.currency,
            transfer_group=f"pool-{lease.pool_id}",
            idempotency_key=lease.idempotency_key,
            metadata={"pool_id": str(lease.pool_id), "commitment_id": str(lease.commitment_id)},
        )
    except GatewayUnavailable:
        log.warning("gateway unavailable for charge %s; retrying later with the same key", lease.idempotency_key)
    except GatewayError as exc:
        if exc.code != "idempotency_error":
            return ChargeResult("failed", None, exc.code or "gateway_error", exc.message)
        # Our request changed between attempts: a bug, not a decline; keep it pending and loud.
        log.error("charge %s: the provider refused a reused key (%s); left pending", lease.idempotency_key, exc.message)
    except Exception:  # a bug for this one payment must not hold back the others of the batch
        log.exception("charge %s failed unexpectedly; retrying later with the same key", lease.idempotency_key)
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


def follow_up_actions(session: Session, gateway: PaymentGateway, *, pool_ids: list[int], now: datetime) -> None:
    """Re-check payments waiting for the member to authenticate; drop them when the grace window ends."""
    waiting = session.scalars(
        select(Payment.id).where(Payment.pool_id.in_(pool_ids), Payment.status == PaymentStatus.REQUIRES_ACTION)
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

    A vendor without a payout account, or whose account the provider has not enabled for payouts, is
    skipped until it finishes onboarding (offline needs neither).
    """
    payout = service.begin_payout(session, pool_id=pool_id, now=now)
    if payout is None:
        session.rollback()
        return 0
    vendor = session.get(User, payout.vendor_id)
    assert vendor is not None and vendor.vendor_profile is not None
    profile = vendor.vendor_profile
    destination = profile.payout_account_id
    # Money leaving for a real account needs one the provider says can receive payouts.
    if not gateway.in_database and (destination is None or not profile.payouts_enabled):
        session.rollback()
        log.info("pool %s: vendor %s cannot receive payouts yet (onboarding); the payout waits", pool_id, vendor.id)
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
            "amount_minor": payment.amount_minor - payment.refunded_minor,  # what a partial refund left
            "idempotency_key": f"{payment.idempotency_key}-refund",
        }
        session.commit()
        refund = gateway.refund(**request)  # type: ignore[arg-type]
        service.record_refund(
            session,
            payment_id=payment_id,
            refund_ref=refund.refund_ref,
            refunded_total_minor=payment.amount_minor,
            now=now,
        )
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
