"""The offline gateway: the embedded default, for clubs that settle by bank transfer.

No money moves here: the caller's ledger records what members owe and what vendors are paid.
References are derived from the idempotency key, so a re-run with the same key returns the same
reference, as a real provider's idempotency would.
"""

from __future__ import annotations

import hashlib

from app.payments.gateway import (
    CardSetup,
    ChargeResult,
    GatewayError,
    InvalidWebhook,
    PaymentGateway,
    RefundResult,
    TransferResult,
    WebhookEvent,
    check_amount,
    check_idempotency_key,
)

PAYMENT_PREFIX = "off_pi_"


def _ref(prefix: str, idempotency_key: str) -> str:
    """Derive a stable reference; the prefix keeps one key used for two operations apart."""
    check_idempotency_key(idempotency_key)
    digest = hashlib.sha256(f"{prefix}\0{idempotency_key}".encode()).hexdigest()[:24]
    return f"{prefix}{digest}"


class OfflineGateway(PaymentGateway):
    """A gateway that always succeeds and leaves the money to the ledger."""

    name = "offline"
    in_database = True
    stores_cards = False

    def ensure_customer(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Return a customer reference for the user."""
        return _ref("off_cus_", idempotency_key)

    def start_card_setup(self, *, customer_ref: str, idempotency_key: str) -> CardSetup:
        """Return a setup that has already succeeded: there is no card to collect."""
        return CardSetup(_ref("off_seti_", idempotency_key), client_secret=None, status="succeeded")

    def charge(
        self,
        *,
        customer_ref: str,
        payment_method_ref: str | None,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Record nothing and succeed: the member pays by bank transfer, tracked in the ledger."""
        check_amount(amount_minor)
        return ChargeResult("succeeded", _ref(PAYMENT_PREFIX, idempotency_key))

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Succeed: the club pays the member back outside the platform."""
        check_amount(amount_minor)
        return RefundResult(_ref("off_re_", idempotency_key), "succeeded")

    def transfer(
        self,
        *,
        destination_account: str,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> TransferResult:
        """Succeed: the club pays the vendor outside the platform."""
        check_amount(amount_minor)
        return TransferResult(_ref("off_tr_", idempotency_key))

    def create_connected_account(self, *, user_id: int, email: str, idempotency_key: str) -> str:
        """Return an account reference for the vendor."""
        return _ref("off_acct_", idempotency_key)

    def account_onboarding_link(self, *, account_ref: str, refresh_url: str, return_url: str) -> str:
        """Return the return URL: there is nothing to onboard offline."""
        return return_url

    def default_payment_method(self, customer_ref: str) -> str | None:
        """Offline payments need no card."""
        return None

    def retrieve_payment(self, payment_ref: str) -> ChargeResult:
        """Report an offline payment as succeeded, as `charge` did."""
        if not payment_ref.startswith(PAYMENT_PREFIX):
            raise GatewayError(f"not an offline payment: {payment_ref!r}", code="resource_missing")
        return ChargeResult("succeeded", payment_ref)

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Refuse every webhook: nothing calls back into an offline gateway."""
        raise InvalidWebhook("the offline gateway receives no webhooks", code="unsupported")
