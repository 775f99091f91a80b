"""Provider webhooks: deduplicated by event id, safe in any order, re-fetching what matters. No Flask.

A payment's state only moves forward (record_charge ignores final payments), so a late or
repeated event can never undo a newer state.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import vendors
from app.accounts.identity import provider_fingerprint
from app.accounts.models import VendorProfile
from app.errors import Conflict
from app.payments import jobs, service
from app.payments.gateway import GatewayError, PaymentGateway, WebhookEvent
from app.payments.models import Payment, Payout, WebhookReceipt
from app.pools.models import Commitment

log = logging.getLogger(__name__)
PAYMENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
)


def already_handled(session: Session, event_id: str) -> bool:
    return session.scalar(select(WebhookReceipt.id).where(WebhookReceipt.event_id == event_id)) is not None


def handle(
    session: Session, gateway: PaymentGateway, event: WebhookEvent, *, now: datetime, identity_key: bytes
) -> str:
    """Apply one verified event once; return what was done (also stored with the receipt).

    `identity_key` keys the fingerprint of a connected account's bank account (app.accounts.identity).
    """
    if already_handled(session, event.id):
        return "duplicate"
    if event.type in PAYMENT_EVENTS:
        outcome = _payment_event(session, gateway, event, now)
    elif event.type == "charge.refunded":
        outcome = _refund_event(session, event, now)
    elif event.type in ("transfer.created", "transfer.updated"):
        outcome = _transfer_event(session, event, now)
    elif event.type == "setup_intent.succeeded":
        outcome = _card_saved(session, event)
    elif event.type == "account.updated":
        outcome = _account_updated(session, event, identity_key, now)
    else:
        outcome = "ignored: not an event Buyswarm uses"
    session.add(WebhookReceipt(event_id=event.id, event_type=event.type, outcome=outcome[:200], received_at=now))
    session.flush()
    log.info("webhook %s %s: %s", event.id, event.type, outcome)
    return outcome


def _payment_event(session: Session, gateway: PaymentGateway, event: WebhookEvent, now: datetime) -> str:
    payment = session.scalar(select(Payment).where(Payment.gateway_ref == event.object_id))
    if payment is None:
        return f"unknown payment {event.object_id}: nothing changed"
    try:
        current = gateway.retrieve_payment(event.object_id or "")  # the event may be stale: ask for now
    except GatewayError:
        return "could not re-fetch the payment; a later event or sweep will apply it"
    service.record_charge(session, payment_id=payment.id, result=current, now=now)
    return f"payment {payment.id} is {payment.status}"


def _refund_event(session: Session, event: WebhookEvent, now: datetime) -> str:
    """A charge was refunded, wholly or in part: book what its running total adds.

    Stripe sends `charge.refunded` for every refund, partial ones included, with the charge's
    `amount_refunded` so far; refund.* events carry no running total, so they are not booked.
    """
    intent = event.object.get("payment_intent")
    payment = session.scalar(select(Payment).where(Payment.gateway_ref == intent)) if intent else None
    refunded = event.object.get("amount_refunded")
    if payment is None or isinstance(refunded, bool) or not isinstance(refunded, int) or refunded < 0:
        return "unknown refund: nothing changed"
    return jobs.finish_refund(
        session, payment_id=payment.id, refund_ref=str(event.object_id), refunded_total_minor=refunded, now=now
    )


def _transfer_event(session: Session, event: WebhookEvent, now: datetime) -> str:
    """A transfer exists at the provider: its payout is paid (once, whichever of sweep and event is first)."""
    group = str(event.object.get("transfer_group") or "")
    payout_id = group.removeprefix("payout-")
    payout = (
        session.get(Payout, int(payout_id))
        if group.startswith("payout-") and payout_id.isdigit() and len(payout_id) < 10
        else None
    )
    if payout is None or payout.idempotency_key is None or event.object.get("amount") != payout.amount_minor:
        return "unknown transfer: nothing changed"
    jobs.finish_payout(session, payout_id=payout.id, transfer_ref=str(event.object_id), now=now)
    return f"payout {payout.id} is {payout.status}"


def _card_saved(session: Session, event: WebhookEvent) -> str:
    commitment = session.scalar(select(Commitment).where(Commitment.payment_ref == event.object_id))
    method = event.object.get("payment_method")
    if commitment is None or not method:
        return "unknown setup: nothing changed"
    commitment.payment_method_ref = str(method)
    return f"card saved for commitment {commitment.id}"


def _account_updated(session: Session, event: WebhookEvent, identity_key: bytes, now: datetime) -> str:
    """A connected account changed: whether it can be paid, its bank account's fingerprint (which
    links accounts paid into the same bank account), and whether it is complete, which verifies
    the vendor (details submitted, charges and payouts enabled)."""
    profile = session.scalar(select(VendorProfile).where(VendorProfile.payout_account_id == event.object_id))
    if profile is None:
        return "unknown account: nothing changed"
    account = event.object
    profile.payouts_enabled = bool(account.get("payouts_enabled"))
    banks = (account.get("external_accounts") or {}).get("data") or []
    fingerprint = next((bank.get("fingerprint") for bank in banks if bank.get("fingerprint")), None)
    said = [f"payouts_enabled={profile.payouts_enabled}"]
    if fingerprint:
        keyed = provider_fingerprint(identity_key, "stripe", str(fingerprint))
        try:
            vendors.set_payout_fingerprint(session, vendor=profile.user, fingerprint=keyed, now=now)
        except vendors.IdentityClosed:
            return f"vendor {profile.user_id}: bank account of a closed account; the account is closed"
        except Conflict:
            said.append("verified bank account kept")
        said.append(f"linked to {profile.identity_root_id}" if profile.identity_root_id else "own identity")
    complete = all(account.get(flag) for flag in ("details_submitted", "charges_enabled", "payouts_enabled"))
    if complete and profile.payout_fingerprint is not None and profile.verified_at is None:
        vendors.verify_vendor(session, vendor_id=profile.user_id, operator=None, now=now)
        said.append("verified")
    return f"vendor {profile.user_id} " + ", ".join(said)
