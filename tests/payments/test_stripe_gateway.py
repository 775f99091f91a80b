"""The Stripe gateway, driven through the real `stripe` SDK against a local fake of Stripe."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from app.payments.gateway import ChargeResult, GatewayError, GatewayUnavailable, InvalidWebhook
from app.payments.gateways import make_gateway
from app.payments.stripe_gateway import StripeGateway
from tests.fakes.fake_stripe import TEST_WEBHOOK_SECRET as WEBHOOK_SECRET
from tests.fakes.fake_stripe import FakeStripe, make_event, signed_event

GROUP = "pool-42"


def new_member(gateway: StripeGateway, fake: FakeStripe, user_id: int = 7) -> tuple[str, str]:
    """Create a customer who saved a card; return (customer_ref, payment_method_ref)."""
    customer = gateway.ensure_customer(user_id=user_id, email=f"m{user_id}@example.org", idempotency_key=f"u{user_id}")
    setup = gateway.start_card_setup(customer_ref=customer, idempotency_key=f"u{user_id}-card")
    return customer, fake.complete_setup(setup.setup_ref)


def charge(
    gateway: StripeGateway, customer: str, card: str | None, key: str = "pool-42-c-7-charge", amount: int = 2500
) -> ChargeResult:
    """Charge a member 25.00 GBP in the pool's transfer group."""
    return gateway.charge(
        customer_ref=customer,
        payment_method_ref=card,
        amount_minor=amount,
        currency="GBP",
        transfer_group=GROUP,
        idempotency_key=key,
        metadata={"pool_id": "42", "commitment_id": "7"},
    )


# Customers and cards -------------------------------------------------------------------------


