"""Stripe webhooks (signed like Stripe signs them) and the settlement API: delivery, disputes, ledger, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.notifications.models import Notification
from app.payments import escrow, jobs
from app.payments.models import Payment, PaymentStatus, WebhookReceipt
from app.web import create_app
from tests import factories
from tests.fakes.fake_stripe import TEST_WEBHOOK_SECRET, make_event, signed_event
from tests.payments.test_settlement import awarded_pool, with_cards


@pytest.fixture
def stripe_client(database_url, fake_stripe, clean_db):
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PAYMENT_GATEWAY": "stripe",
            "STRIPE_API_KEY": fake_stripe.api_key,
            "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake_stripe.url,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
        }
    )
    return app.test_client()


def post_event(client, event, secret=TEST_WEBHOOK_SECRET):
    payload, header = signed_event(event, secret)
    return client.post(
        "/api/v1/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


@pytest.fixture
def waiting_payment(session, now, gateway, fake_stripe):
    """A payment waiting for the member to authenticate."""
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_authenticationRequired"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    return session.scalar(select(Payment))


def test_a_signed_success_event_settles_the_payment(stripe_client, session, waiting_payment, fake_stripe):
    fake_stripe.complete_authentication(waiting_payment.gateway_ref)
    event = make_event(
        "payment_intent.succeeded", {"id": waiting_payment.gateway_ref, "object": "payment_intent"}, "evt_1"
    )
    assert post_event(stripe_client, event).status_code == 200
    session.expire_all()
    assert session.get(Payment, waiting_payment.id).status == PaymentStatus.SUCCEEDED


def test_a_duplicate_or_stale_event_changes_nothing_twice(stripe_client, session, waiting_payment, fake_stripe):
    fake_stripe.complete_authentication(waiting_payment.gateway_ref)
    succeeded = make_event("payment_intent.succeeded", {"id": waiting_payment.gateway_ref}, "evt_ok")
    stale = make_event("payment_intent.payment_failed", {"id": waiting_payment.gateway_ref}, "evt_old")
    for event in (succeeded, succeeded, stale):
        assert post_event(stripe_client, event).status_code == 200
    session.expire_all()
    assert session.get(Payment, waiting_payment.id).status == PaymentStatus.SUCCEEDED
    assert session.scalar(select(func.count(WebhookReceipt.id))) == 2


def test_a_bad_signature_is_400_and_changes_nothing(stripe_client, session, waiting_payment, fake_stripe):
    fake_stripe.complete_authentication(waiting_payment.gateway_ref)
    event = make_event("payment_intent.succeeded", {"id": waiting_payment.gateway_ref}, "evt_forged")
    response = post_event(stripe_client, event, secret="whsec_wrong")
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_webhook"
    session.expire_all()
    assert session.get(Payment, waiting_payment.id).status == PaymentStatus.REQUIRES_ACTION
    assert session.scalar(select(func.count(WebhookReceipt.id))) == 0


def test_a_tampered_body_is_400(stripe_client):
    payload, header = signed_event(make_event("payment_intent.succeeded", {"id": "pi_1"}, "evt_t"), TEST_WEBHOOK_SECRET)
    tampered = payload.replace(b"pi_1", b"pi_2")
    response = stripe_client.post("/api/v1/webhooks/stripe", data=tampered, headers={"Stripe-Signature": header})
    assert response.status_code == 400


def test_an_event_for_an_unknown_object_is_200_and_changes_nothing(stripe_client, session, now):
    event = make_event("payment_intent.succeeded", {"id": "pi_nobody_knows"}, "evt_unknown")
    response = post_event(stripe_client, event)
    assert response.status_code == 200 and "unknown payment" in response.get_json()["outcome"]
    assert session.scalar(select(func.count(Payment.id))) == 0


def test_account_updates_mark_vendors_ready_for_payouts(stripe_client, session, now):
    vendor = factories.vendor(session, now=now)
    vendor.vendor_profile.payout_account_id = "acct_123"
    session.commit()
    post_event(stripe_client, make_event("account.updated", {"id": "acct_123", "payouts_enabled": True}, "evt_a"))
    session.expire_all()
    assert vendor.vendor_profile.payouts_enabled is True


def test_the_ledger_and_audit_trail_are_for_the_organiser_only(client, session, now):
    pool, made = awarded_pool(session, now)
    member = factories.token(session, made[0].member, now=now)
    assert client.get(f"/api/v1/pools/{pool.id}/ledger", headers=member).status_code == 404
    assert client.get(f"/api/v1/pools/{pool.id}/audit", headers=member).status_code == 404


@pytest.fixture
def captured_payment(session, now, gateway, fake_stripe):
    """A member's payment, captured through the fake Stripe."""
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    payment = session.scalar(select(Payment))
    assert payment.status == PaymentStatus.SUCCEEDED and payment.amount_minor > 1000
    return payment


