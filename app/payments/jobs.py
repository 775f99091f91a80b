"""Settlement sweepers: charge awarded pools, release lines' escrow, pay vendors out, make refunds.

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

from app import unit_of_work
from app.accounts.models import User
from app.money import format_minor
from app.notifications.service import queue_email
from app.payments import escrow, service, settlement
from app.payments.gateway import ChargeResult, GatewayError, GatewayUnavailable, PaymentGateway
from app.payments.models import Payment, PaymentStatus, Payout
from app.payments.rules import EscrowTerms
from app.pools.fanout import notify_each, notify_user
from app.pools.models import Pool, PoolStatus

log = logging.getLogger(__name__)
TERMS = EscrowTerms()  # the defaults; the scheduler and requests pass the configured terms


def _pool_ids(session: Session, *conditions: object, limit: int) -> list[int]:
    query = select(Pool.id).where(*conditions).order_by(Pool.id).limit(limit)  # type: ignore[arg-type]
    ids = list(session.scalars(query))
    session.rollback()  # read-only: do not hold a snapshot open across gateway calls
    return ids


SETTLE_BATCH = 20  # awarded pools charged together: their payments are leased and recorded in one go


def settle_awarded_pools(
    session: Session, gateway: PaymentGateway, *, now: datetime, terms: EscrowTerms = TERMS, limit: int = 200
) -> int:
    """Charge the served members of every awarded pool and settle the pools whose payments are final.

    Pools go in batches; when a batch fails, its pools are retried one by one, so one bad pool
    is logged and left for the next sweep without holding back the rest.
    """
    ids = _pool_ids(session, Pool.status == PoolStatus.AWARDED, limit=limit)
    handled = 0
    for start in range(0, len(ids), SETTLE_BATCH):
        batch = ids[start : start + SETTLE_BATCH]
        try:
            handled += settle_pools(session, gateway, batch, now=now, terms=terms)
        except Exception:
            session.rollback()
            if len(batch) == 1:
                log.exception("settling pool %s failed; the next sweep retries", batch[0])
                continue
            log.warning("settling pools %s together failed; settling them one by one", batch, exc_info=True)
            for pool_id in batch:
                step = partial(settle_pool, session, gateway, pool_id=pool_id, now=now, terms=terms)
                handled += _guarded(session, f"settling pool {pool_id}", step)
    return handled


def settle_pool(
    session: Session, gateway: PaymentGateway, *, pool_id: int, now: datetime, terms: EscrowTerms = TERMS
) -> int:
    """Settle one awarded pool (see settle_pools); 1 when this call ended its charging."""
    return settle_pools(session, gateway, [pool_id], now=now, terms=terms)


def settle_pools(
    session: Session, gateway: PaymentGateway, pool_ids: list[int], *, now: datetime, terms: EscrowTerms = TERMS
) -> int:
    """Open the pools' charges and attempt them, retry earlier attempts that are due, then settle
    the pools whose payments are all final."""
    cards = _default_cards(session, gateway, pool_ids)
    # A gateway inside this database charges as the payments are written: no leases come back.
    charge_now = partial(_call_charge, gateway) if gateway.in_database else None
    leases = settlement.start_settlement(
        session,
        pool_ids=pool_ids,
        gateway=gateway.name,
        cards=cards,
        now=now,
        charge_now=charge_now,
        decline_grace=terms.decline_grace,
    )
    unit_of_work.commit(session)
    _charge_leased(session, gateway, leases, now=now, terms=terms)
    charge_batch(session, gateway, service.pending_payment_ids(session, pool_ids), now=now, terms=terms)
    follow_up_actions(session, gateway, pool_ids=pool_ids, now=now)
    settled = settlement.finish_settlement(session, pool_ids=pool_ids, now=now, window=terms.window)
    unit_of_work.commit(session)
    return settled


def attempt_charge(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime, terms: EscrowTerms = TERMS
) -> None:
    """One charge attempt for one payment (see charge_batch)."""
    charge_batch(session, gateway, [payment_id], now=now, terms=terms)


def charge_batch(
    session: Session, gateway: PaymentGateway, payment_ids: list[int], *, now: datetime, terms: EscrowTerms = TERMS
) -> None:
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
    unit_of_work.commit(session)
    _charge_leased(session, gateway, leases, now=now, terms=terms)


def _charge_leased(
    session: Session, gateway: PaymentGateway, leases: list[service.ChargeLease], *, now: datetime, terms: EscrowTerms
) -> None:
    """Call the gateway for each committed lease, then record every outcome (one commit)."""
    if not leases:
        return
    outcomes = [(lease.payment_id, _call_charge(gateway, lease)) for lease in leases]
    service.record_charges(session, outcomes, now=now, decline_grace=terms.decline_grace)
    unit_of_work.commit(session)


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
    unit_of_work.commit(session)


REMIND_EVERY = timedelta(hours=24)  # how often a member whose card was declined is reminded


def follow_up_actions(session: Session, gateway: PaymentGateway, *, pool_ids: list[int], now: datetime) -> None:
    """Re-check payments waiting for the member to authenticate, remind those whose card was declined,
    and drop either when its grace window ends."""
    declined = session.scalars(
        select(Payment.id).where(Payment.pool_id.in_(pool_ids), Payment.status == PaymentStatus.DECLINED)
    ).all()
    session.rollback()
    for payment_id in list(declined):
        if not service.expire_declined(session, payment_id=payment_id, now=now):
            _remind_declined(session, payment_id, now)
        unit_of_work.commit(session)
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
        unit_of_work.commit(session)


def _remind_declined(session: Session, payment_id: int, now: datetime) -> None:
    """Tell the member their card was declined, and again every REMIND_EVERY until the deadline."""
    payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    if payment is None or payment.status != PaymentStatus.DECLINED or payment.action_expires_at is None:
        return
    if payment.reminded_at is not None and payment.reminded_at > now - REMIND_EVERY:
        return
    pool = session.get(Pool, payment.pool_id)
    assert pool is not None
    told = int((now - payment.updated_at) / REMIND_EVERY)  # one notification per reminder
    money = format_minor(payment.amount_minor, payment.currency)
    notify_user(
        session,
        payment.member_id,
        pool,
        f"card_declined:{told}",
        f"Your card was declined for “{pool.title}” ({money}). The price holds for you until "
        f"{payment.action_expires_at:%d %b %Y %H:%M} UTC: open the pool's page and choose “Pay with "
        "another card”, or you will be dropped from the pool and not charged.",
        now,
    )
    payment.reminded_at = now


def release_due_escrow(
    session: Session, gateway: PaymentGateway, *, now: datetime, terms: EscrowTerms = TERMS, limit: int = 200
) -> int:
    """Release each line whose dispute window passed with no dispute open, escalate disputes that
    are due, then pay the vendors their released lines in batches."""
    due = escrow.pools_with_due_lines(session, now=now, limit=limit)
    session.rollback()
    released = 0
    for start in range(0, len(due), SETTLE_BATCH):
        batch = due[start : start + SETTLE_BATCH]
        released += _guarded(session, f"releasing pools {batch}", partial(_release, session, batch, terms, now))
    _guarded(session, "escalating disputes", partial(_escalate, session, now))
    pay_out_pending(session, gateway, now=now)
    return released


def _release(session: Session, pool_ids: list[int], terms: EscrowTerms, now: datetime) -> int:
    released = escrow.release_due_lines(session, terms=terms, now=now, pool_ids=pool_ids)
    unit_of_work.commit(session)
    return released


def _escalate(session: Session, now: datetime) -> int:
    done = escrow.escalate_due(session, now=now)
    unit_of_work.commit(session)
    return done


def pay_out_pending(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Gather released lines into one payout per vendor, then transfer every pending payout."""
    _guarded(session, "gathering payouts", partial(_open_payouts, session, now))
    pending = service.pending_payout_ids(session, limit=limit)
    session.rollback()
    return sum(
        _guarded(session, f"payout {payout_id}", partial(pay_out, session, gateway, payout_id=payout_id, now=now))
        for payout_id in pending
    )


