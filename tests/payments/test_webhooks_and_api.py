"""Stripe webhooks (signed like Stripe signs them) and the settlement API: delivery, disputes, ledger, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from app.payments import jobs
from app.payments.models import Payment, PaymentStatus, WebhookReceipt
from app.pools import settlement
from app.pools.models import PoolStatus
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


def test_delivery_on_a_pool_that_is_not_settled_is_409(client, session, now):
    pool, _ = awarded_pool(session, now)
    response = client.post(
        f"/api/v1/pools/{pool.id}/delivery", headers=factories.token(session, pool.organiser, now=now)
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "invalid_transition"


def test_confirming_delivery_over_the_api_completes_the_pool(client, session, now):
    from app.payments.offline import OfflineGateway

    pool, _ = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    auth = factories.token(session, pool.organiser, now=now)
    assert client.post(f"/api/v1/pools/{pool.id}/delivery", headers=auth).get_json()["status"] == "completed"
    ledger_body = client.get(f"/api/v1/pools/{pool.id}/ledger", headers=auth).get_json()
    assert ledger_body["total"] == 0 and ledger_body["balances"]["escrow"] == 0
    actions = [e["action"] for e in client.get(f"/api/v1/pools/{pool.id}/audit", headers=auth).get_json()]
    assert actions[:2] == ["pool.create", "pool.publish"] and actions[-2:] == ["pool.deliver", "pool.complete"]


def test_the_ledger_and_audit_trail_are_for_the_organiser_only(client, session, now):
    pool, made = awarded_pool(session, now)
    member = factories.token(session, made[0].member, now=now)
    assert client.get(f"/api/v1/pools/{pool.id}/ledger", headers=member).status_code == 404
    assert client.get(f"/api/v1/pools/{pool.id}/audit", headers=member).status_code == 404


def test_a_stranger_cannot_confirm_delivery_or_dispute(client, session, now):
    from app.payments.offline import OfflineGateway

    pool, _ = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    stranger = factories.token(session, factories.user(session, now=now), now=now)
    assert client.post(f"/api/v1/pools/{pool.id}/delivery", headers=stranger).status_code == 404
    response = client.post(f"/api/v1/pools/{pool.id}/dispute", json={"reason": "never came"}, headers=stranger)
    assert response.status_code == 404


def test_a_dispute_needs_a_reason(client, session, now):
    pool, made = awarded_pool(session, now)
    response = client.post(
        f"/api/v1/pools/{pool.id}/dispute",
        json={"reason": ""},
        headers=factories.token(session, made[0].member, now=now),
    )
    assert response.status_code == 422 and "reason" in response.get_json()["errors"]


def test_dispute_and_release_over_the_api(client, session, now):
    from app.payments.offline import OfflineGateway

    pool, made = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    member = factories.token(session, made[0].member, now=now)
    organiser = factories.token(session, pool.organiser, now=now)
    disputed = client.post(f"/api/v1/pools/{pool.id}/dispute", json={"reason": "Late by a month"}, headers=member)
    assert disputed.get_json()["status"] == PoolStatus.DISPUTED
    resolved = client.post(
        f"/api/v1/pools/{pool.id}/dispute/resolve", json={"resolution": "release"}, headers=organiser
    )
    assert resolved.get_json()["status"] == PoolStatus.COMPLETED


def test_members_cannot_resolve_disputes(client, session, now):
    from app.payments.offline import OfflineGateway

    pool, made = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    settlement.open_dispute(session, pool_id=pool.id, actor=made[0].member, reason="Broken", now=now)
    session.commit()
    response = client.post(
        f"/api/v1/pools/{pool.id}/dispute/resolve",
        json={"resolution": "refund"},
        headers=factories.token(session, made[0].member, now=now),
    )
    assert response.status_code == 404


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
    settlement.confirm_delivery(session, pool_id=pool.id, actor=pool.organiser, fee_bps=500, now=now)
    session.commit()
    assert jobs.pay_out(session, gateway, pool_id=pool.id, now=now) == 0
    assert session.scalar(select(Payout)).status == PayoutStatus.PENDING
    vendor.vendor_profile.payouts_enabled = True  # what account.updated records
    session.commit()
    assert jobs.pay_out(session, gateway, pool_id=pool.id, now=now + timedelta(minutes=10)) == 1