def _refunded(payment, amount_refunded, event_id):
    charge = {"id": f"ch_{event_id}", "object": "charge", "payment_intent": payment.gateway_ref,
              "amount_refunded": amount_refunded}  # fmt: skip
    return make_event("charge.refunded", charge, event_id)


def _refunds_booked(session, pool_id):
    from app.payments import ledger

    return ledger.statement(session, pool_id).balances.get(ledger.REFUNDS, 0)


def test_a_partial_refund_books_exactly_what_was_refunded(stripe_client, session, captured_payment):
    assert post_event(stripe_client, _refunded(captured_payment, 500, "evt_r1")).status_code == 200
    session.expire_all()
    payment = session.get(Payment, captured_payment.id)
    assert (payment.status, payment.refunded_minor) == (PaymentStatus.SUCCEEDED, 500)
    assert _refunds_booked(session, payment.pool_id) == 500


def test_later_refunds_book_only_what_they_add_and_the_last_refunds_the_payment(
    stripe_client, session, captured_payment
):
    whole = captured_payment.amount_minor
    for event_id, total in (("evt_a", 500), ("evt_b", 500), ("evt_c", 900), ("evt_d", whole), ("evt_e", whole + 99)):
        post_event(stripe_client, _refunded(captured_payment, total, event_id))
    session.expire_all()
    payment = session.get(Payment, captured_payment.id)
    assert (payment.status, payment.refunded_minor) == (PaymentStatus.REFUNDED, whole)
    assert _refunds_booked(session, payment.pool_id) == whole
    from app.payments import ledger

    assert ledger.statement(session, payment.pool_id).total == 0


def test_a_payout_waits_until_the_provider_enables_the_vendors_payouts(session, now, gateway, captured_payment):
    from app.accounts.models import User
    from app.bids.service import award_of
    from app.payments.models import Payout, PayoutStatus
    from app.pools.models import Pool

    pool = session.get(Pool, captured_payment.pool_id)
    vendor = session.get(User, award_of(session, pool.id).vendor_id)
    account = gateway.create_connected_account(user_id=vendor.id, email=vendor.email, idempotency_key="acct-new")
    vendor.vendor_profile.payout_account_id, vendor.vendor_profile.payouts_enabled = account, False
    member = session.get(User, captured_payment.member_id)
    escrow.confirm_delivery(session, pool_id=pool.id, actor=member, terms=jobs.TERMS, now=now)
    session.commit()
    assert jobs.pay_out_pending(session, gateway, now=now) == 0
    assert session.scalar(select(Payout)).status == PayoutStatus.PENDING
    vendor.vendor_profile.payouts_enabled = True  # what account.updated records
    session.commit()
    assert jobs.pay_out_pending(session, gateway, now=now + timedelta(minutes=10)) == 1


def test_refund_webhooks_late_repeated_or_out_of_order_change_nothing_twice(
    stripe_client, session, now, gateway, captured_payment
):
    """A dispute's partial refund is made by the sweep; Stripe's charge.refunded events for it, sent
    twice and behind a later one, book nothing more."""
    from app.accounts.models import User
    from app.payments import escrow

    member = session.get(User, captured_payment.member_id)
    dispute = escrow.open_dispute(session, pool_id=captured_payment.pool_id, actor=member, reason="partial",
                                  message="Half came.", terms=jobs.TERMS, now=now)  # fmt: skip
    vendor = session.get(User, dispute.vendor_id)
    escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="partial", refund_minor=500,
                          message="Refunding half a unit.", terms=jobs.TERMS, now=now)  # fmt: skip
    escrow.accept_offer(session, dispute_id=dispute.id, actor=member, terms=jobs.TERMS, now=now)
    session.commit()
    assert jobs.refund_due(session, gateway, now=now) == 1
    for event_id, total in (("evt_1", 500), ("evt_1", 500), ("evt_2", 500), ("evt_0", 200)):
        assert post_event(stripe_client, _refunded(captured_payment, total, event_id)).status_code == 200
    session.expire_all()
    payment = session.get(Payment, captured_payment.id)
    assert (payment.refunded_minor, payment.refund_due_minor) == (500, 500)
    assert _refunds_booked(session, payment.pool_id) == 500
    refunded = [n for n in session.scalars(select(Notification.kind).where(Notification.user_id == member.id))
                if n.startswith("refunded")]  # fmt: skip
    assert refunded == ["refunded:500"]  # the member is told once