def _open_payouts(session: Session, now: datetime) -> int:
    made = service.open_payouts(session, now=now)
    unit_of_work.commit(session)
    return len(made)


def pay_out(session: Session, gateway: PaymentGateway, *, payout_id: int, now: datetime) -> int:
    """One payout attempt: lease (commit), transfer, record, tell the vendor, complete the pools (commit).

    A vendor without a payout account, or whose account the provider has not enabled for payouts, is
    skipped until it finishes onboarding (offline needs neither).
    """
    payout = service.begin_payout(session, payout_id=payout_id, now=now)
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
        log.info("payout %s: vendor %s cannot receive payouts yet (onboarding); it waits", payout_id, vendor.id)
        return 0
    request = {
        "destination_account": destination or f"vendor-{vendor.id}",
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "transfer_group": f"payout-{payout.id}",
        "idempotency_key": payout.idempotency_key,
    }
    unit_of_work.commit(session)
    transfer = gateway.transfer(**request)  # type: ignore[arg-type]
    finish_payout(session, payout_id=payout_id, transfer_ref=transfer.transfer_ref, now=now)
    unit_of_work.commit(session)
    return 1


def finish_payout(session: Session, *, payout_id: int, transfer_ref: str, now: datetime) -> None:
    """Record a transfer (once, from the sweep or a webhook), tell the vendor and complete the pools."""
    pool_ids = service.record_payout(session, payout_id=payout_id, transfer_ref=transfer_ref, now=now)
    if not pool_ids:
        return
    payout = session.get(Payout, payout_id)
    assert payout is not None
    queue_email(
        session,
        user_id=payout.vendor_id,
        kind=f"payout_sent:{payout.id}",
        now=now,
        message=f"We sent you {format_minor(payout.amount_minor, payout.currency)} for "
        f"{payout.line_count} delivered line{'s' if payout.line_count != 1 else ''} "
        f"({format_minor(payout.gross_minor, payout.currency)} less the platform fee of "
        f"{format_minor(payout.fee_minor, payout.currency)}).",
    )
    escrow.sync_pools(session, escrow.lock_pools(session, pool_ids), now=now)