def test_ensure_customer_creates_a_customer_tagged_with_the_user(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")

    assert fake_stripe.objects[customer]["email"] == "m@example.org"
    assert fake_stripe.objects[customer]["metadata"] == {"user_id": "7"}


def test_ensure_customer_with_the_same_key_returns_the_same_customer(gateway: StripeGateway) -> None:
    first = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")
    again = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")

    assert again == first


def test_card_setup_is_an_off_session_setup_intent_for_the_browser(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")

    setup = gateway.start_card_setup(customer_ref=customer, idempotency_key="user-7-card-1")

    assert setup.status == "requires_payment_method"
    assert setup.client_secret
    assert fake_stripe.objects[setup.setup_ref]["usage"] == "off_session"


# Charges -------------------------------------------------------------------------------------


def test_a_charge_on_a_saved_card_succeeds_once(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)

    result = charge(gateway, customer, card)

    assert result == ChargeResult("succeeded", result.payment_ref)
    intent = fake_stripe.objects[str(result.payment_ref)]
    assert (intent["amount"], intent["currency"], intent["transfer_group"]) == (2500, "gbp", GROUP)
    assert intent["metadata"] == {"pool_id": "42", "commitment_id": "7"}
    assert fake_stripe.succeeded_charges(customer, GROUP) == 1


def test_a_charge_without_a_card_uses_the_newest_saved_card(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, _old = new_member(gateway, fake_stripe)
    setup = gateway.start_card_setup(customer_ref=customer, idempotency_key="u7-card-2")
    newest = fake_stripe.complete_setup(setup.setup_ref)

    result = charge(gateway, customer, None)

    assert fake_stripe.objects[str(result.payment_ref)]["payment_method"] == newest


def test_a_member_without_a_saved_card_fails_without_a_payment(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")

    result = charge(gateway, customer, None)

    assert (result.status, result.payment_ref, result.failure_code) == ("failed", None, "payment_method_missing")
    assert fake_stripe.payment_intents(customer, GROUP) == []


@pytest.mark.parametrize("declined_by", ["fault", "customer rule", "card rule", "test card"])
def test_a_declined_card_fails_and_captures_nothing(
    gateway: StripeGateway, fake_stripe: FakeStripe, declined_by: str
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    if declined_by == "fault":
        fake_stripe.fail_next("payment_intents.create", "card_declined")
    elif declined_by == "customer rule":
        fake_stripe.set_card_outcome(customer, "card_declined")
    elif declined_by == "card rule":
        fake_stripe.set_card_outcome(card, "card_declined")
    else:
        card = "pm_card_chargeDeclined"

    result = charge(gateway, customer, card)

    assert (result.status, result.failure_code, result.action_url) == ("failed", "card_declined", None)
    assert result.failure_message == "Your card was declined."
    assert result.payment_ref is not None
    assert fake_stripe.succeeded_charges(customer, GROUP) == 0


def test_a_declined_charge_is_replayed_as_declined_for_the_same_key(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "card_declined")
    first = charge(gateway, customer, card)

    again = charge(gateway, customer, card)  # the card would work now, but Stripe replays the 402

    assert again == first
    assert len(fake_stripe.payment_intents(customer, GROUP)) == 1


def test_authentication_required_asks_the_member_to_pay_on_session(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "authentication_required")

    result = charge(gateway, customer, card)

    assert (result.status, result.failure_code) == ("requires_action", "authentication_required")
    assert result.action_url == f"{fake_stripe.url}/authenticate/{result.payment_ref}"
    assert fake_stripe.succeeded_charges(customer, GROUP) == 0


def test_the_action_url_is_our_payment_page_when_configured(
    make_stripe_gateway: Callable[..., StripeGateway], fake_stripe: FakeStripe
) -> None:
    gateway = make_stripe_gateway(action_url_template="https://buyswarm.example/pay/{payment_ref}")
    customer, _card = new_member(gateway, fake_stripe)

    result = charge(gateway, customer, "pm_card_authenticationRequired")

    assert result.action_url == f"https://buyswarm.example/pay/{result.payment_ref}"


def test_a_payment_authenticated_later_is_retrieved_as_succeeded(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.set_card_outcome(card, "authentication_required")
    pending = charge(gateway, customer, card)
    fake_stripe.complete_authentication(str(pending.payment_ref))

    result = gateway.retrieve_payment(str(pending.payment_ref))

    assert result == ChargeResult("succeeded", pending.payment_ref)
    assert fake_stripe.succeeded_charges(customer, GROUP) == 1


@pytest.mark.parametrize(
    ("stripe_status", "error_code", "expected"),
    [
        ("succeeded", None, "succeeded"),
        ("processing", None, "processing"),
        ("requires_capture", None, "processing"),
        ("requires_action", None, "requires_action"),
        # Real Stripe leaves an off-session payment needing authentication in this state.
        ("requires_payment_method", "authentication_required", "requires_action"),
        ("requires_payment_method", "card_declined", "failed"),
        ("canceled", None, "failed"),
        ("a_status_from_the_future", None, "processing"),
    ],
)
def test_retrieve_payment_maps_stripe_states(
    gateway: StripeGateway, fake_stripe: FakeStripe, stripe_status: str, error_code: str | None, expected: str
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    payment_ref = str(charge(gateway, customer, card).payment_ref)
    error = {"code": error_code, "message": "m"} if error_code else None
    fake_stripe.objects[payment_ref].update(status=stripe_status, last_payment_error=error)

    assert gateway.retrieve_payment(payment_ref).status == expected


def test_retrieving_an_unknown_payment_is_an_error(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError) as raised:
        gateway.retrieve_payment("pi_missing")

    assert raised.value.code == "resource_missing"
    assert not isinstance(raised.value, GatewayUnavailable)


# Idempotency, retries and transient failures -------------------------------------------------


def test_the_same_key_replays_the_same_payment(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)

    first = charge(gateway, customer, card)
    again = charge(gateway, customer, card)

    assert again.payment_ref == first.payment_ref
    assert [r.replayed for r in fake_stripe.requests_for("payment_intents.create")] == [False, True]
    assert fake_stripe.succeeded_charges(customer, GROUP) == 1


def test_reusing_a_key_with_another_amount_is_refused(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    charge(gateway, customer, card, amount=2500)

    with pytest.raises(GatewayError) as raised:
        charge(gateway, customer, card, amount=9900)

    assert raised.value.code == "idempotency_error"
    assert not isinstance(raised.value, GatewayUnavailable)


def test_a_rate_limited_charge_is_retried_by_the_sdk_with_the_same_key(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "rate_limited")

    result = charge(gateway, customer, card)

    assert result.status == "succeeded"
    requests = fake_stripe.requests_for("payment_intents.create")
    assert [(r.status, r.idempotency_key) for r in requests] == [
        (429, "pool-42-c-7-charge"),
        (200, "pool-42-c-7-charge"),
    ]


@pytest.mark.parametrize("kind", ["rate_limited", "server_error"])
def test_a_lasting_transient_failure_raises_gateway_unavailable(
    gateway: StripeGateway, fake_stripe: FakeStripe, kind: str
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", kind, times=3)  # the first try and two retries

    with pytest.raises(GatewayUnavailable):
        charge(gateway, customer, card)

    assert len(fake_stripe.requests_for("payment_intents.create")) == 3
    assert fake_stripe.payment_intents(customer, GROUP) == []
    assert charge(gateway, customer, card).status == "succeeded"  # later, with the same key


def test_a_server_error_is_retried_by_the_sdk(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "server_error")

    assert charge(gateway, customer, card).status == "succeeded"
    assert [r.status for r in fake_stripe.requests_for("payment_intents.create")] == [500, 200]


def test_a_saved_server_error_is_replayed_for_the_same_key(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "server_error_replayed")

    for _attempt in range(2):
        with pytest.raises(GatewayUnavailable):
            charge(gateway, customer, card)

    # Stripe-Should-Retry: false stopped the SDK's retries; the second call got the saved 500.
    assert [r.replayed for r in fake_stripe.requests_for("payment_intents.create")] == [False, True]


def test_a_connection_dropped_after_the_charge_is_retried_and_charges_once(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "drop_after_commit")

    result = charge(gateway, customer, card)

    assert result.status == "succeeded"
    requests = fake_stripe.requests_for("payment_intents.create")
    assert [(r.status, r.replayed) for r in requests] == [(None, False), (200, True)]
    assert fake_stripe.succeeded_charges(customer, GROUP) == 1
    assert len(fake_stripe.payment_intents(customer, GROUP)) == 1


def test_without_retries_a_dropped_charge_is_unavailable_and_the_same_key_finds_it_later(
    make_stripe_gateway: Callable[..., StripeGateway], fake_stripe: FakeStripe
) -> None:
    gateway = make_stripe_gateway(max_network_retries=0)
    customer, card = new_member(gateway, fake_stripe)
    fake_stripe.fail_next("payment_intents.create", "drop_after_commit")
    with pytest.raises(GatewayUnavailable):
        charge(gateway, customer, card)

    result = charge(gateway, customer, card)

    [intent] = fake_stripe.payment_intents(customer, GROUP)
    assert result == ChargeResult("succeeded", intent["id"])
    assert fake_stripe.succeeded_charges(customer, GROUP) == 1


def test_an_unreachable_stripe_is_unavailable(
    make_stripe_gateway: Callable[..., StripeGateway], fake_stripe: FakeStripe
) -> None:
    url = fake_stripe.url
    fake_stripe.stop()  # nothing listens on the port any more
    gateway = make_stripe_gateway(base_url=url)

    with pytest.raises(GatewayUnavailable):
        gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")


def test_a_wrong_api_key_is_an_error_not_an_outage(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway("sk_test_wrong", WEBHOOK_SECRET, base_url=fake_stripe.url, timeout=5)

    with pytest.raises(GatewayError) as raised:
        gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")

    assert not isinstance(raised.value, GatewayUnavailable)


# Refunds, transfers, connected accounts ------------------------------------------------------


def test_a_partial_refund_succeeds(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    payment_ref = str(charge(gateway, customer, card).payment_ref)

    refund = gateway.refund(payment_ref=payment_ref, amount_minor=1000, idempotency_key="pool-42-c-7-refund")

    assert refund.status == "succeeded"
    assert fake_stripe.objects[refund.refund_ref]["amount"] == 1000
    assert fake_stripe.objects[payment_ref]["amount_refunded"] == 1000


def test_a_refund_with_the_same_key_refunds_once(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    payment_ref = str(charge(gateway, customer, card).payment_ref)

    first = gateway.refund(payment_ref=payment_ref, amount_minor=1000, idempotency_key="pool-42-c-7-refund")
    again = gateway.refund(payment_ref=payment_ref, amount_minor=1000, idempotency_key="pool-42-c-7-refund")

    assert again == first
    assert fake_stripe.objects[payment_ref]["amount_refunded"] == 1000


def test_refunding_more_than_was_charged_is_refused(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    customer, card = new_member(gateway, fake_stripe)
    payment_ref = str(charge(gateway, customer, card).payment_ref)

    with pytest.raises(GatewayError) as raised:
        gateway.refund(payment_ref=payment_ref, amount_minor=2501, idempotency_key="pool-42-c-7-refund")

    assert raised.value.code == "amount_too_large"


def test_an_express_account_is_created_for_transfers(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    account = gateway.create_connected_account(user_id=9, email="v@example.org", idempotency_key="vendor-9-account")

    stored = fake_stripe.objects[account]
    assert (stored["type"], stored["email"], stored["metadata"]) == ("express", "v@example.org", {"user_id": "9"})
    assert "transfers" in stored["capabilities"]


def test_each_onboarding_link_is_fresh(gateway: StripeGateway, fake_stripe: FakeStripe) -> None:
    account = gateway.create_connected_account(user_id=9, email="v@example.org", idempotency_key="vendor-9-account")
    urls = {"refresh_url": "https://buyswarm.example/onboard", "return_url": "https://buyswarm.example/done"}

    first = gateway.account_onboarding_link(account_ref=account, **urls)
    second = gateway.account_onboarding_link(account_ref=account, **urls)

    assert first.startswith(f"{fake_stripe.url}/connect/onboarding/{account}/")
    assert second != first


def test_a_transfer_pays_the_connected_account_in_the_pools_group(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    account = gateway.create_connected_account(user_id=9, email="v@example.org", idempotency_key="vendor-9-account")

    result = gateway.transfer(
        destination_account=account,
        amount_minor=47500,
        currency="GBP",
        transfer_group=GROUP,
        idempotency_key="pool-42-payout",
    )

    stored = fake_stripe.objects[result.transfer_ref]
    assert (stored["destination"], stored["amount"], stored["currency"], stored["transfer_group"]) == (
        account,
        47500,
        "gbp",
        GROUP,
    )


def test_a_transfer_to_an_unknown_account_is_refused(gateway: StripeGateway) -> None:
    with pytest.raises(GatewayError) as raised:
        gateway.transfer(
            destination_account="acct_missing",
            amount_minor=100,
            currency="GBP",
            transfer_group=GROUP,
            idempotency_key="k",
        )

    assert raised.value.code == "resource_missing"


# Webhooks ------------------------------------------------------------------------------------

PAYMENT = {"id": "pi_123", "object": "payment_intent", "status": "succeeded"}


def test_a_signed_webhook_is_parsed(gateway: StripeGateway) -> None:
    payload, header = signed_event(make_event("payment_intent.succeeded", PAYMENT, "evt_1"), WEBHOOK_SECRET)

    event = gateway.parse_webhook(payload, header)

    assert (event.id, event.type, event.object_id, event.object) == (
        "evt_1",
        "payment_intent.succeeded",
        "pi_123",
        PAYMENT,
    )


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda payload, header: signed_event(json.loads(payload), "whsec_other"), id="other secret"),
        pytest.param(lambda payload, header: (payload.replace(b"pi_123", b"pi_999"), header), id="tampered body"),
        pytest.param(lambda payload, header: (payload, None), id="no signature"),
        pytest.param(lambda payload, header: (payload, "t=oops"), id="garbled signature"),
    ],
)
def test_a_webhook_that_fails_verification_is_refused(
    gateway: StripeGateway, forge: Callable[[bytes, str], tuple[bytes, str | None]]
) -> None:
    payload, header = forge(*signed_event(make_event("payment_intent.succeeded", PAYMENT), WEBHOOK_SECRET))

    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(payload, header)


def test_a_webhook_signed_too_long_ago_is_refused(gateway: StripeGateway) -> None:
    an_hour_ago = int(time.time()) - 3600
    payload, header = signed_event(make_event("payment_intent.succeeded", PAYMENT), WEBHOOK_SECRET, an_hour_ago)

    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(payload, header)


def test_a_signed_body_that_is_not_an_event_is_refused(gateway: StripeGateway) -> None:
    payload, header = signed_event({"hello": "world"}, WEBHOOK_SECRET)

    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(payload, header)


# Configuration -------------------------------------------------------------------------------


def test_make_gateway_builds_stripe_pointed_at_the_configured_base(fake_stripe: FakeStripe) -> None:
    settings = {
        "STRIPE_API_KEY": fake_stripe.api_key,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
    }

    gateway = make_gateway("stripe", settings)

    assert gateway.name == "stripe"
    assert gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="k").startswith("cus_")


def test_make_gateway_refuses_stripe_without_an_api_key() -> None:
    with pytest.raises(ValueError, match="STRIPE_API_KEY"):
        make_gateway("stripe", {"STRIPE_API_KEY": "", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET})