def test_transfer_webhooks_after_the_sweep_record_a_payout_once(stripe_client, session, now, gateway,
                                                                          fake_stripe, captured_payment):  # fmt: skip
    from app.accounts.models import User
    from app.payments import escrow, ledger
    from app.payments.models import Payout

    vendor_id = session.scalar(select(Payment.vendor_id))
    vendor = session.get(User, vendor_id)
    vendor.vendor_profile.payout_account_id = gateway.create_connected_account(
        user_id=vendor.id, email=vendor.email, idempotency_key="acct-webhooks"
    )
    vendor.vendor_profile.payouts_enabled = True  # fmt: skip
    member = session.get(User, captured_payment.member_id)
    escrow.confirm_delivery(session, pool_id=captured_payment.pool_id, actor=member, terms=jobs.TERMS, now=now)
    session.commit()
    assert jobs.pay_out_pending(session, gateway, now=now) == 1
    payout = session.scalar(select(Payout))
    transfer = next(o for o in fake_stripe.objects.values() if o.get("object") == "transfer")
    event = {"id": transfer["id"], "object": "transfer", "amount": transfer["amount"],
             "transfer_group": transfer["transfer_group"]}  # fmt: skip
    for event_id in ("evt_t1", "evt_t1", "evt_t2"):
        assert post_event(stripe_client, make_event("transfer.created", event, event_id)).status_code == 200
    assert jobs.pay_out_pending(session, gateway, now=now + timedelta(minutes=5)) == 0
    session.expire_all()
    assert session.get(Payout, payout.id).status == "paid"
    assert ledger.balance(session, captured_payment.pool_id, ledger.VENDOR_PAYOUTS) == payout.amount_minor
    assert len([o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]) == 1
    forged = {**event, "amount": transfer["amount"] + 1}  # an amount that is not the payout's changes nothing
    receipt = post_event(stripe_client, make_event("transfer.created", forged, "evt_t3")).get_json()
    assert receipt["outcome"] == "unknown transfer: nothing changed"


def test_a_transfer_webhook_for_a_sweep_that_died_after_the_call_records_the_payout(
    stripe_client, session, now, gateway, fake_stripe, captured_payment
):
    """The sweep transferred and died before recording it: the event records the payout, and the
    next sweep does not transfer again."""
    from app.accounts.models import User
    from app.payments import escrow, service
    from app.payments.models import Payout

    vendor = session.get(User, captured_payment.vendor_id)
    vendor.vendor_profile.payout_account_id = gateway.create_connected_account(
        user_id=vendor.id, email=vendor.email, idempotency_key="acct-died"
    )
    vendor.vendor_profile.payouts_enabled = True  # fmt: skip
    member = session.get(User, captured_payment.member_id)
    escrow.confirm_delivery(session, pool_id=captured_payment.pool_id, actor=member, terms=jobs.TERMS, now=now)
    [payout_id] = service.open_payouts(session, now=now)
    payout = service.begin_payout(session, payout_id=payout_id, now=now)
    session.commit()
    made = gateway.transfer(destination_account=vendor.vendor_profile.payout_account_id,
                            amount_minor=payout.amount_minor, currency=payout.currency,
                            transfer_group=f"payout-{payout.id}", idempotency_key=payout.idempotency_key)  # fmt: skip
    event = {"id": made.transfer_ref, "object": "transfer", "amount": payout.amount_minor,
             "transfer_group": f"payout-{payout.id}"}  # fmt: skip
    assert post_event(stripe_client, make_event("transfer.created", event, "evt_died")).status_code == 200
    assert jobs.pay_out_pending(session, gateway, now=now + timedelta(minutes=5)) == 0
    session.expire_all()
    assert session.get(Payout, payout.id).status == "paid"
    assert len([o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]) == 1


def test_stripe_reporting_a_complete_account_verifies_and_links_the_vendor(stripe_client, session, now):
    old = factories.vendor(session, now=now, verified=False)
    new = factories.vendor(session, now=now, verified=False)
    old.vendor_profile.payout_account_id, new.vendor_profile.payout_account_id = "acct_old", "acct_new"
    session.commit()
    bank = {"external_accounts": {"data": [{"fingerprint": "fp_same_bank"}]}}
    complete = {"details_submitted": True, "charges_enabled": True, "payouts_enabled": True}
    post_event(stripe_client, make_event("account.updated", {"id": "acct_old", **bank, **complete}, "evt_1"))
    answer = post_event(stripe_client, make_event("account.updated", {"id": "acct_new", **bank}, "evt_2"))
    assert f"linked to {old.id}" in answer.get_json()["outcome"]
    session.expire_all()
    assert old.vendor_profile.verified_at is not None and old.vendor_profile.verified_by is None
    assert new.vendor_profile.verified_at is None and new.vendor_profile.identity_root_id == old.id