def refund_due(session: Session, gateway: PaymentGateway, *, now: datetime, limit: int = 200) -> int:
    """Make every decided refund that is not made yet (a dispute's outcome)."""
    due = service.refund_due_ids(session, limit=limit)
    session.rollback()
    if gateway.in_database and due:
        return _guarded(
            session, f"refunding lines {due[0]}…{due[-1]}", partial(_refund_in_database, session, gateway, due, now)
        )
    return sum(
        _guarded(session, f"refunding line {line_id}", partial(refund_line, session, gateway, line_id=line_id, now=now))
        for line_id in due
    )


def _refund_in_database(session: Session, gateway: PaymentGateway, line_ids: list[int], now: datetime) -> int:
    """A gateway inside this database refunds as the refunds are recorded, in one transaction."""

    def refund(payment_ref: str, amount_minor: int, key: str) -> str:
        return gateway.refund(payment_ref=payment_ref, amount_minor=amount_minor, idempotency_key=key).refund_ref

    made = service.refund_in_database(session, line_ids, refund=refund, now=now)
    pools = {pool.id: pool for pool in escrow.lock_pools(session, sorted({line.pool_id for line in made}))}
    notify_each(
        session,
        [
            (pools[line.pool_id], line.member_id, refund_kind(line), _refund_words(pools[line.pool_id], line))
            for line in made
        ],
        now,
    )  # each refund is told once
    escrow.sync_pools(session, list(pools.values()), now=now)
    unit_of_work.commit(session)
    return len(made)


def refund_kind(line: service.Refunded | Payment) -> str:
    """The notification of a refund: named by the total refunded, so each new refund is told once."""
    return f"refunded:{line.refunded_minor}"


def _refund_words(pool: Pool, line: service.Refunded | Payment) -> str:
    return (
        f"{format_minor(line.refunded_minor, line.currency)} of your payment for “{pool.title}” was refunded "
        "to your card."
    )


def refund_line(session: Session, gateway: PaymentGateway, *, line_id: int, now: datetime) -> int:
    """Refund what was decided for one line (same lease pattern), tell the member, update the pool."""
    payment = service.begin_refund(session, payment_id=line_id, now=now)
    if payment is None:
        session.rollback()
        return 0
    due = payment.refund_due_minor
    request = {
        "payment_ref": payment.gateway_ref or payment.idempotency_key,
        "amount_minor": due - payment.refunded_minor,
        "idempotency_key": f"{payment.idempotency_key}-refund-to-{due}",  # one key per decided total
    }
    unit_of_work.commit(session)
    refund = gateway.refund(**request)  # type: ignore[arg-type]
    finish_refund(session, payment_id=line_id, refund_ref=refund.refund_ref, refunded_total_minor=due, now=now)
    unit_of_work.commit(session)
    return 1


def finish_refund(
    session: Session, *, payment_id: int, refund_ref: str, refunded_total_minor: int, now: datetime
) -> str:
    """Record a refund's running total (once, from the sweep or a webhook), tell the member, update the pool."""
    before = session.get(Payment, payment_id)
    already = before.refunded_minor if before is not None else 0
    payment = service.record_refund(
        session, payment_id=payment_id, refund_ref=refund_ref, refunded_total_minor=refunded_total_minor, now=now
    )
    if payment is None:
        return "unknown refund: nothing changed"
    if payment.refunded_minor > already:
        pool = escrow.lock_pool(session, payment.pool_id)
        notify_user(
            session, payment.member_id, pool, f"refunded:{payment.refunded_minor}", _refund_words(pool, payment), now
        )
        escrow.sync_pool_status(session, pool, now=now)
    return f"payment {payment.id} is {payment.status}, {payment.refunded_minor} refunded"


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
