"""The offline gateway: always succeeds, with references derived from the idempotency key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.payments.gateway import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    CardSetup,
    ChargeResult,
    GatewayError,
    InvalidWebhook,
    PaymentGateway,
)
from app.payments.gateways import make_gateway
from app.payments.offline import OfflineGateway

keys = st.text(min_size=1, max_size=MAX_IDEMPOTENCY_KEY_LENGTH)


def charge(gateway: PaymentGateway, key: str, amount: int = 2500) -> ChargeResult:
    """Charge a member 25.00 GBP in pool 42's transfer group."""
    return gateway.charge(
        customer_ref="off_cus_x",
        payment_method_ref=None,
        amount_minor=amount,
        currency="GBP",
        transfer_group="pool-42",
        idempotency_key=key,
        metadata={},
    )


@given(key=keys)
def test_a_charge_succeeds_with_the_same_reference_for_the_same_key(key: str) -> None:
    gateway = OfflineGateway()

    first = charge(gateway, key)

    assert first.status == "succeeded"
    assert charge(gateway, key) == first
    assert charge(OfflineGateway(), key) == first  # another process, after a restart


@given(key=keys, other=keys)
def test_different_keys_give_different_references(key: str, other: str) -> None:
    gateway = OfflineGateway()

    assert (charge(gateway, key).payment_ref == charge(gateway, other).payment_ref) == (key == other)


def test_one_key_used_for_two_operations_gives_two_references() -> None:
    gateway = OfflineGateway()

    payment_ref = charge(gateway, "k").payment_ref
    refund_ref = gateway.refund(payment_ref=str(payment_ref), amount_minor=100, idempotency_key="k").refund_ref

    assert payment_ref != refund_ref


def test_a_card_setup_has_already_succeeded_with_nothing_for_the_browser() -> None:
    setup = OfflineGateway().start_card_setup(customer_ref="off_cus_x", idempotency_key="user-7-card")

    assert setup == CardSetup(setup.setup_ref, client_secret=None, status="succeeded")


def test_customers_and_accounts_get_stable_references() -> None:
    gateway = OfflineGateway()

    customer = gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")
    account = gateway.create_connected_account(user_id=9, email="v@example.org", idempotency_key="vendor-9-account")

    assert customer == gateway.ensure_customer(user_id=7, email="m@example.org", idempotency_key="user-7-customer")
    assert account == gateway.create_connected_account(
        user_id=9, email="v@example.org", idempotency_key="vendor-9-account"
    )
    assert customer != account


def test_refunds_and_transfers_succeed() -> None:
    gateway = OfflineGateway()

    refund = gateway.refund(payment_ref=str(charge(gateway, "c").payment_ref), amount_minor=100, idempotency_key="r")
    transfer = gateway.transfer(
        destination_account="off_acct_v",
        amount_minor=47500,
        currency="GBP",
        transfer_group="pool-42",
        idempotency_key="t",
    )

    assert refund.status == "succeeded"
    assert transfer.transfer_ref.startswith("off_tr_")


def test_onboarding_goes_straight_back_to_the_return_url() -> None:
    link = OfflineGateway().account_onboarding_link(
        account_ref="off_acct_v",
        refresh_url="https://buyswarm.example/again",
        return_url="https://buyswarm.example/done",
    )

    assert link == "https://buyswarm.example/done"


def test_a_retrieved_offline_payment_has_succeeded() -> None:
    gateway = OfflineGateway()
    payment_ref = str(charge(gateway, "pool-42-c-7-charge").payment_ref)

    assert gateway.retrieve_payment(payment_ref) == ChargeResult("succeeded", payment_ref)


def test_retrieving_a_payment_it_never_made_is_an_error() -> None:
    with pytest.raises(GatewayError):
        OfflineGateway().retrieve_payment("pi_from_stripe")


def test_webhooks_are_refused() -> None:
    with pytest.raises(InvalidWebhook):
        OfflineGateway().parse_webhook(b"{}", "t=1,v1=abc")


@pytest.mark.parametrize("amount", [0, -1, True, 2.5])
def test_an_amount_that_is_not_a_positive_integer_is_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="amount_minor"):
        charge(OfflineGateway(), "k", amount=amount)


@pytest.mark.parametrize("key", ["", "k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1)])
def test_an_empty_or_overlong_idempotency_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        charge(OfflineGateway(), key)


def test_make_gateway_builds_the_offline_gateway() -> None:
    assert isinstance(make_gateway("offline", {}), OfflineGateway)


def test_make_gateway_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="PAYMENT_GATEWAY"):
        make_gateway("paypal", {})
